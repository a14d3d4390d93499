// OrderSync — the kitchen display (/kitchen): one large card per accepted order, oldest first,
// coloured by age (amber after 10 minutes, red after 20); a tap on a card marks it ready, and
// the bar at the bottom undoes the last tap. A station filter shows only its categories' lines.
// Fed by the owner's live feed, with the board's reconnect and replay.
'use strict';

(() => {
  const { el, live, toast, errorText } = OS;
  const ko = OS.lang() === 'ko';
  const T = ko
    ? { title: '주방', all: '전체', empty: '조리할 주문이 없습니다', bumped: '준비 완료', undo: '되돌리기', table: '테이블',
      waiting: '접수 대기', login: '주방 화면을 쓰려면 먼저 사장님·직원·주방 계정으로 로그인하세요.', toLogin: '로그인하러 가기', logout: '로그아웃',
      liveDown: '실시간 연결이 끊겼습니다 — 다시 연결하는 중…', min: '분', request: '요청', fullscreen: '전체 화면' }
    : { title: 'Kitchen', all: 'All', empty: 'Nothing to cook', bumped: 'Ready', undo: 'Undo', table: 'Table',
      waiting: 'Waiting', login: 'Log in first (owner, staff or kitchen account) to use the kitchen display.', toLogin: 'Log in', logout: 'Log out',
      liveDown: 'Live connection lost — reconnecting…', min: 'min', request: 'Request', fullscreen: 'Full screen' };
  const AMBER_MINUTES = 10;
  const RED_MINUTES = 20;
  const app = document.getElementById('app');
  const conn = document.getElementById('conn');
  const clock = document.getElementById('clock');
  const waitingPill = document.getElementById('waiting');
  const stationsNav = document.getElementById('stations');
  document.getElementById('title').textContent = T.title;
  document.getElementById('fullscreen').textContent = T.fullscreen;
  document.getElementById('fullscreen').onclick = () => {
    if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen().catch(() => {});
  };

  if (!Owner.session || !['OWNER', 'STAFF', 'KITCHEN'].includes(Owner.session.user.role)) {
    app.replaceChildren(el('div', { class: 'login' }, el('p', {}, T.login),
      el('a', { href: '/owner?next=/kitchen' }, el('button', { type: 'button', class: 'primary wide' }, T.toLogin))));
    return;
  }
  Owner.scheduleRefresh();
  // A shared kitchen tablet changes hands: the account on it can log out here.
  const logoutButton = document.getElementById('logout');
  logoutButton.textContent = T.logout;
  logoutButton.classList.remove('hidden');
  logoutButton.onclick = Owner.logout;

  const orders = new Map(); // open orders by id, from the feed
  const categoryOf = new Map(); // menu item id → category id
  let categories = [];
  let station = localStorage.getItem('os.kitchen.station') || '';
  const bumps = []; // the orders this screen marked ready, last one last: what undo takes back
  const busy = new Set();

  const banner = el('div', { class: 'banner hidden', id: 'live-down', role: 'alert' }, T.liveDown);
  const grid = el('main', { class: 'kgrid', id: 'kitchen' });
  const undoBar = el('div', { class: 'kundo hidden', id: 'undo' });
  app.replaceChildren(banner, grid, undoBar);

  Owner.call('/api/v1/restaurants/me').then((res) => {
    if (res.status === 200) document.title = `${T.title} — ${res.body.name}`;
  });
  async function loadMenu() {
    const res = await Owner.call('/api/v1/restaurants/me/menu');
    if (res.status !== 200) return;
    categories = res.body.categories.map((c) => ({ id: c.id, name: c.name }));
    categoryOf.clear();
    for (const c of res.body.categories) for (const item of c.items) categoryOf.set(item.id, c.id);
    if (station && !categories.some((c) => c.id === station)) station = '';
    renderStations();
    render();
  }

  function renderStations() {
    const chip = (id, name) => el('button', { type: 'button', class: `station ${station === id ? 'active' : ''}`, 'data-station': id || 'all',
      onclick: () => { station = id; localStorage.setItem('os.kitchen.station', id); renderStations(); render(); } }, name);
    stationsNav.replaceChildren(chip('', T.all), ...categories.map((c) => chip(c.id, c.name)));
  }

  // A line belongs to the station of its item's category; an item no longer on the menu shows
  // everywhere rather than nowhere.
  const linesFor = (o) => (station ? o.items.filter((l) => !categoryOf.has(l.menu_id) || categoryOf.get(l.menu_id) === station) : o.items);
  const minutesOld = (o) => Math.floor((Date.now() - new Date(o.created_at)) / 60000);

  function render() {
    const cooking = [...orders.values()].filter((o) => o.status === 'ACCEPTED')
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
    const waiting = [...orders.values()].filter((o) => o.status === 'PENDING'
      && !(o.payment_mode === 'PREPAY' && o.payment_status === 'PENDING')).length;
    waitingPill.textContent = `${T.waiting} ${waiting}`;
    waitingPill.classList.toggle('hidden', !waiting);
    const cards = cooking.map((o) => [o, linesFor(o)]).filter(([, lines]) => lines.length).map(([o, lines]) => card(o, lines));
    grid.replaceChildren(...(cards.length ? cards : [el('p', { class: 'kempty' }, T.empty)]));
    renderUndo();
  }

  function card(o, lines) {
    const age = minutesOld(o);
    const tone = age >= RED_MINUTES ? 'red' : age >= AMBER_MINUTES ? 'amber' : '';
    return el('button', { type: 'button', class: `kcard ${tone}`, 'data-order': o.order_id, 'data-age': tone || 'ok',
      disabled: busy.has(o.order_id), 'aria-label': `${o.order_number} ${T.bumped}`, onclick: () => bump(o) },
      el('div', { class: 'khead' }, el('span', { class: 'knum' }, o.order_number),
        o.table_number ? el('span', { class: 'ktable' }, `${T.table} ${o.table_number}`) : null,
        el('span', { class: 'kage' }, `${age}${T.min}`)),
      el('ul', { class: 'klines' }, lines.map((l) => el('li', {},
        el('span', { class: 'kqty' }, `${l.quantity}`), el('span', { class: 'kname' }, l.name,
          l.options.length ? el('span', { class: 'kopts' }, l.options.map((x) => x.choice).join(', ')) : null)))),
      o.special_requests ? el('p', { class: 'kreq' }, `${T.request}: ${o.special_requests}`) : null);
  }

  function renderUndo() {
    const last = bumps[bumps.length - 1];
    undoBar.classList.toggle('hidden', !last);
    if (!last) return;
    undoBar.replaceChildren(el('span', { class: 'grow' }, `${T.bumped}: `, el('strong', {}, last.order_number),
      last.table_number ? ` · ${T.table} ${last.table_number}` : ''),
    el('button', { type: 'button', class: 'warn', id: 'undo-bump', onclick: undo }, `↶ ${T.undo} ${last.order_number}`));
  }

  async function bump(o) {
    if (busy.has(o.order_id)) return;
    busy.add(o.order_id);
    render();
    const res = await Owner.call(`/api/v1/restaurants/me/orders/${o.order_id}/ready`, { method: 'POST', body: {} });
    busy.delete(o.order_id);
    if (res.status === 200) {
      o.status = res.body.status;
      bumps.push({ order_id: o.order_id, order_number: o.order_number, table_number: o.table_number });
      if (bumps.length > 20) bumps.shift();
    } else {
      const current = res.status === 409 && res.body.error.details && res.body.error.details.current_status;
      if (current) o.status = current;
      toast(errorText(res));
    }
    render();
  }

  let undoing = false;
  async function undo() {
    if (undoing) return; // a double tap takes back one bump, not two
    const last = bumps.pop();
    if (!last) return;
    undoing = true;
    renderUndo();
    const res = await Owner.call(`/api/v1/restaurants/me/orders/${last.order_id}/recall`, { method: 'POST', body: {} });
    if (res.status === 200) {
      const o = orders.get(last.order_id);
      if (o) o.status = res.body.status;
    } else {
      toast(errorText(res));
    }
    undoing = false;
    render();
  }

  let lastRefusal = 0;
  const feed = live(async (seq) => `/ws/restaurants/me/orders?token=${encodeURIComponent(await Owner.freshAccess())}${seq !== null ? `&since=${seq}` : ''}`, (msg) => {
    switch (msg.type) {
      case 'SNAPSHOT':
        orders.clear();
        for (const o of msg.orders) orders.set(o.order_id, o);
        break;
      case 'NEW_ORDER':
        orders.set(msg.order_id, msg.order);
        // An item added to the menu since it was loaded: learn its station.
        if (categories.length && msg.order.items.some((l) => !categoryOf.has(l.menu_id))) loadMenu();
        break;
      default: {
        const o = orders.get(msg.order_id);
        if (!o) break;
        for (const k of ['status', 'payment_status']) if (k in msg) o[k] = msg[k];
        if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
      }
    }
    render();
  }, async (up, code) => {
    conn.textContent = up ? '●' : '○';
    conn.className = `pill ${up ? 'ok' : 'bad'}`;
    banner.classList.toggle('hidden', up);
    if (code === 4002) { Owner.logout(); return; }
    if (code !== 1008 && code !== 4001) return;
    if (code === 1008 && Date.now() - lastRefusal < 30000) { Owner.logout(); return; }
    lastRefusal = Date.now();
    await Owner.refresh();
    feed.reconnect();
  });

  function tick() {
    clock.textContent = new Date().toLocaleTimeString(ko ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' });
  }
  tick();
  // Ages move on by themselves: colours change without an event.
  setInterval(() => { tick(); render(); }, 15000);
  loadMenu();
  render();
})();
