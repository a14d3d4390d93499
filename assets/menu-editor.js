// OrderSync — the owner's menu editor (the 메뉴 tab): categories, items and options edited as
// a draft of the menu document and saved in one PUT, so guests never see half an edit. The
// server's complaint (`details.field`, e.g. categories[1].items[0].price) is shown next to that
// field. Leaving with unsaved changes asks first. Sold out stays one tap, saved at once.
'use strict';

const MenuEditor = (() => {
  const { t, el, won, errorText, toast } = OS;
  const LANGS = ['en', 'zh', 'ja'];
  const ALLERGENS = ['EGG', 'MILK', 'BUCKWHEAT', 'PEANUT', 'SOYBEAN', 'WHEAT', 'MACKEREL', 'CRAB', 'SHRIMP', 'PORK',
    'PEACH', 'TOMATO', 'SULFITES', 'WALNUT', 'CHICKEN', 'BEEF', 'SQUID', 'SHELLFISH', 'PINE_NUT'];
  const LANG_NAMES = { en: 'English', zh: '中文', ja: '日本語' };

  let model = null;
  let dirty = false;
  let box = null;
  let call = null;
  let upload = null;
  window.addEventListener('beforeunload', (e) => { if (dirty) { e.preventDefault(); e.returnValue = ''; } });

  const tr = (translations, key) => Object.fromEntries(LANGS.map((l) => [l, ((translations || {})[l] || {})[key] || '']));
  function fromDocument(doc) {
    return doc.categories.map((c) => ({
      id: c.id, name: c.name, tr: tr(c.translations, 'name'),
      items: c.items.map((i) => ({
        id: i.id, name: i.name, price: i.price, description: i.description || '', image_url: i.image_url || '',
        is_available: i.is_available, allergens: [...(i.allergens || [])], origin: i.origin || '',
        tr: tr(i.translations, 'name'), trDesc: tr(i.translations, 'description'), open: false,
        options: i.options.map((o) => ({
          id: o.id, name: o.name, required: o.required, multiple: !!o.multiple, tr: tr(o.translations, 'name'),
          choices: o.choices.map((choice) => ({
            text: choice, delta: (o.price_deltas || {})[choice] || 0,
            tr: Object.fromEntries(LANGS.map((l) => [l, (((o.translations || {})[l] || {}).choices || {})[choice] || ''])),
          })),
        })),
      })),
    }));
  }
  // Only what was written: an empty translation is no translation.
  function translations(names, descriptions, choices) {
    const out = {};
    for (const l of LANGS) {
      const entry = {};
      if (names && names[l].trim()) entry.name = names[l].trim();
      if (descriptions && descriptions[l].trim()) entry.description = descriptions[l].trim();
      if (choices) {
        const map = {};
        for (const c of choices) if (c.tr[l].trim()) map[c.text.trim()] = c.tr[l].trim();
        if (Object.keys(map).length) entry.choices = map;
      }
      if (Object.keys(entry).length) out[l] = entry;
    }
    return out;
  }
  function toDocument() {
    return {
      categories: model.map((c) => ({
        ...(c.id ? { id: c.id } : {}), name: c.name, translations: translations(c.tr),
        items: c.items.map((i) => ({
          ...(i.id ? { id: i.id } : {}), name: i.name, price: Number(i.price), description: i.description,
          image_url: i.image_url.trim() || null, is_available: i.is_available, allergens: i.allergens,
          origin: i.origin.trim() || null, translations: translations(i.tr, i.trDesc),
          options: i.options.map((o) => ({
            ...(o.id ? { id: o.id } : {}), name: o.name, required: o.required, multiple: o.multiple,
            choices: o.choices.map((c) => c.text),
            price_deltas: Object.fromEntries(o.choices.filter((c) => Number(c.delta) > 0).map((c) => [c.text.trim(), Number(c.delta)])),
            translations: translations(o.tr, null, o.choices),
          })),
        })),
      })),
    };
  }

  function touch() {
    dirty = true;
    box.querySelector('#menu-save').disabled = false;
    box.querySelector('#menu-dirty').classList.remove('hidden');
  }
  function input(attrs, get, set) {
    const node = el(attrs.tag || 'input', { type: 'text', ...attrs, tag: null });
    node.value = get();
    node.addEventListener('input', () => { set(node.type === 'number' ? node.value : node.value); touch(); });
    return node;
  }
  function field(path, label, control, hint) {
    return el('div', { class: 'efield', 'data-field': path }, el('label', {}, label, control), hint ? el('small', { class: 'muted' }, hint) : null);
  }
  const move = (list, i, by) => { const j = i + by; if (j < 0 || j >= list.length) return; [list[i], list[j]] = [list[j], list[i]]; touch(); render(); };
  const small = (label, onclick, extra = {}) => el('button', { type: 'button', class: 'small', onclick, ...extra }, label);

  function translationBlock(path, names, descriptions) {
    return el('details', { class: 'etr' }, el('summary', {}, `🌐 ${t('translations')}`),
      LANGS.map((l) => el('div', { class: 'erow' },
        field(`${path}.translations.${l}.name`, `${LANG_NAMES[l]} · ${t('editName')}`, input({ maxlength: '100', 'data-lang': l }, () => names[l], (v) => { names[l] = v; })),
        descriptions ? field(`${path}.translations.${l}.description`, `${LANG_NAMES[l]} · ${t('editDescription')}`, input({ maxlength: '500' }, () => descriptions[l], (v) => { descriptions[l] = v; })) : null)));
  }

  function optionEditor(item, o, path, oi) {
    return el('div', { class: 'eoption', 'data-field': `${path}` },
      el('div', { class: 'erow' },
        field(`${path}.name`, t('optionName'), input({ maxlength: '50', placeholder: '맛' }, () => o.name, (v) => { o.name = v; })),
        el('label', { class: 'choice' }, el('input', { type: 'checkbox', checked: o.required, onchange: (e) => { o.required = e.target.checked; touch(); } }), t('required')),
        el('label', { class: 'choice' }, el('input', { type: 'checkbox', checked: o.multiple, onchange: (e) => { o.multiple = e.target.checked; touch(); } }), t('multiple')),
        small('↑', () => move(item.options, oi, -1)), small('↓', () => move(item.options, oi, 1)),
        small(t('remove'), () => { item.options.splice(oi, 1); touch(); render(); }, { class: 'small danger' })),
      el('div', { 'data-field': `${path}.choices` }, o.choices.map((c, ci) => el('div', { class: 'erow' },
        field(`${path}.choices[${ci}]`, `${t('choice')} ${ci + 1}`, input({ maxlength: '50' }, () => c.text, (v) => { c.text = v; })),
        field(`${path}.price_deltas.${c.text.trim()}`, t('extraPrice'), input({ type: 'number', min: '0', step: '100', inputmode: 'numeric' }, () => String(c.delta || 0), (v) => { c.delta = v; })),
        small('×', () => { o.choices.splice(ci, 1); touch(); render(); }, { 'aria-label': t('remove') })))),
      small(`+ ${t('addChoice')}`, () => { o.choices.push({ text: '', delta: 0, tr: { en: '', zh: '', ja: '' } }); touch(); render(); }),
      el('details', { class: 'etr' }, el('summary', {}, `🌐 ${t('translations')}`), LANGS.map((l) => el('div', { class: 'erow' },
        field(`${path}.translations.${l}.name`, `${LANG_NAMES[l]} · ${t('optionName')}`, input({ maxlength: '50' }, () => o.tr[l], (v) => { o.tr[l] = v; })),
        o.choices.map((c) => field(`${path}.translations.${l}.choices.${c.text.trim()}`, `${LANG_NAMES[l]} · ${c.text || '…'}`,
          input({ maxlength: '50' }, () => c.tr[l], (v) => { c.tr[l] = v; })))))));
  }

  function itemEditor(c, ci, item, ii) {
    const path = `categories[${ci}].items[${ii}]`;
    const head = el('div', { class: 'eitem-head' },
      el('button', { type: 'button', class: 'eitem-name ghost', 'data-edit-item': item.id || `new-${ci}-${ii}`, onclick: () => { item.open = !item.open; render(); } },
        `${item.open ? '▾' : '▸'} ${item.name || t('newItem')}`, el('span', { class: 'muted' }, ` ${won(Number(item.price) || 0)}`),
        item.allergens.length ? el('span', { class: 'pill warn' }, `⚠ ${item.allergens.length}`) : null),
      el('button', { type: 'button', class: `small ${item.is_available ? 'danger' : 'primary'}`, 'data-soldout': item.id || '', onclick: () => toggleSoldOut(item) },
        item.is_available ? t('markSoldOut') : t('markOnSale')),
      small('↑', () => move(c.items, ii, -1)), small('↓', () => move(c.items, ii, 1)));
    if (!item.open) return el('div', { class: `eitem ${item.is_available ? '' : 'soldout'}`, 'data-field': path }, head);
    const categorySelect = el('select', { onchange: (e) => {
      const to = Number(e.target.value);
      c.items.splice(ii, 1);
      model[to].items.push(item);
      touch(); render();
    } }, model.map((cat, k) => el('option', { value: k, selected: k === ci }, cat.name || t('newCategory'))));
    return el('div', { class: 'eitem open', 'data-field': path }, head,
      el('div', { class: 'erow' },
        field(`${path}.name`, t('editName'), input({ maxlength: '100', placeholder: '후라이드 치킨', 'data-input': 'item-name' }, () => item.name, (v) => { item.name = v; })),
        field(`${path}.price`, t('editPrice'), input({ type: 'number', min: '0', step: '100', inputmode: 'numeric', 'data-input': 'item-price' }, () => String(item.price), (v) => { item.price = v; })),
        field(`${path}.category`, t('editCategory'), categorySelect)),
      field(`${path}.description`, t('editDescription'), input({ tag: 'textarea', maxlength: '500', rows: '2' }, () => item.description, (v) => { item.description = v; })),
      el('div', { class: 'ephoto', 'data-field': `${path}.image_url` },
        item.image_url ? el('img', { src: item.image_url, alt: '', id: 'photo-preview' }) : null,
        el('label', { class: 'button-like' }, `📷 ${t('uploadPhoto')}`, el('input', { type: 'file', class: 'hidden', accept: 'image/jpeg,image/png,image/webp', 'data-input': 'item-photo',
          onchange: async (e) => {
            const file = e.target.files[0];
            if (!file) return;
            const res = await upload(file);
            if (res.status === 201) { item.image_url = res.body.url; touch(); render(); } else showError({ status: res.status, body: res.body ? { error: { ...res.body.error, details: { field: `${path}.image_url`, reason: errorText(res) } } } : null });
          } })),
        item.image_url ? small(t('removePhoto'), () => { item.image_url = ''; touch(); render(); }) : null,
        el('small', { class: 'muted' }, t('photoHint'))),
      el('fieldset', { 'data-field': `${path}.allergens` }, el('legend', {}, `⚠ ${t('allergensLabel')}`), el('div', { class: 'egrid' }, ALLERGENS.map((a) => el('label', { class: 'choice' },
        el('input', { type: 'checkbox', value: a, checked: item.allergens.includes(a), onchange: (e) => {
          item.allergens = e.target.checked ? [...item.allergens, a] : item.allergens.filter((x) => x !== a);
          touch();
        } }), t(`allergen_${a}`))))),
      field(`${path}.origin`, t('originLabel'), input({ maxlength: '200', placeholder: t('originHint') }, () => item.origin, (v) => { item.origin = v; })),
      translationBlock(path, item.tr, item.trDesc),
      el('h4', {}, t('options')),
      item.options.map((o, oi) => optionEditor(item, o, `${path}.options[${oi}]`, oi)),
      el('div', { class: 'row mt' },
        small(`+ ${t('addOption')}`, () => { item.options.push({ name: '', required: false, multiple: false, tr: { en: '', zh: '', ja: '' }, choices: [{ text: '', delta: 0, tr: { en: '', zh: '', ja: '' } }] }); touch(); render(); }),
        el('span', { class: 'grow' }),
        small(t('archiveItem'), () => { if (confirm(t('archiveConfirm'))) { c.items.splice(ii, 1); touch(); render(); } }, { class: 'small danger' })));
  }

  function categoryEditor(c, ci) {
    const path = `categories[${ci}]`;
    return el('section', { class: 'card ecat', 'data-field': path },
      el('div', { class: 'erow' },
        field(`${path}.name`, t('categoryName'), input({ maxlength: '50', placeholder: '치킨', 'data-input': 'category-name' }, () => c.name, (v) => { c.name = v; })),
        small('↑', () => move(model, ci, -1)), small('↓', () => move(model, ci, 1)),
        small(t('remove'), () => {
          if (c.items.length && !confirm(t('deleteCategoryConfirm'))) return;
          model.splice(ci, 1); touch(); render();
        }, { class: 'small danger' })),
      translationBlock(path, c.tr, null),
      c.items.map((item, ii) => itemEditor(c, ci, item, ii)),
      small(`+ ${t('addItem')}`, () => {
        c.items.push({ name: '', price: 0, description: '', image_url: '', is_available: true, allergens: [], origin: '',
          tr: { en: '', zh: '', ja: '' }, trDesc: { en: '', zh: '', ja: '' }, options: [], open: true });
        touch(); render();
      }, { 'data-add-item': ci }));
  }

  async function toggleSoldOut(item) {
    if (!item.id) { item.is_available = !item.is_available; touch(); render(); return; }
    const res = await call(`/api/v1/restaurants/me/menu/items/${item.id}`, { method: 'PATCH', body: { is_available: !item.is_available } });
    if (res.status === 200) item.is_available = res.body.is_available; else toast(errorText(res));
    render();
  }

  function render() {
    const scroll = window.scrollY;
    box.replaceChildren(
      el('div', { class: 'ebar' },
        el('span', { class: 'grow' }, el('strong', { id: 'menu-dirty', class: `warn-text ${dirty ? '' : 'hidden'}` }, t('unsaved'))),
        el('button', { type: 'button', class: 'small', id: 'menu-discard', onclick: () => { if (!dirty || confirm(t('discardConfirm'))) load(); } }, t('discard')),
        el('button', { type: 'button', class: 'primary', id: 'menu-save', disabled: !dirty, onclick: save }, t('save'))),
      el('div', { id: 'menu-error' }),
      ...model.map(categoryEditor),
      el('button', { type: 'button', class: 'wide mt', id: 'add-category', onclick: () => { model.push({ name: '', tr: { en: '', zh: '', ja: '' }, items: [] }); touch(); render(); } }, `+ ${t('addCategory')}`));
    window.scrollTo(0, scroll);
  }

  // The server explains in English; an owner reading Korean gets the common cases in Korean.
  const KOREAN = [
    [/must not be empty/, () => '비워 둘 수 없습니다'],
    [/must be at most (\d+) characters/, (m) => `${m[1]}자 이내로 입력하세요`],
    [/^at most (\d+) characters/, (m) => `${m[1]}자 이내로, 특수 제어 문자 없이 입력하세요`],
    [/must not contain control characters/, () => '특수 제어 문자는 쓸 수 없습니다'],
    [/^price must be between 0 and (\d+) won/, (m) => `가격은 0원부터 ${Number(m[1]).toLocaleString('ko-KR')}원까지입니다`],
    [/price delta must be between 0 and (\d+) won/, (m) => `추가 금액은 0원부터 ${Number(m[1]).toLocaleString('ko-KR')}원까지입니다`],
    [/choices must be unique/, () => '같은 선택지가 두 번 있습니다'],
    [/needs at least one choice/, () => '선택지를 하나 이상 넣으세요'],
    [/at most (\d+) choices/, (m) => `선택지는 ${m[1]}개까지입니다`],
    [/at most (\d+) options/, (m) => `옵션은 ${m[1]}개까지입니다`],
    [/at most (\d+) items/, (m) => `메뉴는 ${m[1]}개까지입니다`],
    [/at most (\d+) categories/, (m) => `분류는 ${m[1]}개까지입니다`],
    [/price_deltas may only name existing choices/, () => '추가 금액은 있는 선택지에만 붙일 수 있습니다'],
  ];
  function reasonText(reason) {
    if (OS.lang() !== 'ko' || !reason) return reason;
    for (const [pattern, say] of KOREAN) {
      const m = pattern.exec(reason);
      if (m) return say(m);
    }
    return reason;
  }

  function showError(res) {
    const details = res.body && res.body.error && res.body.error.details;
    const path = details && details.field;
    if (!path) { box.querySelector('#menu-error').replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
    // Open the item the field belongs to, then find the field (or its nearest container).
    const item = /^categories\[(\d+)\]\.items\[(\d+)\]/.exec(path);
    if (item && model[item[1]] && model[item[1]].items[item[2]]) { model[item[1]].items[item[2]].open = true; render(); }
    let target = null;
    for (let p = path; p;) {
      target = box.querySelector(`[data-field="${CSS.escape(p)}"]`);
      const shorter = p.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
      if (target || shorter === p) break;
      p = shorter;
    }
    const reason = reasonText(details.reason);
    const message = el('p', { class: 'field-error', id: 'menu-field-error' }, reason);
    box.querySelector('#menu-error').replaceChildren(el('p', { class: 'error' }, `${t('fixField')}: ${reason}`));
    if (target) {
      target.closest('details')?.setAttribute('open', '');
      target.append(message);
      target.classList.add('invalid');
      target.scrollIntoView({ block: 'center' });
      target.querySelector('input, textarea, select')?.focus();
    }
  }

  // What the server would refuse anyway, said before sending: an empty price is not 0 won.
  function localProblem() {
    for (const [ci, c] of model.entries()) {
      for (const [ii, item] of c.items.entries()) {
        if (String(item.price).trim() === '' || !Number.isFinite(Number(item.price))) {
          return { field: `categories[${ci}].items[${ii}].price`, reason: t('priceMissing') };
        }
      }
    }
    return null;
  }

  async function save() {
    const button = box.querySelector('#menu-save');
    const problem = localProblem();
    if (problem) { showError({ status: 400, body: { error: { details: problem } } }); return; }
    button.disabled = true;
    // Sold out is changed live (one tap, here or on another screen) while this draft was open:
    // the draft takes the current state, so saving never puts a sold-out dish back on sale.
    const current = await call('/api/v1/restaurants/me/menu');
    if (current.status !== 200) { button.disabled = false; showError(current); return; }
    const available = new Map(current.body.categories.flatMap((c) => c.items).map((i) => [i.id, i.is_available]));
    for (const item of model.flatMap((c) => c.items)) if (item.id && available.has(item.id)) item.is_available = available.get(item.id);
    const res = await call('/api/v1/restaurants/me/menu', { method: 'PUT', body: toDocument() });
    if (res.status === 200) {
      dirty = false;
      model = fromDocument(res.body);
      render();
      toast(t('menuSaved'));
      return;
    }
    button.disabled = false;
    showError(res);
  }

  async function load() {
    const res = await call('/api/v1/restaurants/me/menu');
    if (res.status !== 200) { box.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
    model = fromDocument(res.body);
    dirty = false;
    render();
  }

  return {
    // Shows the editor in `container`; `api` is the owner's authenticated call.
    // `uploader(file)` sends a photo and answers like `api`.
    open(container, api, uploader) { box = container; call = api; upload = uploader; if (model && dirty) render(); else load(); },
    // Whether leaving the tab may go ahead (asks when there are unsaved changes).
    mayLeave() { if (!dirty) return true; if (!confirm(t('leaveConfirm'))) return false; dirty = false; model = null; return true; },
  };
})();
