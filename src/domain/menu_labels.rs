//! What a menu says beyond names and prices: allergens (the list Korea's 식품 등의 표시기준
//! requires labelled), the origin of ingredients (원산지), and translations of names and
//! descriptions for guests who read English, Chinese or Japanese — with Korean as the fallback.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{Checked, FieldError};
use super::menu::Category;

/// The allergens the 식품 등의 표시기준 (식품의약품안전처 고시) requires labelled: 19 entries,
/// 조개류 covering 굴·전복·홍합 (counted as 22 where those are listed apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Allergen {
    /// 알류 (가금류만)
    Egg,
    Milk,
    Buckwheat,
    Peanut,
    Soybean,
    Wheat,
    Mackerel,
    Crab,
    Shrimp,
    Pork,
    Peach,
    Tomato,
    /// 아황산류 (이산화황 10 mg/kg 이상)
    Sulfites,
    Walnut,
    Chicken,
    Beef,
    Squid,
    /// 조개류 (굴, 전복, 홍합 포함)
    Shellfish,
    PineNut,
}

/// Languages a menu can be translated into; Korean is the menu's own language.
pub const LANGUAGES: [&str; 3] = ["en", "zh", "ja"];

/// A name (and description) in another language; for an option, also its choices.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Options only: each choice as written in Korean → its translation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choices: BTreeMap<String, String>,
}

/// Translations by language code (`en`, `zh`, `ja`).
pub type Translations = BTreeMap<String, Translation>;

/// An item's allergens, origin and translations as the stores keep them: one JSON column.
#[derive(Default, Serialize, Deserialize)]
pub struct ItemLabels {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allergens: Vec<Allergen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
}

impl ItemLabels {
    pub fn of(item: &super::menu::MenuItem) -> ItemLabels {
        ItemLabels {
            allergens: item.allergens.clone(),
            origin: item.origin.clone(),
            translations: item.translations.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("labels serialize")
    }
}

/// What a translation may hold where it is used.
pub struct TranslationRules<'a> {
    pub name_max: usize,
    pub description: bool,
    /// The option's choices, for an option; `None` elsewhere.
    pub choices: Option<&'a [String]>,
}

fn translated_text(field: &str, value: &str, max: usize) -> Checked<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Checks translations; empty ones are dropped (the Korean text shows instead).
pub fn check_translations(
    field: &str,
    translations: Translations,
    rules: &TranslationRules<'_>,
) -> Checked<Translations> {
    let mut checked = Translations::new();
    for (lang, translation) in translations {
        let lang_field = format!("{field}.translations.{lang}");
        if !LANGUAGES.contains(&lang.as_str()) {
            return Err(FieldError::new(
                lang_field,
                format!("translations are for {}", LANGUAGES.join(", ")),
            ));
        }
        let name = match &translation.name {
            Some(name) => translated_text(&format!("{lang_field}.name"), name, rules.name_max)?,
            None => None,
        };
        let description = match (&translation.description, rules.description) {
            (Some(text), true) => translated_text(&format!("{lang_field}.description"), text, 500)?,
            (Some(_), false) => {
                return Err(FieldError::new(
                    format!("{lang_field}.description"),
                    "only items have descriptions",
                ));
            }
            (None, _) => None,
        };
        let mut choices = BTreeMap::new();
        for (choice, text) in translation.choices {
            let choice_field = format!("{lang_field}.choices.{choice}");
            if !rules.choices.is_some_and(|c| c.contains(&choice)) {
                return Err(FieldError::new(
                    choice_field,
                    "only an option's own choices can be translated",
                ));
            }
            if let Some(text) = translated_text(&choice_field, &text, 50)? {
                choices.insert(choice, text);
            }
        }
        let translation = Translation {
            name,
            description,
            choices,
        };
        if translation != Translation::default() {
            checked.insert(lang, translation);
        }
    }
    Ok(checked)
}

/// 원산지: free text such as "닭고기: 국내산, 감자: 미국산".
pub fn check_origin(field: &str, origin: Option<&str>) -> Checked<Option<String>> {
    match origin {
        Some(text) => translated_text(field, text, 200),
        None => Ok(None),
    }
}

/// The language a guest asked for: `lang` if given, else the first of `Accept-Language` this
/// menu speaks; `None` means Korean.
pub fn pick_language(lang: Option<&str>, accept_language: Option<&str>) -> Option<&'static str> {
    let known = |tag: &str| {
        let primary = tag.split(['-', '_']).next().unwrap_or("").trim();
        let primary = primary.to_ascii_lowercase();
        if primary == "ko" {
            return Some(None);
        }
        LANGUAGES.iter().find(|l| **l == primary).map(|l| Some(*l))
    };
    if let Some(lang) = lang {
        return known(lang).flatten();
    }
    let header = accept_language?;
    let mut tags: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            Some((quality, tag))
        })
        .filter(|(q, _)| *q > 0.0)
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0));
    tags.into_iter().find_map(|(_, tag)| known(tag)).flatten()
}

/// The menu as a guest reading `lang` sees it: names, descriptions and option names in that
/// language where translated (Korean where not), each option's choices labelled in
/// `choice_labels` (orders still name the Korean choice), and no translations.
pub fn localize(categories: &[Category], lang: &str) -> Vec<Category> {
    let pick = |translations: &Translations| translations.get(lang).cloned().unwrap_or_default();
    categories
        .iter()
        .map(|category| {
            let t = pick(&category.translations);
            let mut category = category.clone();
            if let Some(name) = t.name {
                category.name = name;
            }
            category.translations.clear();
            for item in &mut category.items {
                let t = pick(&item.translations);
                if let Some(name) = t.name {
                    item.name = name;
                }
                if let Some(description) = t.description {
                    item.description = description;
                }
                item.translations.clear();
                for option in &mut item.options {
                    let t = pick(&option.translations);
                    if let Some(name) = t.name {
                        option.name = name;
                    }
                    if !t.choices.is_empty() {
                        option.choice_labels = option
                            .choices
                            .iter()
                            .map(|c| t.choices.get(c).unwrap_or(c).clone())
                            .collect();
                    }
                    option.translations.clear();
                }
            }
            category
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_lang_then_accept_language() {
        assert_eq!(pick_language(Some("en"), Some("ja")), Some("en"));
        assert_eq!(pick_language(Some("ko"), Some("en")), None);
        assert_eq!(pick_language(Some("fr"), Some("en")), None);
        assert_eq!(
            pick_language(None, Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Some("zh")
        );
        assert_eq!(
            pick_language(None, Some("fr-FR,ja;q=0.5,en;q=0.7")),
            Some("en")
        );
        assert_eq!(pick_language(None, Some("ko-KR,ko;q=0.9,en;q=0.8")), None);
        assert_eq!(pick_language(None, Some("de")), None);
        assert_eq!(pick_language(None, None), None);
    }
}
