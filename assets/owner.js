// OrderSync — the owner's live board (/owner): new / accepted / ready columns fed by the
// owner WebSocket, a sound and highlight on every new order, accept with an ETA, reject with a
// reason, ready, complete; the tables (running tabs, staff calls, settle, clear, move, join);
// the day's history; sold-out toggles; settings; today's totals. Tokens refresh silently.
'use strict';

const Owner = (() => {
  const { api } = OS;
  const KEY = 'os.owner';
  let session = JSON.parse(localStorage.getItem(KEY) || 'null');
  let refreshTimer;
  let refreshing = null;

  function save(body) {
    session = { access: body.access_token, refresh: body.refresh_token, exp: Date.now() + body.expires_in * 1000, user: body.user };
    localStorage.setItem(KEY, JSON.stringify(session));
    scheduleRefresh();
  }
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (session) refreshTimer = setTimeout(refresh, Math.max(5000, session.exp - Date.now() - 60000));
  }
  // Refresh tokens rotate, and presenting a spent one ends the session everywhere (that is how
  // a stolen one is caught). So only one refresh runs at a time, across tabs too (Web Locks),
  // and each first looks whether another tab already refreshed. Only the server's refusal of
  // the refresh token logs out; a network error or a busy server just retries later.
  function refresh() {
    if (!session) return Promise.resolve(false);
    if (!refreshing) {
      const run = () => refreshNow();
      const locked = navigator.locks ? navigator.locks.request('os.owner.refresh', run) : run();
      refreshing = locked.finally(() => { refreshing = null; });
    }
    return refreshing;
  }
  async function refreshNow() {
    const stored = JSON.parse(localStorage.getItem(KEY) || 'null');
    if (!stored) { logout(); return false; }
    if (stored.refresh !== session.refresh && stored.exp > Date.now() + 60000) {
      session = stored; // another tab refreshed meanwhile
      scheduleRefresh();
      return true;
    }
    const res = await api('/api/v1/auth/refresh', { method: 'POST', body: { refresh_token: stored.refresh } });
    if (res.status === 200) { save(res.body); return true; }
    if (res.status === 401 || res.status === 400) { logout(); return false; }
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 15000);
    return false;
  }
  // A token good for at least another minute (for sockets, which cannot retry on a 401).
  async function freshAccess() {
    if (session && session.exp < Date.now() + 60000) await refresh();
    return session && session.access;
  }
  function logout() {
    if (session) api('/api/v1/auth/logout', { method: 'POST', token: session.access });
    session = null;
    localStorage.removeItem(KEY);
    location.reload();
  }
  // API call with the owner's token; one silent refresh on 401.
  async function call(path, options = {}) {
    let res = await api(path, { ...options, token: session && session.access });
    if (res.status === 401 && await refresh()) res = await api(path, { ...options, token: session.access });
    return res;
  }
  return { get session() { return session; }, save, scheduleRefresh, refresh, freshAccess, call, logout };
})();

