// OrderSync — the customer's phone: the table menu (/t/{restaurant}/{table}?sig=…), the table's
// running tab with staff calls (/t/{restaurant}/{table}/tab) and the live order status page
// (/order/{id}). Plain DOM, no framework: it must be light on a cheap phone.
'use strict';

(() => {
  const { t, won, el, api, errorText, uuid, live, toast, sheet } = OS;
  const main = document.getElementById('main');
  const bar = document.getElementById('bar');
  const cartButton = document.getElementById('cart-button');
  document.getElementById('lang').textContent = `🌐 ${OS.languageName()}`;
  document.getElementById('lang').onclick = OS.toggleLang;

  const path = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const sig = new URLSearchParams(location.search).get('sig');
  if (path[0] === 't' && path.length === 3) tablePage(path[1], path[2], sig);
  else if (path[0] === 't' && path.length === 4 && path[3] === 'tab') tabPage(path[1], path[2], sig);
  else if (path[0] === 'order' && path.length === 2) statusPage(path[1]);
  else main.replaceChildren(el('p', { class: 'error' }, t('badLink')));

  // ---- Guest session: a token bound to this restaurant and table, from the signed QR link.
  // `null` when the link itself is refused; throws when the box could not be reached.
  async function guestToken(rid, table, sig) {
    const key = `os.guest.${rid}.${table}`;
    const saved = JSON.parse(localStorage.getItem(key) || 'null');
    if (saved && saved.exp > Date.now() + 60000) return saved.token;
    if (!sig) return null;
    const res = await api('/api/v1/auth/guest', { method: 'POST', body: { restaurant_id: rid, table_number: table, sig } });
    if (res.status === 400 || res.status === 401 || res.status === 404) return null;
    if (res.status !== 201) throw new Error(errorText(res));
    localStorage.setItem(key, JSON.stringify({ token: res.body.access_token, exp: Date.now() + res.body.expires_in * 1000 }));
    return res.body.access_token;
  }

  // The party this token belongs to has left (the owner closed the table): the next scan must
  // get a fresh token, in the next party.
  function forgetGuest(rid, table) { localStorage.removeItem(`os.guest.${rid}.${table}`); }
  const tablePath = (rid, table) => `/t/${encodeURIComponent(rid)}/${encodeURIComponent(table)}`;
  const isClosed = (res) => res.status === 409 && res.body && res.body.error && res.body.error.code === 'TABLE_SESSION_CLOSED';
  function closedView() {
    main.replaceChildren(el('p', { class: 'error', id: 'table-closed' }, t('tableClosed')));
    bar.classList.add('hidden');
  }

  function retryView(text, again) {
    main.replaceChildren(el('p', { class: 'error' }, text),
      el('button', { type: 'button', class: 'primary wide', onclick: again }, t('retry')));
  }

  // ---- The menu and the cart.
  async function tablePage(rid, table, sig) {
    document.getElementById('table').textContent = `${t('table')} ${table}`;
    let token;
    try { token = await guestToken(rid, table, sig); } catch { retryView(t('linkRetry'), () => location.reload()); return; }
    if (!token) { main.replaceChildren(el('p', { class: 'error' }, t('badLink'))); return; }
    // A token from a party that has left: a fresh scan (the link has its `sig`) starts anew.
    const mine = await api('/api/v1/tables/me', { token });
    if (mine.status === 200 && mine.body.session && mine.body.session.status === 'CLOSED') {
      forgetGuest(rid, table);
      try { token = sig ? await guestToken(rid, table, sig) : null; } catch { token = null; }
      if (!token) { closedView(); return; }
    }
    // The party's orders and the staff calls, one tap from the menu.
    const tabLink = el('a', { href: `${tablePath(rid, table)}/tab${location.search}`, class: 'tablink', id: 'tab-link' }, `🧾 ${t('ourTableOrders')} · ${t('callsTitle')}`);
    // In localStorage: scanning the QR again often opens a new tab, and the cart must survive.
    const place = `${rid}.${table}`;
    const cart = JSON.parse(localStorage.getItem(`os.cart.${place}`) || '[]');
    let menu = null;

    function saveCart() { localStorage.setItem(`os.cart.${place}`, JSON.stringify(cart)); renderBar(); }
    // One Idempotency-Key per order as sent: a double tap, a retry after a lost answer or a
    // reload resends the same body with the same key and gets the one order back; changing the
    // cart makes a new order, with a new key.
    function attemptKey(body) {
      const text = JSON.stringify(body);
      const saved = JSON.parse(localStorage.getItem(`os.attempt.${place}`) || 'null');
      if (saved && saved.body === text) return saved.key;
      const key = uuid();
      localStorage.setItem(`os.attempt.${place}`, JSON.stringify({ key, body: text }));
      return key;
    }
    const items = () => menu.categories.flatMap((c) => c.items);

    async function loadMenu() {
      // Names in the guest's language where the restaurant translated them, Korean elsewhere.
      const res = await api(`/api/v1/restaurants/${rid}/menu?lang=${OS.lang()}`);
      if (res.status !== 200) { main.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      menu = res.body;
      document.getElementById('title').textContent = menu.restaurant.name;
      document.title = menu.restaurant.name;
      pruneCart();
      renderMenu();
    }

    // Drops cart lines that can no longer be ordered and refreshes the prices of the rest.
    function pruneCart() {
      let removed = false;
      for (let i = cart.length - 1; i >= 0; i--) {
        const item = items().find((x) => x.id === cart[i].menu_id);
        if (!item || !item.is_available) { cart.splice(i, 1); removed = true; } else cart[i].unit = unitPrice(item, cart[i].options);
      }
      if (removed) toast(t('soldOutRemoved'));
      saveCart();
    }

    function unitPrice(item, chosen) {
      return item.price + chosen.reduce((sum, c) => {
        const opt = item.options.find((o) => o.id === c.option_id);
        return sum + ((opt && opt.price_deltas && opt.price_deltas[c.choice]) || 0);
      }, 0);
    }

    // Allergens this guest avoids (kept on the phone): dishes listing any of them are hidden.
    let avoid = JSON.parse(localStorage.getItem('os.avoid') || '[]');
    const ALLERGENS = ['EGG', 'MILK', 'BUCKWHEAT', 'PEANUT', 'SOYBEAN', 'WHEAT', 'MACKEREL', 'CRAB', 'SHRIMP', 'PORK',
      'PEACH', 'TOMATO', 'SULFITES', 'WALNUT', 'CHICKEN', 'BEEF', 'SQUID', 'SHELLFISH', 'PINE_NUT'];
    const shown = (item) => !(item.allergens || []).some((a) => avoid.includes(a));
    function saveAvoid(next) { avoid = next; localStorage.setItem('os.avoid', JSON.stringify(avoid)); renderMenu(); }
    function openFilter() {
      const s = sheet([el('h3', {}, `⚠ ${t('filterAllergens')}`), el('p', { class: 'muted' }, t('filterNote')),
        el('div', { class: 'chips' }, ALLERGENS.map((a) => el('button', { type: 'button', class: `chip ${avoid.includes(a) ? 'on' : ''}`, 'data-avoid': a,
          'aria-pressed': String(avoid.includes(a)),
          onclick: () => { saveAvoid(avoid.includes(a) ? avoid.filter((x) => x !== a) : [...avoid, a]); s.close(); openFilter(); } },
        `${avoid.includes(a) ? '✕ ' : ''}${t(`allergen_${a}`)}`)))]);
    }

    function renderMenu() {
      const nav = el('nav', { class: 'cats' }, menu.categories.map((c, i) => el('a', { href: `#cat-${i}` }, c.name)));
      const closed = !menu.restaurant.table_ordering_enabled;
      const labelled = items().some((i) => (i.allergens || []).length);
      const hidden = items().filter((i) => !shown(i)).length;
      main.replaceChildren(...[
        closed ? el('p', { class: 'notice' }, t('closed')) : null,
        tabLink,
        nav,
        labelled ? el('div', { class: 'row filters' },
          el('button', { type: 'button', class: 'small ghost', id: 'allergen-filter', onclick: openFilter }, `⚠ ${t('filterAllergens')}`),
          ...avoid.map((a) => el('button', { type: 'button', class: 'chip on small', onclick: () => saveAvoid(avoid.filter((x) => x !== a)) }, `${t('without').replace('{a}', t(`allergen_${a}`))} ✕`))) : null,
        hidden ? el('p', { class: 'muted small', id: 'hidden-by-filter' }, t('hiddenByFilter').replace('{n}', hidden)) : null,
        ...menu.categories.map((c, i) => (c.items.some(shown) || !c.items.length) && el('section', { class: 'cat', id: `cat-${i}` },
          el('h2', {}, c.name),
          c.items.filter(shown).map((item) => el('button', {
            type: 'button', class: `item${item.is_available ? '' : ' soldout'}`, disabled: !item.is_available || closed,
            onclick: () => openItem(item), 'data-item': item.id,
          },
          item.image_url ? el('img', { ...photo(item.image_url, '64px', 320), alt: '', loading: 'lazy', width: '64', height: '64' }) : null,
          el('div', {}, el('div', { class: 'name' }, item.name), item.description ? el('div', { class: 'desc' }, item.description) : null),
          el('div', { class: 'price', 'data-soldout': t('soldout') }, won(item.price)))))),
      ].filter(Boolean));
      renderBar();
    }

    function renderBar() {
      const count = cart.reduce((n, l) => n + l.quantity, 0);
      const total = cart.reduce((n, l) => n + l.unit * l.quantity, 0);
      bar.classList.toggle('hidden', count === 0);
      cartButton.textContent = `${t('cart')} · ${count}${t('items')} · ${won(total)}`;
    }

    // A photo the box stored comes in three widths: the phone picks what its screen needs.
    function photo(url, sizes, fallbackWidth) {
      const stored = /^(\/images\/[^/]+\/[0-9a-f]{32})-640\.jpg$/.exec(url);
      if (!stored) return { src: url };
      return { src: `${stored[1]}-${fallbackWidth}.jpg`, srcset: [320, 640, 1280].map((w) => `${stored[1]}-${w}.jpg ${w}w`).join(', '), sizes };
    }

    // A choice as the guest reads it (translated where the menu says); orders name the choice.
    function choiceLabel(option, choice, index) {
      return (option.choice_labels && option.choice_labels[index]) || choice;
    }

    function openItem(item) {
      const chosen = new Map(); // option id → Set of choices
      let quantity = 1;
      const addButton = el('button', { type: 'button', class: 'primary wide mt' });
      const qtyOut = el('output', {}, '1');
      function current() { return [...chosen].flatMap(([id, set]) => [...set].map((choice) => ({ option_id: id, choice }))); }
      function refresh() {
        const missing = item.options.some((o) => o.required && !(chosen.get(o.id) || new Set()).size);
        addButton.disabled = missing;
        addButton.textContent = `${t('add')} · ${won(unitPrice(item, current()) * quantity)}`;
        qtyOut.textContent = quantity;
      }
      const fields = item.options.map((o) => el('fieldset', {},
        el('legend', {}, `${o.name} `, el('span', { class: `pill ${o.required ? 'warn' : ''}` }, o.required ? t('required') : t('optional'))),
        o.choices.map((choice, index) => {
          const delta = (o.price_deltas && o.price_deltas[choice]) || 0;
          const input = el('input', { type: o.multiple ? 'checkbox' : 'radio', name: o.id, value: choice,
            onchange: () => {
              const set = o.multiple ? (chosen.get(o.id) || new Set()) : new Set();
              if (input.checked) set.add(choice); else set.delete(choice);
              chosen.set(o.id, set);
              refresh();
            } });
          return el('label', { class: 'choice' }, input, choiceLabel(o, choice, index), delta ? el('span', { class: 'delta' }, `+${won(delta)}`) : null);
        })));
      const s = sheet([
        item.image_url ? el('img', { ...photo(item.image_url, '(min-width: 720px) 720px, 100vw', 640), class: 'sheet-photo', alt: item.name, id: 'item-photo' }) : null,
        el('h3', {}, item.name), item.description ? el('p', { class: 'muted' }, item.description) : null,
        el('div', {}, won(item.price)),
        item.allergens && item.allergens.length ? el('p', { class: 'allergens', id: 'item-allergens' }, el('strong', {}, `⚠ ${t('allergensLabel')}: `),
          item.allergens.map((a) => t(`allergen_${a}`)).join(', ')) : null,
        item.origin ? el('p', { class: 'muted small', id: 'item-origin' }, `${t('originLabel')}: ${item.origin}`) : null,
        ...fields,
        el('div', { class: 'qty' }, el('span', { class: 'grow' }, t('qty')),
          el('button', { type: 'button', 'aria-label': '-', onclick: () => { quantity = Math.max(1, quantity - 1); refresh(); } }, '−'),
          qtyOut,
          el('button', { type: 'button', 'aria-label': '+', onclick: () => { quantity = Math.min(99, quantity + 1); refresh(); } }, '+')),
        addButton,
      ]);
      addButton.onclick = () => {
        const options = current();
        const names = options.map((c) => {
          const o = item.options.find((x) => x.id === c.option_id);
          return choiceLabel(o, c.choice, o.choices.indexOf(c.choice));
        }).join(', ');
        cart.push({ menu_id: item.id, name: item.name, options, names, quantity, unit: unitPrice(item, options) });
        saveCart();
        s.close();
      };
      refresh();
    }

    function openCart() {
      const errorBox = el('div');
      const requests = el('textarea', { maxlength: '200', rows: '2', placeholder: t('specialHint'), id: 'special' });
      requests.value = localStorage.getItem(`os.requests.${place}`) || '';
      requests.oninput = () => localStorage.setItem(`os.requests.${place}`, requests.value);
      const list = el('div');
      const totalRow = el('div', { class: 'total' });
      const orderButton = el('button', { class: 'primary wide', type: 'button', id: 'place-order' }, t('order'));
      function render() {
        list.replaceChildren(...cart.map((line, i) => el('div', { class: 'line' },
          el('div', { class: 'row' }, el('strong', { class: 'grow' }, line.name), won(line.unit * line.quantity)),
          line.names ? el('div', { class: 'muted' }, line.names) : null,
          el('div', { class: 'qty' },
            el('button', { type: 'button', onclick: () => { line.quantity--; if (!line.quantity) cart.splice(i, 1); saveCart(); render(); } }, '−'),
            el('output', {}, line.quantity),
            el('button', { type: 'button', onclick: () => { line.quantity = Math.min(99, line.quantity + 1); saveCart(); render(); } }, '+')))));
        totalRow.replaceChildren(el('span', {}, t('total')), el('span', {}, won(cart.reduce((n, l) => n + l.unit * l.quantity, 0))));
        orderButton.disabled = cart.length === 0;
        if (!cart.length) list.replaceChildren(el('p', { class: 'muted' }, t('empty')));
      }
      // During an internet outage the shop takes payment at the counter: the guest is told why.
      const counter = menu.restaurant.payment_mode === 'POSTPAY'
        ? el('p', { class: menu.restaurant.counter_payment ? 'notice' : 'muted', id: 'pay-at-counter' },
          menu.restaurant.counter_payment ? t('counterPaymentOutage') : t('payAtCounterNote')) : null;
      const s = sheet([el('h3', {}, t('cart')), list, el('label', { for: 'special' }, t('special')), requests, errorBox, totalRow, counter, orderButton]);
      orderButton.onclick = async () => {
        orderButton.disabled = true;
        orderButton.textContent = t('ordering');
        errorBox.replaceChildren();
        const body = {
          restaurant_id: rid,
          items: cart.map((l) => ({ menu_id: l.menu_id, quantity: l.quantity, options: l.options })),
          special_requests: requests.value.trim() || null,
        };
        const key = attemptKey(body);
        // A lost answer is retried with the same key: it returns the order if it was made.
        let res;
        for (let attempt = 0; attempt < 4; attempt++) {
          if (attempt) { orderButton.textContent = t('checking'); await new Promise((r) => setTimeout(r, 1500 * attempt)); }
          res = await api('/api/v1/orders', { method: 'POST', body, token, headers: { 'Idempotency-Key': key } });
          if (res.status !== 0 && res.status < 500) break;
        }
        if (res.status === 201) {
          localStorage.setItem(`os.order.${res.body.order_id}`, token);
          localStorage.setItem(`os.orderFrom.${res.body.order_id}`, location.pathname + location.search);
          cart.length = 0;
          saveCart();
          localStorage.removeItem(`os.attempt.${place}`);
          localStorage.removeItem(`os.requests.${place}`);
          location.href = res.body.payment_required ? `/pay/${res.body.order_id}` : `/order/${res.body.order_id}`;
          return;
        }
        if (isClosed(res)) { forgetGuest(rid, table); s.close(); closedView(); return; }
        errorBox.replaceChildren(el('div', { class: 'error' }, `${t('orderFailed')}: ${errorText(res)}`));
        orderButton.textContent = t('retry');
        orderButton.disabled = false;
        if (res.status === 400) { await loadMenu(); render(); }
      };
      render();
      return s;
    }
    cartButton.onclick = openCart;

    await loadMenu();
    // Sold-out and price changes arrive live.
    live(() => `/ws/restaurants/${rid}/menu`, (msg) => {
      if (msg.type !== 'MENU_UPDATED' || !menu) return;
      if (msg.reload) { loadMenu(); return; }
      for (const change of msg.items || []) {
        const item = items().find((x) => x.id === change.id);
        // The change names items in Korean: a translated menu keeps its own names.
        const { name, ...rest } = change;
        if (item) Object.assign(item, menu.lang ? rest : change);
      }
      pruneCart();
      renderMenu();
    });
  }

  // ---- The table's running tab: every order of the party, from every phone, live; staff calls.
  async function tabPage(rid, table, sig) {
    document.getElementById('table').textContent = `${t('table')} ${table}`;
    document.getElementById('title').textContent = t('ourTableOrders');
    let token;
    try { token = await guestToken(rid, table, sig); } catch { retryView(t('linkRetry'), () => location.reload()); return; }
    if (!token) { main.replaceChildren(el('p', { class: 'error' }, t('badLink'))); return; }
    const menuPath = tablePath(rid, table) + location.search;
    const mineIds = new Set();
    let tab = null;
    let feed = null;
    const banner = el('div');
    const view = el('div');
    main.replaceChildren(banner, view);

    let over = false; // the party has left: nothing more to connect to
    function ended() {
      over = true;
      forgetGuest(rid, table);
      if (feed) feed.stop();
      banner.replaceChildren(el('p', { class: 'error', id: 'table-closed' }, t('tableClosed')));
    }
    async function load() {
      const res = await api('/api/v1/tables/me', { token });
      if (res.status !== 200) { banner.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      tab = res.body;
      for (const o of tab.orders) if (o.mine) mineIds.add(o.order_id);
      if (tab.session && tab.session.status === 'CLOSED') ended();
      render();
    }
    // Paying from the phone: everything left, one's own orders, or one share of N (더치페이).
    // The amounts shown are what the server will ask for; it refuses any other.
    let shares = 2;
    function payCard() {
      const mineOpen = tab.orders.filter((o) => mineIds.has(o.order_id) && o.payment_status !== 'PAID'
        && o.payment_mode === 'POSTPAY' && !['REJECTED', 'CANCELLED'].includes(o.status)
        && !(tab.paid_order_ids || []).includes(o.order_id));
      const mineTotal = Math.min(mineOpen.reduce((n, o) => n + o.total_amount, 0), tab.remaining_amount);
      const share = () => Math.min(Math.ceil(tab.total_amount / shares), tab.remaining_amount);
      const shareButton = el('button', { type: 'button', class: 'primary grow', id: 'pay-share',
        onclick: () => pay({ kind: 'SHARE', shares, amount: share() }) });
      const count = el('output', { id: 'share-count' });
      const refresh = () => { count.textContent = `${shares}${t('people')}`; shareButton.textContent = `${t('payShare')} · ${won(share())}`; };
      refresh();
      return el('section', { class: 'card', id: 'pay-tab' }, el('h2', { class: 'sub' }, t('payTabTitle')),
        el('button', { type: 'button', class: 'primary wide', id: 'pay-all', onclick: () => pay({ kind: 'ALL', amount: tab.remaining_amount }) },
          `${t('payAll')} · ${won(tab.remaining_amount)}`),
        mineOpen.length ? el('button', { type: 'button', class: 'wide mt', id: 'pay-mine',
          onclick: () => pay({ kind: 'ITEMS', order_ids: mineOpen.map((o) => o.order_id), amount: mineTotal }) },
        `${t('payMine')} · ${won(mineTotal)}`) : null,
        el('div', { class: 'qty' }, el('span', { class: 'grow' }, t('paySplit')),
          el('button', { type: 'button', 'aria-label': '-', onclick: () => { shares = Math.max(2, shares - 1); refresh(); } }, '−'),
          count,
          el('button', { type: 'button', 'aria-label': '+', id: 'share-more', onclick: () => { shares = Math.min(20, shares + 1); refresh(); } }, '+')),
        el('div', { class: 'row' }, shareButton),
        el('p', { class: 'muted' }, t('payOrCounter')));
    }
    let paying = false;
    async function pay(body) {
      if (paying) return;
      paying = true;
      const res = await api('/api/v1/tables/me/payments', { method: 'POST', token, body });
      paying = false;
      if (res.status === 201) {
        const id = res.body.tab_payment_id;
        localStorage.setItem(`os.order.${id}`, token);
        localStorage.setItem(`os.payReturn.${id}`, location.pathname + location.search);
        sessionStorage.setItem(`os.checkout.${id}`, JSON.stringify(res.body));
        location.href = `/pay/tab/${id}`;
        return;
      }
      if (isClosed(res)) { ended(); return; }
      toast(errorText(res));
      load();
    }

    const busyCalls = new Set();
    async function call(kind) {
      if (busyCalls.has(kind)) return;
      busyCalls.add(kind);
      const res = await api('/api/v1/tables/me/calls', { method: 'POST', token, body: { kind } });
      busyCalls.delete(kind);
      if (res.status === 201) { toast(t('callSent')); await load(); } else if (isClosed(res)) ended(); else toast(errorText(res));
    }

    function render() {
      if (!tab) return;
      const closed = tab.session && tab.session.status === 'CLOSED';
      const openCall = (kind) => tab.calls.find((c) => c.kind === kind && c.status === 'OPEN');
      const orders = [...tab.orders].sort((a, b) => b.created_at.localeCompare(a.created_at));
      const postpay = !orders.length || orders.some((o) => o.payment_mode === 'POSTPAY');
      view.replaceChildren(...[
        el('div', { class: 'card', id: 'tab-totals' },
          el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabTotal')), el('strong', { id: 'tab-total' }, won(tab.total_amount))),
          el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabPaid')), el('span', { id: 'tab-paid' }, won(tab.paid_amount))),
          el('div', { class: 'total' }, el('span', {}, t('tabRemaining')), el('span', { id: 'tab-remaining' }, won(tab.remaining_amount))),
          postpay && !tab.online_payments ? el('p', { class: 'muted' }, t('payTabNote')) : null),
        !closed && tab.online_payments && tab.remaining_amount > 0 ? payCard() : null,
        closed ? null : el('section', { class: 'card' }, el('h2', { class: 'sub' }, t('callsTitle')),
          el('div', { class: 'calls' }, ['WATER', 'CUTLERY', 'BILL', 'STAFF'].map((kind) => {
            const open = openCall(kind);
            return el('button', { type: 'button', class: `call${open ? ' open' : ''}`, 'data-call': kind, onclick: () => call(kind) },
              t(`call_${kind}`), open ? el('small', {}, t('callOpen')) : null);
          }))),
        orders.length ? null : el('p', { class: 'muted' }, t('noOrdersYet')),
        ...orders.map((o) => el('div', { class: 'card', 'data-order': o.order_id },
          el('div', { class: 'row' }, el('strong', { class: 'grow' }, o.order_number),
            mineIds.has(o.order_id) ? el('span', { class: 'pill' }, t('mine')) : null,
            el('span', { class: `pill ${o.status === 'READY' ? 'ok' : ['REJECTED', 'CANCELLED'].includes(o.status) ? 'bad' : ''}`, 'data-status': o.status }, t(`status_${o.status}`))),
          o.items.map((l) => el('div', { class: 'row' }, el('span', { class: 'grow' }, `${l.name} × ${l.quantity}`,
            l.options.length ? el('span', { class: 'muted' }, ` (${l.options.map((x) => x.choice).join(', ')})`) : null), won(l.line_total))))),
        closed ? null : el('a', { href: menuPath, class: 'more', id: 'back-to-menu' }, t('backToMenu')),
      ].filter(Boolean));
    }

    await load();
    if (tab && tab.session && tab.session.status === 'CLOSED') return;
    feed = live((seq) => `/ws/tables/me?token=${encodeURIComponent(token)}${seq !== null ? `&since=${seq}` : ''}`, (msg) => {
      if (msg.type === 'SNAPSHOT') { tab = msg.tab; for (const o of tab.orders) if (o.mine) mineIds.add(o.order_id); render(); return; }
      if (!tab) return;
      if (msg.type === 'TABLE_CLOSED') {
        // Closed, or joined with another table (합석): then the tab is that table's, and so
        // must be the feed.
        const before = tab.session && tab.session.id;
        load().then(() => { if (tab.session && tab.session.status === 'OPEN' && tab.session.id !== before) location.reload(); });
        return;
      }
      if (msg.type === 'NEW_ORDER' || msg.type === 'TABLE_CALL' || msg.type === 'TABLE_CALL_ACK') { load(); return; }
      if (msg.type === 'TABLE_UPDATED') {
        for (const k of ['total_amount', 'paid_amount', 'remaining_amount']) tab[k] = msg[k];
      } else {
        const o = tab.orders.find((x) => x.order_id === msg.order_id);
        if (o) for (const k of ['status', 'payment_status']) if (k in msg) o[k] = msg[k];
      }
      render();
    }, (up, code) => {
      if (over) return;
      if (code === 4001 || code === 4002) { banner.replaceChildren(el('p', { class: 'error', id: 'session-ended' }, t('sessionEnded'))); return; }
      banner.replaceChildren(up ? '' : el('p', { class: 'notice' }, t('reconnecting')));
    });
  }

  // ---- Live order status.
  function statusPage(orderId) {
    const token = localStorage.getItem(`os.order.${orderId}`);
    document.getElementById('table').classList.add('hidden');
    if (!token) { main.replaceChildren(el('p', { class: 'error' }, t('notYours'))); return; }
    const orderedFrom = localStorage.getItem(`os.orderFrom.${orderId}`);
    let order = null;
    const banner = el('div');
    const view = el('div');
    main.replaceChildren(banner, view);

    function render() {
      if (!order) return;
      document.getElementById('title').textContent = `${t('orderNumber')} ${order.order_number}`;
      const steps = ['PENDING', 'ACCEPTED', 'READY', 'COMPLETED'];
      const at = steps.indexOf(order.status);
      const closed = order.status === 'REJECTED' || order.status === 'CANCELLED';
      const payClass = order.payment_status === 'PAID' ? 'ok' : order.payment_status === 'PENDING' ? 'warn' : '';
      view.replaceChildren(...[el('div', { class: 'card' },
        el('div', { class: 'muted' }, t('orderNumber')),
        el('div', { class: 'big', id: 'order-number' }, order.order_number),
        el('div', { class: 'row' },
          order.table_number ? el('span', { class: 'pill' }, `${t('table')} ${order.table_number}`) : null,
          el('span', { class: `pill ${payClass}`, id: 'payment-status' }, t(`pay_${order.payment_status}`))),
        order.test_payment ? el('p', { class: 'notice', id: 'test-payment' }, t('testPaymentNote')) : null,
        closed
          ? el('p', { class: 'error', id: 'status' }, `${t(`status_${order.status}`)}${order.reject_reason || order.cancel_reason ? ` — ${t('reason')}: ${order.reject_reason || order.cancel_reason}` : ''}`)
          : el('div', { class: 'steps', id: 'status', 'data-status': order.status },
            steps.map((s, i) => el('div', { class: i < at ? 'done' : i === at ? 'now' : '' }, t(`status_${s}`)))),
        order.status === 'ACCEPTED' && order.estimated_ready_at
          ? el('div', {}, el('span', { class: 'muted' }, `${t('eta')} `), el('span', { class: 'countdown', id: 'countdown' }))
          : null,
        order.status === 'ACCEPTED' && order.message ? el('p', {}, `“${order.message}”`) : null,
        order.status === 'READY' ? el('p', { class: 'notice', id: 'ready-message' }, readyText || t('readyDefault')) : null,
        order.status === 'COMPLETED' ? el('p', {}, t('thanks')) : null,
        !order.payment_required && order.payment_mode === 'POSTPAY' && order.payment_status === 'PENDING' && !closed
          ? el('p', { class: 'muted' }, t('payCounter')) : null),
      el('div', { class: 'card' },
        order.items.map((l) => el('div', { class: 'line' },
          el('div', { class: 'row' }, el('span', { class: 'grow' }, `${l.name} × ${l.quantity}`), won(l.line_total)),
          l.options.length ? el('div', { class: 'muted' }, l.options.map((o) => o.choice).join(', ')) : null)),
        order.special_requests ? el('p', { class: 'muted' }, `${t('special')}: ${order.special_requests}`) : null,
        el('div', { class: 'total' }, el('span', {}, t('total')), el('span', {}, won(order.total_amount)))),
      el('div', { class: 'row' },
        order.payment_required && order.status === 'PENDING'
          ? el('button', { class: 'primary grow', type: 'button', onclick: () => { location.href = `/pay/${order.order_id}`; } }, t('payNow')) : null,
        order.status === 'PENDING'
          ? el('button', { class: 'danger', type: 'button', onclick: cancel }, t('cancelOrder')) : null),
        orderedFrom ? el('a', { href: orderedFrom, class: 'more', id: 'order-more' }, t('orderMore')) : null,
        orderedFrom && order.table_session_id ? el('a', { href: tabLink(orderedFrom), class: 'more', id: 'table-orders' }, t('ourTableOrders')) : null,
      ].filter(Boolean));
      tick();
    }

    // What this restaurant says when an order is ready (its setting, from the cached menu).
    let readyText = null;
    let askedReady = false;
    async function loadReadyText() {
      if (askedReady || !order) return;
      askedReady = true;
      const res = await api(`/api/v1/restaurants/${order.restaurant_id}/menu`);
      if (res.status === 200 && res.body.restaurant) { readyText = res.body.restaurant.ready_message || null; render(); }
    }
    function tabLink(from) {
      const url = new URL(from, location.origin);
      url.pathname += '/tab';
      return url.pathname + url.search;
    }

    function tick() {
      const node = document.getElementById('countdown');
      if (!node || !order || !order.estimated_ready_at) return;
      const left = Math.round((new Date(order.estimated_ready_at) - Date.now()) / 1000);
      node.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}` : t('readyNow');
    }
    setInterval(tick, 1000);

    async function cancel() {
      if (!confirm(t('cancelConfirm'))) return;
      const res = await api(`/api/v1/orders/${orderId}/cancel`, { method: 'POST', token });
      if (res.status === 200) { order = res.body; render(); } else toast(errorText(res));
    }

    live((seq) => `/ws/orders/${orderId}?token=${encodeURIComponent(token)}${seq !== null ? `&since=${seq}` : ''}`, (msg) => {
      if (msg.type === 'SNAPSHOT') { if (msg.order) order = msg.order; loadReadyText(); }
      else if (order && msg.order_id === order.order_id) {
        for (const k of ['status', 'estimated_ready_at', 'payment_status', 'test_payment']) if (k in msg) order[k] = msg[k];
        if (msg.status === 'ACCEPTED') order.message = msg.message;
        if (msg.status === 'REJECTED') order.reject_reason = msg.reason;
        if (msg.status === 'CANCELLED') order.cancel_reason = msg.reason;
        order.payment_required = order.payment_mode === 'PREPAY' && order.payment_status === 'PENDING';
      }
      render();
    }, (up, code) => {
      if (code === 1008) { banner.replaceChildren(el('p', { class: 'error' }, t('notYours'))); return; }
      if (code === 4001 || code === 4002) {
        banner.replaceChildren(el('p', { class: 'error', id: 'session-ended' }, t('sessionEnded')));
        return;
      }
      banner.replaceChildren(up ? '' : el('p', { class: 'notice' }, t('reconnecting')));
    });
  }
})();
