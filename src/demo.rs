//! `ordersync serve --demo`: a demo restaurant with a realistic Korean menu and its owner,
//! created once (later starts find them and print the same login).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::accounts::{self, NewAccount};
use crate::api::menu::store_menu;
use crate::app::AppState;
use crate::domain::ids::RestaurantId;
use crate::domain::menu::MenuDocument;
use crate::domain::user::Email;
use crate::secrets;

pub const DEMO_OWNER_EMAIL: &str = "owner@demo.ordersync.kr";
const DEMO_RESTAURANT: &str = "맛있는 치킨집";

pub struct Demo {
    pub restaurant_id: RestaurantId,
    pub email: &'static str,
    pub password: Option<String>,
}

pub async fn ensure(state: &AppState) -> anyhow::Result<Demo> {
    let password_file = state.config.data_dir.join("demo-owner.password");
    let email = Email::parse(DEMO_OWNER_EMAIL).expect("valid demo email");
    if let Some(existing) = state.store.user_credentials(&email).await? {
        let restaurant_id = existing
            .user
            .restaurant_id
            .context("the demo owner has no restaurant")?;
        // A start that stopped between creating the owner and the menu left it empty.
        let menu = state.store.menu(restaurant_id).await?;
        if menu.is_some_and(|(_, categories)| categories.is_empty()) {
            store_demo_menu(state, restaurant_id).await?;
        }
        return Ok(Demo {
            restaurant_id,
            email: DEMO_OWNER_EMAIL,
            password: std::fs::read_to_string(&password_file)
                .ok()
                .map(|p| p.trim().to_owned()),
        });
    }
    let password = format!("demo-{}", URL_SAFE_NO_PAD.encode(secrets::random_bytes(9)));
    let account = NewAccount {
        email: DEMO_OWNER_EMAIL,
        password: &password,
        name: "데모 사장님",
    };
    let (_, restaurant_id) =
        accounts::create_owner(&*state.store, &state.passwords, account, DEMO_RESTAURANT)
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo owner: {e}"))?;
    secrets::write_private(&password_file, password.as_bytes())?;
    store_demo_menu(state, restaurant_id).await?;
    tracing::info!(%restaurant_id, "created the demo restaurant");
    Ok(Demo {
        restaurant_id,
        email: DEMO_OWNER_EMAIL,
        password: Some(password),
    })
}

async fn store_demo_menu(state: &AppState, restaurant_id: RestaurantId) -> anyhow::Result<()> {
    let menu: MenuDocument = serde_json::from_value(demo_menu()).expect("the demo menu parses");
    store_menu(&*state.store, restaurant_id, menu)
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo menu: {e}"))?;
    Ok(())
}

fn demo_menu() -> serde_json::Value {
    let part = json!({"name": "부위", "choices": ["한마리", "순살"], "required": true,
                      "price_deltas": {"순살": 2000}});
    let spice =
        json!({"name": "맵기", "choices": ["순한맛", "보통맛", "매운맛"], "required": true});
    json!({"categories": [
        {"name": "인기 메뉴", "items": [
            {"name": "후라이드 치킨", "price": 18000, "description": "바삭한 후라이드",
             "options": [part, {"name": "소스 추가", "choices": ["양념소스", "허니머스타드", "치즈시즈닝"],
                                "multiple": true,
                                "price_deltas": {"양념소스": 500, "허니머스타드": 500, "치즈시즈닝": 1000}}]},
            {"name": "양념 치킨", "price": 19000, "description": "달콤매콤한 양념을 듬뿍",
             "options": [part, spice]},
            {"name": "반반 치킨", "price": 19500, "description": "후라이드 반, 양념 반",
             "options": [part]}
        ]},
        {"name": "치킨", "items": [
            {"name": "간장 치킨", "price": 19000, "description": "짭조름한 간장 마늘 소스", "options": [part]},
            {"name": "파닭", "price": 20000, "description": "채 썬 파와 새콤한 소스", "options": [part]},
            {"name": "마늘 치킨", "price": 20000, "description": "통마늘을 올린 크리스피 치킨", "options": [part]},
            {"name": "스노윙 치즈 치킨", "price": 21000, "description": "치즈 가루를 눈처럼",
             "is_available": false, "options": [part]}
        ]},
        {"name": "사이드", "items": [
            {"name": "감자튀김", "price": 4000, "description": "겉바속촉 웨지감자",
             "options": [{"name": "사이즈", "choices": ["보통", "큰 사이즈"], "required": true,
                          "price_deltas": {"큰 사이즈": 1500}}]},
            {"name": "치즈볼", "price": 5000, "description": "쫀득한 모짜렐라 치즈볼",
             "options": [{"name": "개수", "choices": ["5개", "10개"], "required": true,
                          "price_deltas": {"10개": 4500}}]},
            {"name": "떡볶이", "price": 6000, "description": "국물 떡볶이", "options": [spice]},
            {"name": "콘샐러드", "price": 2500, "description": "치킨과 찰떡궁합"}
        ]},
        {"name": "음료 · 주류", "items": [
            {"name": "콜라", "price": 2000,
             "options": [{"name": "사이즈", "choices": ["355ml", "1.25L"], "required": true,
                          "price_deltas": {"1.25L": 1500}}]},
            {"name": "사이다", "price": 2000},
            {"name": "생맥주 500cc", "price": 4500, "description": "시원한 생맥주"},
            {"name": "소주", "price": 5000}
        ]}
    ]})
}