(() => {
  if (location.pathname !== '/owner') return; // other owner pages only use the session above
  const { t, won, el, api, errorText, live, toast, sheet } = OS;
  const app = document.getElementById('app');
  document.getElementById('lang').textContent = `🌐 ${OS.languageName()}`;
  document.getElementById('lang').onclick = OS.toggleLang;
  const SHOP_ROLES = ['OWNER', 'STAFF', 'KITCHEN'];
  if (!Owner.session || !SHOP_ROLES.includes(Owner.session.user.role)) return loginView();
  // The kitchen's accounts have the kitchen display and nothing else.
  if (Owner.session.user.role === 'KITCHEN') { location.href = '/kitchen'; return; }
  const isOwner = Owner.session.user.role === 'OWNER';
  Owner.scheduleRefresh();
  board();

  function loginView() {
    const email = el('input', { type: 'email', id: 'email', autocomplete: 'username', required: true });
    const password = el('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
    const error = el('div');
    const form = el('form', { class: 'login' },
      el('h2', {}, 'OrderSync'), el('label', { for: 'email' }, t('email')), email,
      el('label', { for: 'password' }, t('password')), password, error,
      el('button', { class: 'primary wide mt', type: 'submit', id: 'login' }, t('login')));
    form.onsubmit = async (e) => {
      e.preventDefault();
      const res = await api('/api/v1/auth/login', { method: 'POST', body: { email: email.value, password: password.value } });
      if (res.status === 200 && SHOP_ROLES.includes(res.body.user.role)) {
        Owner.save(res.body);
        // The kitchen display sends its tablet here to log in, and back.
        const toKitchen = new URLSearchParams(location.search).get('next') === '/kitchen' || res.body.user.role === 'KITCHEN';
        if (toKitchen) location.href = '/kitchen'; else location.reload();
        return;
      }
      const notShop = res.status === 200; // a customer's account: not for this page
      if (notShop) api('/api/v1/auth/logout', { method: 'POST', token: res.body.access_token });
      error.replaceChildren(el('p', { class: 'error' }, res.status === 401 || notShop ? t('loginFailed') : errorText(res)));
    };
    app.replaceChildren(form);
  }

  function board() {
    const logoutButton = document.getElementById('logout');
    logoutButton.textContent = t('logout');
    logoutButton.classList.remove('hidden');
    logoutButton.onclick = Owner.logout;
    const conn = document.getElementById('conn');

    // Sound: on unless the owner turned it off on this device (remembered). Browsers only
    // allow audio after a tap, so until the first tap the header says the sound is off.
    let audio = null;
    let soundWanted = localStorage.getItem('os.sound') !== 'off';
    const soundButton = document.getElementById('sound');
    soundButton.classList.remove('hidden');
    function renderSound() {
      const running = soundWanted && audio && audio.state === 'running';
      soundButton.textContent = running ? t('soundOnShort') : soundWanted ? t('soundBlocked') : t('soundOff');
      soundButton.className = `small ${running ? 'ghost' : 'warn'}`;
      soundButton.id = 'sound';
    }
    function startAudio() {
      if (!soundWanted) return;
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      audio.resume().then(renderSound, renderSound);
      audio.onstatechange = renderSound;
    }
    soundButton.onclick = (e) => {
      e.stopPropagation();
      const running = soundWanted && audio && audio.state === 'running';
      soundWanted = !running;
      localStorage.setItem('os.sound', soundWanted ? 'on' : 'off');
      if (soundWanted) { startAudio(); chime(); }
      renderSound();
    };
    // Any tap on the page unlocks the sound the owner wants.
    document.addEventListener('pointerdown', () => { if (soundWanted && (!audio || audio.state !== 'running')) startAudio(); }, true);
    startAudio();
    renderSound();
    function chime() {
      if (!audio || !soundWanted) return;
      if (audio.state === 'suspended') audio.resume(); // e.g. after the tablet slept
      [0, 0.18, 0.36].forEach((at, i) => {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = [880, 1175, 1568][i];
        gain.gain.setValueAtTime(0.25, audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.16);
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + at);
        osc.stop(audio.currentTime + at + 0.17);
      });
    }

    const orders = new Map();
    const tables = new Map(); // table number → its open party's figures (TABLE_* events)
    const fresh = new Set();
    const liveBanner = el('div', { class: 'banner hidden', id: 'live-down', role: 'alert' }, t('liveDown'));
    const printerBanner = el('div', { class: 'printer-banner hidden', id: 'printer-error', role: 'alert' });
    const shopBanners = el('div', { id: 'shop-status' });
    const stats = el('div', { class: 'stats', id: 'stats' });
    const tabs = el('div', { class: 'tabs noprint' });
    const content = el('div');
    app.replaceChildren(liveBanner, shopBanners, printerBanner, stats, tabs, content);

    // The box in its shop: a moved address that printed QR codes still point at, Toss out of
    // reach (with the switch to counter payment), a clock that jumped, a restart.
    const clockTime = (at) => new Date(at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' });
    let statusTimer = null;
    async function loadStatus() {
      clearTimeout(statusTimer);
      statusTimer = setTimeout(loadStatus, 30000);
      const res = await Owner.call('/api/v1/restaurants/me/status');
      if (res.status !== 200) return;
      const s = res.body;
      const banners = [];
      if (s.qr.moved) {
        const card = s.network.card;
        banners.push(el('div', { class: 'banner blocking', id: 'qr-moved', role: 'alert' },
          el('strong', {}, t('qrMovedTitle')), ' ',
          t('qrMovedText').replaceAll('{host}', s.qr.host).replace('{addresses}', s.network.addresses.join(', ') || '?')
            .replace('{mac}', card ? card.mac_address : '?'),
          isOwner ? el('a', { href: '/owner/qr' }, el('button', { type: 'button', class: 'small' }, t('reprintQr'))) : null));
      }
      const p = s.payments;
      if (p.counter_payment) {
        banners.push(el('div', { class: 'banner warn', id: 'counter-payment', role: 'status' },
          t('counterPaymentOn').replace('{since}', clockTime(p.counter_payment_since)),
          p.reachable === false ? ` ${t('tossStillDown')}` : '',
          el('button', { type: 'button', class: 'small', id: 'switch-online', onclick: () => switchCounter(false) }, t('switchBackOnline'))));
      } else if (p.provider === 'toss' && p.reachable === false) {
        banners.push(el('div', { class: 'banner warn', id: 'toss-down', role: 'alert' },
          t('tossDown').replace('{since}', clockTime(p.since)),
          p.payment_mode === 'PREPAY'
            ? el('button', { type: 'button', class: 'small danger', id: 'switch-counter', onclick: () => switchCounter(true) }, t('switchToCounter')) : null));
      }
      const jump = s.clock.jump;
      if (s.clock.behind_newest_order_seconds || jump) {
        const minutes = Math.round(Math.abs(s.clock.behind_newest_order_seconds || jump.by_seconds) / 60);
        banners.push(el('div', { class: 'banner warn', id: 'clock-warning', role: 'alert' },
          (s.clock.behind_newest_order_seconds ? t('clockBehind') : jump.by_seconds < 0 ? t('clockBack') : t('clockAhead')).replace('{n}', minutes)));
      }
      // Once per restart: the board kept going by itself, but the owner should know.
      const seen = sessionStorage.getItem('os.instance');
      if (s.server.instance && seen && seen !== s.server.instance) {
        const notice = el('div', { class: 'banner ok', id: 'restarted', role: 'status' }, t('serverRestarted').replace('{at}', clockTime(s.server.started_at)));
        banners.push(notice);
        setTimeout(() => notice.remove(), 20000);
      }
      if (s.server.instance) sessionStorage.setItem('os.instance', s.server.instance);
      shopBanners.replaceChildren(...banners);
    }
    async function switchCounter(on) {
      if (on && !confirm(t('switchToCounterConfirm'))) return;
      const res = await Owner.call('/api/v1/restaurants/me/counter-payment', { method: 'POST', body: { enabled: on } });
      if (res.status !== 200) toast(errorText(res));
      loadStatus();
    }
    let tab = 'orders';
    const tabButton = (name, label) => el('button', { type: 'button', class: `small ${tab === name ? 'active' : ''}`, 'data-tab': name,
      onclick: () => {
        if (tab === 'menu' && name !== 'menu' && !MenuEditor.mayLeave()) return;
        tab = name; renderTabs(); render();
      } }, label);
    function renderTabs() {
      const calls = [...tables.values()].reduce((n, x) => n + x.open_calls.length, 0);
      const ownerTabs = isOwner ? [tabButton('reports', t('tabReports')), tabButton('menu', t('tabMenu')), tabButton('printers', t('tabPrinters')),
        tabButton('staff', t('tabStaff')), tabButton('settings', t('tabSettings')),
        el('a', { href: '/owner/qr' }, el('button', { type: 'button', class: 'small' }, t('tabQr')))]
        // Floor staff: sold out (the one menu change that is theirs) and waiting tickets.
        : [tabButton('soldout', t('tabSoldOut')), tabButton('printers', t('tabPrinters'))];
      tabs.replaceChildren(tabButton('orders', t('tabOrders')),
        tabButton('tables', calls ? `${t('tabTables')} · ${t('callOpenLabel')} ${calls}` : t('tabTables')),
        tabButton('history', t('tabHistory')), ...ownerTabs,
        el('a', { href: '/kitchen' }, el('button', { type: 'button', class: 'small' }, t('tabKitchen'))));
    }
    renderTabs();
    async function loadTables() {
      const res = await Owner.call('/api/v1/restaurants/me/tables');
      if (res.status !== 200) return;
      tables.clear();
      for (const x of res.body.tables) tables.set(x.table_number, x);
      renderTabs();
      if (tab === 'tables' || tab === 'orders') render();
    }

    let tableList = []; // the restaurant's tables, when listed in the settings: empty ones show too
    Owner.call('/api/v1/restaurants/me').then((res) => {
      if (res.status !== 200) return;
      document.getElementById('title').textContent = res.body.name;
      document.title = res.body.name;
      tableList = res.body.table_list || [];
      if (tab === 'tables') render();
    });
    // Today's totals, fetched at most every few seconds however busy the board is: every
    // request counts against the per-device rate limit.
    let statsTimer = null;
    let statsAt = 0;
    let statsAgain = false; // asked for while a fetch was on its way: fetch once more after
    function refreshStats() {
      if (!isOwner) return; // the day's money is the owner's to see
      if (statsTimer) { statsAgain = true; return; }
      statsTimer = setTimeout(async () => {
        statsAt = Date.now();
        statsAgain = false;
        const res = await Owner.call('/api/v1/restaurants/me/summary');
        statsTimer = null;
        if (statsAgain) refreshStats();
        if (res.status === 200) {
          // Refunds Toss has not confirmed yet stay in sight until it does.
          const owed = res.body.refunds_pending || [];
          stats.replaceChildren(...[el('span', {}, `${t('todayOrders')}: `, el('strong', {}, res.body.orders)),
            el('span', {}, `${t('todayRevenue')}: `, el('strong', {}, won(res.body.revenue))),
            // Test-mode payments are money nobody paid: shown apart, never in the revenue.
            res.body.test_revenue ? el('span', { class: 'pill warn', id: 'test-revenue' }, `${t('testPayment')}: ${won(res.body.test_revenue)}`) : null,
            owed.length ? el('span', { class: 'pill warn', id: 'refunds-owed', title: owed.map((r) => r.last_error || '').join('\n') },
              `${t('refundsPending')}: ${owed.map((r) => `${r.order_number} ${won(r.amount)}`).join(', ')} · ${t('refundRetrying')}`) : null,
          ].filter(Boolean));
        }
      }, Math.max(0, statsAt + 3000 - Date.now()));
    }
    refreshStats();

    function render() {
      if (tab === 'menu') return MenuEditor.open(content, Owner.call, uploadPhoto);
      if (tab === 'tables') return renderTables();
      if (tab === 'history') return renderHistory();
      if (tab === 'settings') return renderSettings();
      if (tab === 'printers') return renderPrinters();
      if (tab === 'reports') return renderReports();
      if (tab === 'staff') return renderStaff();
      if (tab === 'soldout') return renderSoldOut();
      const columns = [['PENDING', t('colNew')], ['ACCEPTED', t('colAccepted')], ['READY', t('colReady')]];
      const sorted = [...orders.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
      content.replaceChildren(...[callStrip()].filter(Boolean), el('div', { class: 'board' }, columns.map(([status, label]) => {
        // New orders newest first: the one that just came in is always in sight.
        const list = sorted.filter((o) => o.status === status);
        if (status === 'PENDING') list.reverse();
        return el('section', { class: 'column', 'data-status': status },
          el('h2', {}, label, el('span', { class: 'pill' }, list.length)), list.map(card));
      })));
    }

    // Open staff calls, oldest first, above the columns: acknowledged with one tap.
    function callStrip() {
      const calls = [...tables.values()].flatMap((x) => x.open_calls.map((c) => ({ ...c, table: x.table_number })))
        .sort((a, b) => a.created_at.localeCompare(b.created_at));
      if (!calls.length) return null;
      return el('div', { class: 'callstrip', id: 'open-calls' }, calls.map((c) => el('div', { class: `callchip ${c.kind === 'BILL' ? 'bill' : ''}`, 'data-call': c.id },
        el('strong', {}, `${t('table')} ${c.table}`), ` ${t(`call_${c.kind}`)}`, c.note ? el('span', { class: 'muted' }, ` “${c.note}”`) : null,
        el('button', { type: 'button', class: 'small primary', onclick: () => ackCall(c.table, c.id) }, t('ack')))));
    }
    async function ackCall(table, id) {
      const res = await Owner.call(`/api/v1/restaurants/me/tables/${encodeURIComponent(table)}/calls/${id}/ack`, { method: 'POST', body: {} });
      if (res.status !== 200) toast(errorText(res));
    }

    const since = (at) => {
      if (!at) return '';
      const minutes = Math.floor((Date.now() - new Date(at)) / 60000);
      return minutes < 1 ? t('justNow') : `${minutes}${t('minutesAgo')}`;
    };
    function renderTables() {
      const numbers = [...new Set([...tableList, ...tables.keys()])]
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      if (!numbers.length) { content.replaceChildren(el('p', { class: 'wrap muted' }, t('noOpenTables'))); return; }
      content.replaceChildren(el('div', { class: 'tablegrid', id: 'tables' }, numbers.map((number) => {
        const x = tables.get(number);
        if (!x) {
          return el('div', { class: 'tabletile empty', 'data-table': number },
            el('span', { class: 'tnum' }, number), el('span', { class: 'muted' }, t('emptyTable')));
        }
        const bill = x.open_calls.some((c) => c.kind === 'BILL');
        const state = bill ? 'bill' : x.open_calls.length ? 'call' : x.orders_waiting ? 'waiting' : 'eating';
        const label = { bill: t('billRequested'), call: x.open_calls.map((c) => t(`call_${c.kind}`)).join(' '), waiting: t('waitingFood'), eating: t('eating') }[state];
        return el('button', { type: 'button', class: `tabletile ${state}`, 'data-table': x.table_number, onclick: () => openTable(x.table_number) },
          el('div', { class: 'row' }, el('span', { class: 'tnum grow' }, x.table_number), el('span', { class: 'pill' }, label)),
          el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabTotal')), el('strong', {}, won(x.total_amount))),
          x.remaining_amount ? el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabRemaining')), el('strong', { class: 'owe' }, won(x.remaining_amount))) : null,
          x.overpaid_amount ? el('span', { class: 'pill bad' }, `${t('overpaid')} ${won(x.overpaid_amount)}`) : null,
          el('div', { class: 'muted small' }, `${t('ordersCount')} ${x.orders_count} · ${t('sinceLastOrder')} ${since(x.last_order_at)}`));
      })));
    }

    async function openTable(table) {
      const path = `/api/v1/restaurants/me/tables/${encodeURIComponent(table)}`;
      const res = await Owner.call(path);
      if (res.status !== 200) { toast(errorText(res)); loadTables(); return; }
      const tabData = res.body;
      const amount = el('input', { type: 'number', inputmode: 'numeric', min: '1', max: String(tabData.remaining_amount), value: String(tabData.remaining_amount), id: 'settle-amount' });
      const target = el('input', { type: 'text', maxlength: '20', id: 'table-target', placeholder: t('tableNumber') });
      const s = sheet([
        el('h3', {}, `${t('table')} ${tabData.table_number}`),
        el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabTotal')), el('strong', {}, won(tabData.total_amount))),
        el('div', { class: 'row' }, el('span', { class: 'grow muted' }, t('tabPaid')), won(tabData.paid_amount)),
        el('div', { class: 'total' }, el('span', {}, t('tabRemaining')), el('span', { id: 'sheet-remaining' }, won(tabData.remaining_amount))),
        tabData.overpaid_amount ? el('p', { class: 'error' }, `${t('overpaid')}: ${won(tabData.overpaid_amount)}`) : null,
        ...tabData.calls.filter((c) => c.status === 'OPEN').map((c) => el('div', { class: 'row callchip' }, el('span', { class: 'grow' }, t(`call_${c.kind}`), c.note ? ` “${c.note}”` : ''),
          el('button', { type: 'button', class: 'small primary', onclick: async () => { await ackCall(tabData.table_number, c.id); s.close(); openTable(tabData.table_number); } }, t('ack')))),
        ...[...tabData.orders].reverse().map((o) => el('div', { class: 'line' },
          el('div', { class: 'row' }, el('strong', { class: 'grow' }, o.order_number), el('span', { class: 'pill' }, t(`status_${o.status}`)), won(o.total_amount)),
          el('div', { class: 'muted' }, o.items.map((l) => `${l.name} × ${l.quantity}`).join(', ')))),
        tabData.remaining_amount > 0 ? el('div', { class: 'mt' }, el('label', { for: 'settle-amount' }, t('settleAmount')), amount,
          el('div', { class: 'row mt' }, ['CARD', 'CASH', 'OTHER'].map((method) => el('button', { type: 'button', class: 'primary grow', 'data-method': method, onclick: async (e) => {
            e.target.disabled = true;
            const r = await Owner.call(`${path}/settle`, { method: 'POST', body: { method, amount: Number(amount.value) } });
            if (r.status === 200) { toast(t('settled')); s.close(); refreshStats(); openTable(tabData.table_number); } else { e.target.disabled = false; toast(errorText(r)); }
          } }, t(`method_${method}`))))) : null,
        el('div', { class: 'row mt' }, target,
          el('button', { type: 'button', onclick: () => moveOrMerge('move', { to: target.value.trim() }) }, t('move')),
          el('button', { type: 'button', onclick: () => moveOrMerge('merge', { into: target.value.trim() }) }, t('merge'))),
        el('button', { type: 'button', class: 'danger wide mt', id: 'close-table', onclick: async () => {
          const unpaid = tabData.remaining_amount > 0;
          if (unpaid && !confirm(`${t('closeUnpaid')} (${won(tabData.remaining_amount)})`)) return;
          const r = await Owner.call(`${path}/close`, { method: 'POST', body: { confirm_unpaid: unpaid } });
          if (r.status === 200) s.close(); else toast(errorText(r));
        } }, t('closeTable')),
      ]);
      async function moveOrMerge(action, body) {
        if (!target.value.trim()) { target.focus(); return; }
        const r = await Owner.call(`${path}/${action}`, { method: 'POST', body });
        if (r.status === 200) s.close(); else toast(errorText(r));
      }
    }

    let historyDate = null;
    let historyQuery = '';
    async function renderHistory() {
      const date = el('input', { type: 'date', id: 'history-date', value: historyDate || '' });
      const query = el('input', { type: 'search', id: 'history-q', placeholder: t('search'), value: historyQuery, maxlength: '20' });
      const list = el('div', { id: 'history' });
      content.replaceChildren(el('div', { class: 'wrap' }, el('div', { class: 'row mt' }, date, query), list));
      let timer = null;
      async function load() {
        const params = new URLSearchParams();
        if (historyDate) params.set('date', historyDate);
        if (historyQuery) params.set('q', historyQuery);
        const res = await Owner.call(`/api/v1/restaurants/me/orders/history?${params}`);
        if (res.status !== 200) { list.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
        if (!historyDate) date.value = res.body.business_day;
        const time = (at) => new Date(at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' });
        list.replaceChildren(...(res.body.orders.length ? res.body.orders.map((o) => el('div', { class: 'line row', 'data-order': o.order_id },
          el('strong', {}, o.order_number), o.table_number ? el('span', { class: 'pill' }, `${t('table')} ${o.table_number}`) : null,
          el('span', { class: 'muted grow' }, time(o.created_at)),
          el('span', { class: `pill ${['REJECTED', 'CANCELLED'].includes(o.status) ? 'bad' : o.status === 'COMPLETED' ? 'ok' : ''}` }, t(`status_${o.status}`)),
          won(o.total_amount),
          el('button', { type: 'button', class: 'small ghost', 'data-log': o.order_id, onclick: () => showLog(o) }, t('orderLog')))) : [el('p', { class: 'muted' }, t('noOrdersYet'))]));
      }
      date.onchange = () => { historyDate = date.value || null; load(); };
      query.oninput = () => { historyQuery = query.value.trim(); clearTimeout(timer); timer = setTimeout(load, 250); };
      load();
    }

    // Who did what to an order, and when (the guest and the box itself are named as such).
    async function showLog(o) {
      const res = await Owner.call(`/api/v1/restaurants/me/orders/${o.order_id}/events`);
      if (res.status !== 200) return toast(errorText(res));
      const time = (at) => new Date(at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      sheet([el('h3', {}, `${t('orderLog')} ${o.order_number}`), el('div', { id: 'order-log' }, res.body.events.map((e) => el('div', { class: 'line row' },
        el('span', { class: 'muted' }, time(e.at)),
        el('span', { class: 'grow' }, e.status ? t(`status_${e.status}`) : e.type, e.reason ? ` — ${e.reason}` : ''),
        el('strong', {}, e.actor && e.actor.role !== 'CUSTOMER' ? `${e.actor.name} (${t(`role_${e.actor.role}`)})`
          : e.actor || e.type === 'NEW_ORDER' ? t('actorGuest') : t('actorSystem')))))]);
    }

    // The shop's accounts: floor staff and kitchen. Only the owner sees this tab.
    async function renderStaff() {
      const res = await Owner.call('/api/v1/restaurants/me/staff');
      if (res.status !== 200) { content.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      const fields = {
        name: el('input', { type: 'text', id: 'staff-name', maxlength: '50', autocomplete: 'off' }),
        email: el('input', { type: 'email', id: 'staff-email', autocomplete: 'off' }),
        role: el('select', { id: 'staff-role' }, ['STAFF', 'KITCHEN'].map((r) => el('option', { value: r }, t(`role_${r}`)))),
        password: el('input', { type: 'password', id: 'staff-password', autocomplete: 'new-password', minlength: '8' }),
      };
      const errors = new Map(Object.keys(fields).map((k) => [k, el('p', { class: 'field-error hidden', id: `staff-error-${k}` })]));
      const field = (k, label) => el('div', {}, el('label', { for: fields[k].id }, label), fields[k], errors.get(k));
      const form = el('form', { class: 'card' }, el('h3', {}, t('addStaff')), el('p', { class: 'muted' }, t('staffHint')),
        field('name', t('staffName')), field('email', t('email')), field('role', t('staffRole')), field('password', t('password')),
        el('button', { type: 'submit', class: 'primary mt', id: 'staff-add' }, t('addStaff')));
      form.onsubmit = async (e) => {
        e.preventDefault();
        errors.forEach((p) => p.classList.add('hidden'));
        const body = Object.fromEntries(Object.entries(fields).map(([k, input]) => [k, input.value]));
        const created = await Owner.call('/api/v1/restaurants/me/staff', { method: 'POST', body });
        if (created.status === 201) { toast(t('saved')); return renderStaff(); }
        const at = created.body && created.body.error && created.body.error.details && created.body.error.details.field;
        if (at && errors.has(at)) { errors.get(at).textContent = errorText(created); errors.get(at).classList.remove('hidden'); fields[at].focus(); } else toast(errorText(created));
      };
      const row = (s) => el('div', { class: 'line row', 'data-staff': s.email },
        el('strong', { class: 'grow' }, s.name, el('span', { class: 'muted' }, ` ${s.email}`)),
        el('span', { class: 'pill' }, t(`role_${s.role}`)),
        el('button', { type: 'button', class: 'small', onclick: () => resetPassword(s) }, t('resetPassword')),
        el('button', { type: 'button', class: 'small danger', onclick: async () => {
          if (!confirm(t('removeStaffConfirm').replace('{name}', s.name))) return;
          const gone = await Owner.call(`/api/v1/restaurants/me/staff/${s.id}`, { method: 'DELETE' });
          if (gone.status === 204) renderStaff(); else toast(errorText(gone));
        } }, t('removeStaff')));
      content.replaceChildren(el('div', { class: 'wrap' },
        el('div', { id: 'staff-list' }, res.body.staff.length ? res.body.staff.map(row) : el('p', { class: 'muted' }, t('noStaff'))), form));
    }

    function resetPassword(s) {
      const input = el('input', { type: 'password', id: 'reset-password', autocomplete: 'new-password', minlength: '8' });
      const error = el('p', { class: 'field-error hidden' });
      const box = sheet([el('h3', {}, `${t('resetPassword')}: ${s.name}`), el('p', { class: 'muted' }, t('resetPasswordHint')),
        el('label', { for: 'reset-password' }, t('newPassword')), input, error,
        el('button', { type: 'button', class: 'primary wide mt', onclick: async () => {
          const res = await Owner.call(`/api/v1/restaurants/me/staff/${s.id}/password`, { method: 'POST', body: { password: input.value } });
          if (res.status === 204) { box.close(); toast(t('saved')); return; }
          error.textContent = errorText(res); error.classList.remove('hidden');
        } }, t('save'))]);
      input.focus();
    }

    // Floor staff mark items sold out and back, one tap each (the rest of the menu is the owner's).
    async function renderSoldOut() {
      const res = await Owner.call('/api/v1/restaurants/me/menu');
      if (res.status !== 200) { content.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      const button = (item) => el('button', { type: 'button', class: `small ${item.is_available ? 'danger' : 'primary'}`, 'data-soldout': item.id, onclick: async () => {
        const changed = await Owner.call(`/api/v1/restaurants/me/menu/items/${item.id}`, { method: 'PATCH', body: { is_available: !item.is_available } });
        if (changed.status === 200) { item.is_available = changed.body.is_available; renderItems(); } else toast(errorText(changed));
      } }, item.is_available ? t('markSoldOut') : t('markOnSale'));
      const list = el('div', { class: 'wrap' });
      function renderItems() {
        list.replaceChildren(...res.body.categories.map((c) => el('section', {}, el('h3', {}, c.name),
          c.items.map((item) => el('div', { class: `line row ${item.is_available ? '' : 'soldout'}` }, el('span', { class: 'grow' }, item.name), button(item))))));
      }
      renderItems();
      content.replaceChildren(list);
    }

    // The restaurant's settings; each field shows the server's complaint about it in place.
    async function renderSettings() {
      const res = await Owner.call('/api/v1/restaurants/me');
      if (res.status !== 200) { content.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      const r0 = res.body;
      const name = el('input', { type: 'text', id: 'settings-name', maxlength: '100', value: r0.name });
      const ordering = el('input', { type: 'checkbox', id: 'settings-ordering', checked: r0.table_ordering_enabled });
      const online = r0.online_payments;
      const mode = el('select', { id: 'settings-payment-mode' }, ['PREPAY', 'POSTPAY'].map((m) => el('option', { value: m, selected: r0.payment_mode === m, disabled: m === 'PREPAY' && !online }, t(`mode_${m}`))));
      const zone = el('input', { type: 'text', id: 'settings-time-zone', maxlength: '64', value: r0.time_zone, list: 'time-zones' });
      const zones = el('datalist', { id: 'time-zones' }, ['Asia/Seoul', 'Asia/Tokyo', 'Asia/Shanghai', 'UTC'].map((z) => el('option', { value: z })));
      const verification = el('select', { id: 'settings-verification' }, ['QR', 'OPEN'].map((v) => el('option', { value: v, selected: r0.table_verification === v }, t(`verify_${v}`))));
      const message = el('input', { type: 'text', id: 'ready-message', maxlength: '100', placeholder: t('readyMessageHint'), value: r0.ready_message || '' });
      const list = el('input', { type: 'text', id: 'table-list', maxlength: '500', placeholder: '1-12', value: r0.tables || '' });
      const fields = { name, table_ordering_enabled: ordering, payment_mode: mode, time_zone: zone, table_verification: verification, ready_message: message, tables: list };
      const errors = new Map(Object.keys(fields).map((k) => [k, el('p', { class: 'field-error hidden', id: `error-${k}` })]));
      const row = (key, label, input, hint) => el('div', { class: 'setting' }, el('label', { for: input.id }, label), input, hint ? el('p', { class: 'muted' }, hint) : null, errors.get(key));
      const paymentStatus = online === 'toss' ? t('payments_toss') : online === 'simulated' ? t('payments_simulated') : t('payments_off');
      content.replaceChildren(el('div', { class: 'wrap settings' },
        row('name', t('settingsName'), name),
        el('div', { class: 'setting' }, el('label', { class: 'choice', for: 'settings-ordering' }, ordering, t('settingsOrdering')), el('p', { class: 'muted' }, t('settingsOrderingHint')), errors.get('table_ordering_enabled')),
        row('payment_mode', t('settingsPaymentMode'), mode, null),
        el('p', { class: `pill ${online === 'toss' ? 'ok' : 'warn'}`, id: 'payments-status' }, paymentStatus),
        row('time_zone', t('settingsTimeZone'), zone, t('settingsTimeZoneHint')), zones,
        row('table_verification', t('settingsVerification'), verification, t('settingsVerificationHint')),
        row('ready_message', t('readyMessage'), message, `${t('readyMessageHint')} — ${t('readyDefault')}`),
        row('tables', t('tableListLabel'), list, t('tableListHint')),
        el('button', { type: 'button', class: 'primary', id: 'save-settings', onclick: async () => {
          for (const e of errors.values()) e.classList.add('hidden');
          const body = { name: name.value.trim(), table_ordering_enabled: ordering.checked, payment_mode: mode.value, time_zone: zone.value.trim(),
            table_verification: verification.value, ready_message: message.value.trim() || null, tables: list.value.trim() || null };
          // Only a change of payment mode is sent: a PREPAY restaurant on a box without payment
          // keys must still be able to save its other settings.
          if (body.payment_mode === r0.payment_mode) delete body.payment_mode;
          const r = await Owner.call('/api/v1/restaurants/me', { method: 'PATCH', body });
          if (r.status === 200) {
            r0.payment_mode = r.body.payment_mode;
            tableList = r.body.table_list || [];
            document.getElementById('title').textContent = r.body.name;
            toast(t('saved'));
            return;
          }
          const field = r.body && r.body.error && r.body.error.details && r.body.error.details.field;
          const box = field && errors.get(field.split(/[.[]/)[0]);
          if (box) { box.textContent = errorText(r); box.classList.remove('hidden'); fields[field.split(/[.[]/)[0]].focus(); } else toast(errorText(r));
        } }, t('save')), deviceStatus));
      renderDeviceStatus();
    }

    // What `ordersync doctor` tells, on the settings screen: the box in its shop.
    const deviceStatus = el('section', { class: 'card mt', id: 'device-status' });
    async function renderDeviceStatus() {
      const res = await Owner.call('/api/v1/restaurants/me/status?details=true');
      if (res.status !== 200) { deviceStatus.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      const s = res.body;
      const line = (label, value, ok) => el('div', { class: 'line row' }, el('span', { class: 'grow' }, label),
        el('strong', { class: ok === false ? 'error' : '' }, value));
      const gib = (bytes) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
      const reach = s.payments.reachable;
      deviceStatus.replaceChildren(el('h3', {}, t('deviceStatus')),
        ...s.network.guest_reachable.map((a) => line(`${t('guestPageOn')} ${a.address}:${a.port}`, a.reachable ? '✓' : '✗', a.reachable)),
        s.network.card ? line(t('macAddress'), `${s.network.card.mac_address} (${s.network.card.interface})`) : null,
        line(t('printedQr'), s.qr.printed_base_url ? `${s.qr.printed_base_url} — ${t(`qr_${s.qr.status}`)}` : t('qrNotPrinted'), !s.qr.moved),
        s.certificate ? line(t('certificate'), `${s.certificate.names.slice(0, 4).join(', ')}${s.certificate.names.length > 4 ? ' …' : ''}${s.certificate.not_after ? ` · ${t('expires')} ${s.certificate.not_after}` : ''}`) : null,
        s.disk ? line(t('diskFree'), `${gib(s.disk.available_bytes)} / ${gib(s.disk.total_bytes)}`, s.disk.available_bytes > 1024 ** 3) : null,
        line(t('clockNow'), new Date(s.clock.now).toLocaleString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US'), !(s.clock.jump || s.clock.behind_newest_order_seconds)),
        line('Toss', s.payments.provider !== 'toss' ? t(`payments_${s.payments.provider || 'off'}`) : reach === false ? t('tossUnreachable') : reach ? t('tossReachable') : '…', reach !== false));
    }

    function card(o) {
      const payment = o.payment_mode === 'POSTPAY' && o.payment_status === 'PENDING'
        ? el('span', { class: 'pill' }, t('postpay'))
        : el('span', { class: `pill ${o.payment_status === 'PAID' ? 'ok' : 'warn'}` }, t(`pay_${o.payment_status}`));
      // Paid in test mode: no money came in, and the card says so.
      const test = o.test_payment ? el('span', { class: 'pill warn test-payment' }, t('testPayment')) : null;
      const actions = el('div', { class: 'actions' });
      if (o.status === 'PENDING') {
        // A PREPAY order cannot be accepted before it is paid: the buttons wait for the payment.
        const unpaid = o.payment_mode === 'PREPAY' && o.payment_status === 'PENDING';
        if (unpaid) actions.append(el('span', { class: 'pill warn' }, t('awaitingPayment')));
        for (const m of [5, 10, 15, 20, 30]) {
          actions.append(el('button', { type: 'button', class: 'small primary', 'data-eta': m, disabled: unpaid,
            onclick: () => act(o, 'accept', { estimated_time_minutes: m }) }, `${t('accept')} ${m}${t('minutes')}`));
        }
        actions.append(el('button', { type: 'button', class: 'small danger', onclick: () => rejectDialog(o) }, t('reject')));
      } else if (o.status === 'ACCEPTED') {
        actions.append(el('button', { type: 'button', class: 'primary', onclick: () => act(o, 'ready') }, t('markReady')));
      } else if (o.status === 'READY') {
        actions.append(el('button', { type: 'button', class: 'primary', onclick: () => act(o, 'complete') }, t('complete')));
      }
      if (printers.length && o.status !== 'PENDING') {
        actions.append(el('button', { type: 'button', class: 'small ghost', 'data-reprint': o.order_id, onclick: () => reprint(o) }, `🖨 ${t('reprint')}`));
      }
      const time = new Date(o.created_at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' });
      return el('article', { class: `order${fresh.has(o.order_id) ? ' fresh' : ''}`, 'data-order': o.order_id },
        el('div', { class: 'head' }, el('span', { class: 'num' }, o.order_number),
          o.table_number ? el('span', { class: 'pill' }, `${t('table')} ${o.table_number}`) : null,
          el('span', { class: 'muted' }, time), payment, test),
        el('ul', {}, o.items.map((l) => el('li', {}, `${l.name} × ${l.quantity}`,
          l.options.length ? el('span', { class: 'muted' }, ` (${l.options.map((x) => x.choice).join(', ')})`) : null))),
        o.special_requests ? el('p', { class: 'notice' }, o.special_requests) : null,
        el('div', { class: 'row' }, el('strong', { class: 'grow' }, won(o.total_amount)),
          o.estimated_ready_at && o.status === 'ACCEPTED'
            ? el('span', { class: 'muted' }, new Date(o.estimated_ready_at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' })) : null),
        actions);
    }

    // A photo for the menu: multipart, so not through the JSON helper.
    async function uploadPhoto(file) {
      const form = new FormData();
      form.append('file', file);
      try {
        const res = await fetch('/api/v1/restaurants/me/images', { method: 'POST', headers: { Authorization: `Bearer ${await Owner.freshAccess()}` }, body: form });
        return { status: res.status, body: await res.json().catch(() => null) };
      } catch (e) {
        return { status: 0, body: null };
      }
    }

    // Sales over a range of business days, as bars and a table, and as a CSV for a spreadsheet.
    // `settled`: the range is the server's business days, or the owner's own choice.
    const reportRange = { from: null, to: null, group: 'day', settled: false };
    async function renderReports() {
      if (!reportRange.settled) {
        // "Today" is the restaurant's business day, in its time zone: the server's to say (a
        // tablet's own clock or zone may differ, and just after midnight the two disagree).
        // If it cannot say now, the tablet's date stands in and it is asked again next time.
        const res = await Owner.call('/api/v1/restaurants/me/reports/sales?group=day');
        if (tab !== 'reports') return; // the owner moved on meanwhile
        const today = res.status === 200 ? res.body.to : new Date().toLocaleDateString('sv-SE');
        const weekBefore = new Date(`${today}T00:00:00Z`);
        weekBefore.setUTCDate(weekBefore.getUTCDate() - 6);
        reportRange.to = today;
        reportRange.from = weekBefore.toISOString().slice(0, 10);
        reportRange.settled = res.status === 200;
      }
      drawReports();
    }

    function drawReports() {
      const from = el('input', { type: 'date', id: 'report-from', value: reportRange.from });
      const to = el('input', { type: 'date', id: 'report-to', value: reportRange.to });
      const group = el('select', { id: 'report-group' }, ['day', 'hour', 'item', 'category', 'payment_method'].map((g) =>
        el('option', { value: g, selected: reportRange.group === g }, t(`group_${g}`))));
      const out = el('div', { id: 'report' });
      const query = () => `from=${reportRange.from}&to=${reportRange.to}&group=${reportRange.group}`;
      const download = el('button', { type: 'button', class: 'small', id: 'report-csv', onclick: async () => {
        const res = await fetch(`/api/v1/restaurants/me/reports/sales.csv?${query()}`, { headers: { Authorization: `Bearer ${await Owner.freshAccess()}` } });
        if (!res.ok) { toast(errorText({ status: res.status, body: await res.json().catch(() => null) })); return; }
        const href = URL.createObjectURL(await res.blob());
        const link = el('a', { href, download: `sales-${reportRange.from}-${reportRange.to}.csv` });
        document.body.append(link); link.click(); link.remove();
        setTimeout(() => URL.revokeObjectURL(href), 10000);
      } }, `⬇ ${t('downloadCsv')}`);
      content.replaceChildren(el('div', { class: 'wrap' }, el('div', { class: 'row mt' }, from, to, group, download), out));
      let asked = 0;
      async function load() {
        const mine = ++asked;
        const res = await Owner.call(`/api/v1/restaurants/me/reports/sales?${query()}`);
        if (mine !== asked) return; // a newer range was asked for meanwhile
        if (res.status !== 200) { out.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
        const r = res.body;
        // Bars: what was sold, or for payment methods what each took in.
        const value = (f) => (r.group === 'payment_method' ? f.online + f.counter + f.test : f.gross_sales);
        const top = Math.max(1, ...r.rows.map((x) => value(x)));
        const label = (x) => (r.group === 'hour' ? `${x.label}${t('hourSuffix')}` : r.group === 'payment_method' ? t(`method_${x.label}`) : x.label);
        const totals = r.totals;
        out.replaceChildren(
          el('div', { class: 'stats mt report-totals' },
            el('span', {}, `${t('reportOrders')} `, el('strong', {}, totals.orders)),
            el('span', {}, `${t('reportGross')} `, el('strong', {}, won(totals.gross_sales))),
            el('span', {}, `${t('reportNet')} `, el('strong', { id: 'report-net' }, won(totals.net))),
            totals.refunds ? el('span', {}, `${t('reportRefunds')} ${won(totals.refunds)}`) : null,
            totals.test ? el('span', { class: 'pill warn' }, `${t('testPayment')} ${won(totals.test)}`) : null),
          r.rows.length ? el('div', { class: 'bars', id: 'report-chart' }, r.rows.map((x) => el('div', { class: 'barrow' },
            el('span', { class: 'barlabel' }, label(x)),
            el('span', { class: 'sbar', 'data-width': Math.round(100 * value(x) / top) }),
            el('span', { class: 'barvalue' }, won(value(x)))))) : el('p', { class: 'muted' }, t('noSales')),
          el('table', { class: 'report-table' }, el('thead', {}, el('tr', {}, [t('reportKey'), t('reportOrders'), t('reportItems'), t('reportGross'), t('reportOnline'), t('reportCounter'), t('reportRefunds'), t('reportNet')].map((h) => el('th', {}, h)))),
            el('tbody', {}, [...r.rows.map((x) => ({ ...x, label: label(x) })), { label: t('total'), ...totals }].map((x) => el('tr', {}, el('td', {}, x.label),
              [x.orders, x.items].map((n) => el('td', {}, n)), [x.gross_sales, x.online, x.counter, x.refunds, x.net].map((n) => el('td', {}, won(n))))))));
        // Bar widths without inline styles (the page's CSP allows no inline style attribute).
        for (const bar of out.querySelectorAll('.sbar')) bar.style.width = `${bar.dataset.width}%`;
      }
      for (const input of [from, to, group]) input.onchange = () => { Object.assign(reportRange, { from: from.value, to: to.value, group: group.value, settled: true }); load(); };
      load();
    }

    async function reprint(o) {
      const res = await Owner.call(`/api/v1/restaurants/me/orders/${o.order_id}/reprint`, { method: 'POST', body: {} });
      if (res.status !== 202) toast(errorText(res));
      else toast(res.body.jobs.length ? `${t('reprintQueued')} · ${o.order_number}` : t('noPrinterForOrder'));
      loadPrintJobs();
    }

    // Printers, and the tickets they have not printed yet. Polled while there are printers: a
    // printer going wrong is the box's own discovery, not an order event.
    let printers = [];
    let printJobs = [];
    const printerName = (id) => (printers.find((p) => p.id === id) || {}).name || '?';
    function problemText(error) {
      if (!error) return '';
      if (/cannot reach|timed out/.test(error)) return t('err_reach');
      if (/out of paper/.test(error)) return t('err_paper');
      if (/offline/.test(error)) return t('err_offline');
      if (/did not (take|confirm)|closed the connection|dropped|broke|stopped taking/.test(error)) return `${t('err_silent')} — ${error}`;
      return error;
    }
    async function loadPrinters() {
      const res = await Owner.call('/api/v1/restaurants/me/printers');
      if (res.status !== 200) return;
      printers = res.body.printers;
      await loadPrintJobs();
    }
    async function loadPrintJobs() {
      if (!printers.length) { printJobs = []; renderPrinterBanner(); return; }
      const res = await Owner.call('/api/v1/restaurants/me/print-jobs');
      if (res.status !== 200) return;
      printJobs = res.body.jobs;
      renderPrinterBanner();
      if (tab === 'printers') renderJobs();
    }
    function renderPrinterBanner() {
      const failing = printJobs.filter((j) => j.last_error);
      printerBanner.classList.toggle('hidden', !failing.length);
      if (!failing.length) return;
      const byPrinter = new Map();
      for (const j of failing) byPrinter.set(j.printer_id, [...(byPrinter.get(j.printer_id) || []), j]);
      const waitingFor = (id) => printJobs.filter((j) => j.printer_id === id);
      printerBanner.replaceChildren(...[...byPrinter].map(([id, jobs]) => el('div', { class: 'row', 'data-printer': id },
        el('span', { class: 'grow' }, el('strong', {}, `🖨 ${t('printerError')} — ${printerName(id)}`), `: ${problemText(jobs[0].last_error)} · ${t('waitingJobs')} `,
          el('strong', {}, waitingFor(id).map((j) => j.order_number || t(`kind_${j.kind}`)).join(', '))),
        el('button', { type: 'button', class: 'small', onclick: () => { tab = 'printers'; renderTabs(); render(); } }, t('showPrinters')))));
    }
    setInterval(() => { if (printers.length) loadPrintJobs(); }, 5000);
    loadPrinters().then(() => { if (tab === 'orders') render(); });

    const jobsBox = el('div', { id: 'print-jobs' });
    function renderJobs() {
      jobsBox.replaceChildren(el('h2', { class: 'sub mt' }, t('waitingJobs')), ...(printJobs.length ? printJobs.map((j) => el('div', { class: 'line row', 'data-job': j.id },
        el('strong', {}, j.order_number || t(`kind_${j.kind}`)), el('span', { class: 'pill' }, t(`kind_${j.kind}`)),
        el('span', { class: 'grow muted' }, `${printerName(j.printer_id)}${j.last_error ? ` · ${problemText(j.last_error)} · ${t('attempts')} ${j.attempts}` : ''}`),
        el('button', { type: 'button', class: 'small', onclick: () => settleJob(j, 'retry') }, t('retryNow')),
        el('button', { type: 'button', class: 'small danger', onclick: () => { if (confirm(t('dropConfirm'))) settleJob(j, 'drop'); } }, t('dropJob'))))
        : [el('p', { class: 'muted' }, t('allPrinted'))]));
    }
    async function settleJob(job, action) {
      const res = await Owner.call(`/api/v1/restaurants/me/print-jobs/${job.id}/${action}`, { method: 'POST', body: {} });
      if (res.status !== 200) toast(errorText(res));
      loadPrintJobs();
    }

    async function renderPrinters() {
      const [list, menu] = await Promise.all([Owner.call('/api/v1/restaurants/me/printers'), Owner.call('/api/v1/restaurants/me/menu')]);
      if (list.status !== 200 || menu.status !== 200) { content.replaceChildren(el('p', { class: 'error' }, errorText(list.status !== 200 ? list : menu))); return; }
      printers = list.body.printers;
      // Floor staff retry or drop waiting tickets; setting printers up is the owner's.
      if (!isOwner) {
        content.replaceChildren(el('div', { class: 'wrap' }, jobsBox));
        await loadPrintJobs();
        renderJobs();
        return;
      }
      const categories = menu.body.categories;
      function form(p) {
        const id = p ? p.id : 'new';
        const field = (name, input) => el('div', {}, el('label', { for: `${name}-${id}` }, t(name === 'name' ? 'printerName' : name === 'address' ? 'printerAddress' : name)), input);
        const name = el('input', { type: 'text', id: `name-${id}`, maxlength: '40', value: p ? p.name : '', placeholder: '주방' });
        const address = el('input', { type: 'text', id: `address-${id}`, maxlength: '100', value: p ? p.address : '', placeholder: '192.168.0.50:9100', inputmode: 'url' });
        const width = el('select', { id: `paperWidth-${id}` }, [80, 58].map((w) => el('option', { value: w, selected: p ? p.paper_width_mm === w : w === 80 }, `${w}mm`)));
        const encoding = el('select', { id: `encoding-${id}` }, ['EUC-KR', 'UTF-8'].map((e) => el('option', { value: e, selected: p ? p.encoding === e : e === 'EUC-KR' }, e)));
        const printOn = el('select', { id: `printOn-${id}` }, ['ACCEPTED', 'NEW_ORDER'].map((x) => el('option', { value: x, selected: p ? p.print_on === x : x === 'ACCEPTED' }, t(`printOn_${x}`))));
        const boxes = categories.map((c) => el('label', { class: 'choice' },
          el('input', { type: 'checkbox', value: c.id, checked: p ? p.category_ids.includes(c.id) : false }), c.name));
        const body = () => ({ name: name.value.trim(), address: address.value.trim(), paper_width_mm: Number(width.value), encoding: encoding.value,
          print_on: printOn.value, category_ids: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value) });
        const save = el('button', { type: 'button', class: 'primary', 'data-save': id, onclick: async () => {
          const res = await Owner.call(p ? `/api/v1/restaurants/me/printers/${p.id}` : '/api/v1/restaurants/me/printers', { method: p ? 'PATCH' : 'POST', body: body() });
          toast(res.status === 200 || res.status === 201 ? t('saved') : errorText(res));
          if (res.status === 200 || res.status === 201) renderPrinters();
        } }, p ? t('save') : t('addPrinter'));
        const extra = p ? [el('button', { type: 'button', 'data-test': p.id, onclick: async () => {
          const res = await Owner.call(`/api/v1/restaurants/me/printers/${p.id}/test`, { method: 'POST', body: {} });
          toast(res.status === 202 ? t('testQueued') : errorText(res));
          setTimeout(loadPrintJobs, 4000);
        } }, `🖨 ${t('testPrint')}`), el('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('removePrinterConfirm'))) return;
          const res = await Owner.call(`/api/v1/restaurants/me/printers/${p.id}`, { method: 'DELETE' });
          if (res.status !== 204) toast(errorText(res)); else renderPrinters();
        } }, t('removePrinter'))] : [];
        return el('section', { class: 'card', 'data-printer': id }, p ? el('h3', {}, `🖨 ${p.name}`) : el('h3', {}, t('addPrinter')),
          el('div', { class: 'formgrid' }, field('name', name), field('address', address), field('paperWidth', width), field('encoding', encoding), field('printOn', printOn)),
          el('fieldset', {}, el('legend', {}, t('printerCategories')), boxes),
          el('div', { class: 'row mt' }, save, ...extra));
      }
      content.replaceChildren(el('div', { class: 'wrap' }, el('p', { class: 'muted mt' }, t('printerHint')),
        ...(printers.length ? printers.map(form) : [el('p', {}, t('noPrinters'))]), form(null), jobsBox));
      await loadPrintJobs();
      renderJobs();
    }

    const busy = new Set(); // orders with an action in flight: a double tap sends one
    async function act(o, action, body) {
      if (busy.has(o.order_id)) return;
      busy.add(o.order_id);
      for (const b of content.querySelectorAll(`article[data-order="${o.order_id}"] button`)) b.disabled = true;
      const res = await Owner.call(`/api/v1/restaurants/me/orders/${o.order_id}/${action}`, { method: 'POST', body });
      busy.delete(o.order_id);
      if (res.status === 200) {
        Object.assign(o, res.body);
        fresh.delete(o.order_id);
        if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
        refreshStats();
      } else {
        const details = (res.status === 409 && res.body.error.details) || {};
        if (details.current_status) o.status = details.current_status;
        if (details.payment_status) o.payment_status = details.payment_status;
        toast(details.current_status === 'PENDING' && details.payment_status === 'PENDING' ? t('unpaid') : errorText(res));
        if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
      }
      if (tab === 'orders') render();
    }

    function rejectDialog(o) {
      const custom = el('input', { type: 'text', maxlength: '200', placeholder: t('other'), id: 'reject-reason' });
      const s = sheet([el('h3', {}, `${t('rejectTitle')} ${o.order_number}`), el('p', { class: 'notice' }, t('rejectNote')),
        ...t('reasons').map((r) => el('button', { type: 'button', class: 'wide mt', onclick: () => send(r) }, r)),
        el('div', { class: 'row mt' }, custom,
          el('button', { type: 'button', class: 'danger', id: 'reject-send', onclick: () => {
            if (!custom.value.trim()) return custom.focus();
            send(custom.value.trim());
          } }, t('send')))]);
      // Rejecting a paid order gives the money back: asked once more, with the amount.
      function send(reason) {
        if (o.payment_status === 'PAID' && !confirm(t('refundConfirm').replace('{amount}', won(o.total_amount)))) return;
        s.close();
        act(o, 'reject', { reason });
      }
    }

    // Flash, chime and announce an order the kitchen can now act on.
    function announce(o, label) {
      fresh.add(o.order_id);
      setTimeout(() => { fresh.delete(o.order_id); if (tab === 'orders') render(); }, 15000);
      chime();
      toast(label);
    }
    let lastRefusal = 0;
    const feed = live(async (seq) => `/ws/restaurants/me/orders?token=${encodeURIComponent(await Owner.freshAccess())}${seq !== null ? `&since=${seq}` : ''}`, (msg) => {
      switch (msg.type) {
        case 'SNAPSHOT':
          orders.clear();
          for (const o of msg.orders) orders.set(o.order_id, o);
          loadTables();
          loadStatus(); // after a reconnect: maybe the server restarted
          break;
        case 'PAYMENT_SWITCH':
          loadStatus();
          break;
        case 'NEW_ORDER': {
          orders.set(msg.order_id, msg.order);
          // An order the kitchen can act on calls for attention now; a PREPAY one once paid.
          if (msg.order.payment_mode !== 'PREPAY' || msg.order.payment_status !== 'PENDING') {
            announce(msg.order, `${t('newOrder')} ${msg.order_number}`);
          }
          break;
        }
        case 'TABLE_UPDATED':
        case 'TABLE_CALL':
        case 'TABLE_CALL_ACK': {
          const { type, seq, at, call, ...figures } = msg;
          // A late change to a party that has left (its last order completed, a late payment)
          // must not take the place of the party now at that table.
          if (msg.status === 'CLOSED') {
            for (const [number, x] of tables) if (x.session_id === msg.session_id) tables.delete(number);
            renderTabs();
            break;
          }
          tables.set(msg.table_number, figures);
          // A move leaves the old number behind.
          for (const [number, x] of tables) if (x.session_id === msg.session_id && number !== msg.table_number) tables.delete(number);
          if (type === 'TABLE_CALL') { chime(); toast(`${t('table')} ${msg.table_number}: ${t(`call_${call.kind}`)}`, 6000); }
          renderTabs();
          break;
        }
        case 'TABLE_CLOSED':
          for (const [number, x] of tables) if (x.session_id === msg.session_id) tables.delete(number);
          renderTabs();
          break;
        default: {
          const o = orders.get(msg.order_id);
          if (!o) break;
          // A customer who cancels (or a payment that never came) must not just vanish.
          if (msg.type === 'ORDER_CANCELLED') {
            chime();
            toast(`${t('cancelledByCustomer')} ${o.order_number}${msg.reason ? ` — ${msg.reason}` : ''}`, 8000);
          }
          for (const k of ['status', 'estimated_ready_at', 'payment_status', 'test_payment']) if (k in msg) o[k] = msg[k];
          if (msg.type === 'PAYMENT_COMPLETED' && o.status === 'PENDING') {
            announce(o, `${t('newOrder')} ${o.order_number} · ${t('paid')}`);
          }
          if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
        }
      }
      if (tab === 'orders' || (tab === 'tables' && msg.type.startsWith('TABLE_'))) render();
      if (msg.type !== 'SNAPSHOT') refreshStats();
    }, async (up, code) => {
      conn.textContent = up ? '●' : '○';
      conn.className = `pill ${up ? 'ok' : 'bad'}`;
      liveBanner.classList.toggle('hidden', up);
      if (up) loadStatus(); // back after a drop: maybe the server restarted
      // The session was ended (logged out in another tab or device): back to the login page.
      if (code === 4002) { Owner.logout(); return; }
      // Refused, or the token ran out while the tablet slept. A refresh that the server
      // refuses logs out; one that cannot reach it is retried by the session.
      if (code !== 1008 && code !== 4001) return;
      // Refused twice in a row with a fresh token: this login no longer owns the board.
      if (code === 1008 && Date.now() - lastRefusal < 30000) { Owner.logout(); return; }
      lastRefusal = Date.now();
      await Owner.refresh();
      feed.reconnect();
    });
    // "Last order n minutes ago" stays true on the table view.
    setInterval(() => { if (tab === 'tables') render(); }, 30000);
    render();
  }
})();
