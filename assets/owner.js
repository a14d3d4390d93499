// OrderSync — the owner's live board (/owner): new / accepted / ready columns fed by the
// owner WebSocket, a sound and highlight on every new order, accept with an ETA, reject with a
// reason, ready, complete; sold-out toggles; today's totals. Tokens refresh silently.
'use strict';

const Owner = (() => {
  const { t, won, el, api, errorText, live, toast, sheet } = OS;
  const KEY = 'os.owner';
  let session = JSON.parse(localStorage.getItem(KEY) || 'null');
  let refreshTimer;

  function save(body) {
    session = { access: body.access_token, refresh: body.refresh_token, exp: Date.now() + body.expires_in * 1000, user: body.user };
    localStorage.setItem(KEY, JSON.stringify(session));
    scheduleRefresh();
  }
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (session) refreshTimer = setTimeout(refresh, Math.max(5000, session.exp - Date.now() - 60000));
  }
  async function refresh() {
    if (!session) return false;
    const res = await api('/api/v1/auth/refresh', { method: 'POST', body: { refresh_token: session.refresh } });
    if (res.status === 200) { save(res.body); return true; }
    logout();
    return false;
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
  return { get session() { return session; }, save, scheduleRefresh, call, logout };
})();

(() => {
  if (location.pathname !== '/owner') return; // other owner pages only use the session above
  const { t, won, el, api, errorText, live, toast, sheet } = OS;
  const app = document.getElementById('app');
  document.getElementById('lang').textContent = t('lang');
  document.getElementById('lang').onclick = OS.toggleLang;
  if (!Owner.session || Owner.session.user.role !== 'OWNER') return loginView();
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
      if (res.status === 200 && res.body.user.role === 'OWNER') { Owner.save(res.body); location.reload(); return; }
      error.replaceChildren(el('p', { class: 'error' }, res.status === 401 ? t('loginFailed') : errorText(res)));
    };
    app.replaceChildren(form);
  }

  function board() {
    const logoutButton = document.getElementById('logout');
    logoutButton.textContent = t('logout');
    logoutButton.classList.remove('hidden');
    logoutButton.onclick = Owner.logout;
    const conn = document.getElementById('conn');

    // Sound: browsers only allow audio after a tap, hence the visible switch.
    let audio = null;
    const soundButton = document.getElementById('sound');
    soundButton.textContent = t('sound');
    soundButton.classList.remove('hidden');
    soundButton.onclick = () => {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      audio.resume();
      soundButton.textContent = t('soundOn');
      chime();
    };
    function chime() {
      if (!audio) return;
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
    const fresh = new Set();
    const stats = el('div', { class: 'stats', id: 'stats' });
    const tabs = el('div', { class: 'tabs noprint' });
    const content = el('div');
    app.replaceChildren(stats, tabs, content);
    let tab = 'orders';
    const tabButton = (name, label) => el('button', { type: 'button', class: `small ${tab === name ? 'active' : ''}`,
      onclick: () => { tab = name; renderTabs(); render(); } }, label);
    function renderTabs() {
      tabs.replaceChildren(tabButton('orders', t('tabOrders')), tabButton('menu', t('tabMenu')),
        el('a', { href: '/owner/qr' }, el('button', { type: 'button', class: 'small' }, t('tabQr'))));
    }
    renderTabs();

    Owner.call('/api/v1/restaurants/me').then((res) => {
      if (res.status === 200) { document.getElementById('title').textContent = res.body.name; document.title = res.body.name; }
    });
    async function refreshStats() {
      const res = await Owner.call('/api/v1/restaurants/me/summary');
      if (res.status === 200) {
        stats.replaceChildren(el('span', {}, `${t('todayOrders')}: `, el('strong', {}, res.body.orders)),
          el('span', {}, `${t('todayRevenue')}: `, el('strong', {}, won(res.body.revenue))));
      }
    }
    refreshStats();

    function render() {
      if (tab === 'menu') return renderMenu();
      const columns = [['PENDING', t('colNew')], ['ACCEPTED', t('colAccepted')], ['READY', t('colReady')]];
      const sorted = [...orders.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
      content.replaceChildren(el('div', { class: 'board' }, columns.map(([status, label]) => {
        const list = sorted.filter((o) => o.status === status);
        return el('section', { class: 'column', 'data-status': status },
          el('h2', {}, label, el('span', { class: 'pill' }, list.length)), list.map(card));
      })));
    }

    function card(o) {
      const payment = o.payment_mode === 'POSTPAY' && o.payment_status === 'PENDING'
        ? el('span', { class: 'pill' }, t('postpay'))
        : el('span', { class: `pill ${o.payment_status === 'PAID' ? 'ok' : 'warn'}` }, t(`pay_${o.payment_status}`));
      const actions = el('div', { class: 'actions' });
      if (o.status === 'PENDING') {
        for (const m of [5, 10, 15, 20, 30]) {
          actions.append(el('button', { type: 'button', class: 'small primary', 'data-eta': m,
            onclick: () => act(o, 'accept', { estimated_time_minutes: m }) }, `${t('accept')} ${m}${t('minutes')}`));
        }
        actions.append(el('button', { type: 'button', class: 'small danger', onclick: () => rejectDialog(o) }, t('reject')));
      } else if (o.status === 'ACCEPTED') {
        actions.append(el('button', { type: 'button', class: 'primary', onclick: () => act(o, 'ready') }, t('markReady')));
      } else if (o.status === 'READY') {
        actions.append(el('button', { type: 'button', class: 'primary', onclick: () => act(o, 'complete') }, t('complete')));
      }
      const time = new Date(o.created_at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' });
      return el('article', { class: `order${fresh.has(o.order_id) ? ' fresh' : ''}`, 'data-order': o.order_id },
        el('div', { class: 'head' }, el('span', { class: 'num' }, o.order_number),
          o.table_number ? el('span', { class: 'pill' }, `${t('table')} ${o.table_number}`) : null,
          el('span', { class: 'muted' }, time), payment),
        el('ul', {}, o.items.map((l) => el('li', {}, `${l.name} × ${l.quantity}`,
          l.options.length ? el('span', { class: 'muted' }, ` (${l.options.map((x) => x.choice).join(', ')})`) : null))),
        o.special_requests ? el('p', { class: 'notice' }, o.special_requests) : null,
        el('div', { class: 'row' }, el('strong', { class: 'grow' }, won(o.total_amount)),
          o.estimated_ready_at && o.status === 'ACCEPTED'
            ? el('span', { class: 'muted' }, new Date(o.estimated_ready_at).toLocaleTimeString(OS.lang() === 'ko' ? 'ko-KR' : 'en-US', { hour: '2-digit', minute: '2-digit' })) : null),
        actions);
    }

    async function act(o, action, body) {
      const res = await Owner.call(`/api/v1/restaurants/me/orders/${o.order_id}/${action}`, { method: 'POST', body });
      if (res.status === 200) {
        Object.assign(o, res.body);
        fresh.delete(o.order_id);
        if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
        render();
        refreshStats();
      } else if (res.status === 409 && res.body.error.details && res.body.error.details.reason === 'the order is not paid yet') {
        toast(t('unpaid'));
      } else {
        toast(errorText(res));
      }
    }

    function rejectDialog(o) {
      const custom = el('input', { type: 'text', maxlength: '200', placeholder: t('other'), id: 'reject-reason' });
      const s = sheet([el('h3', {}, `${t('rejectTitle')} ${o.order_number}`), el('p', { class: 'notice' }, t('rejectNote')),
        ...t('reasons').map((r) => el('button', { type: 'button', class: 'wide mt', onclick: () => { s.close(); act(o, 'reject', { reason: r }); } }, r)),
        el('div', { class: 'row mt' }, custom,
          el('button', { type: 'button', class: 'danger', id: 'reject-send', onclick: () => {
            if (!custom.value.trim()) return custom.focus();
            s.close(); act(o, 'reject', { reason: custom.value.trim() });
          } }, t('send')))]);
    }

    async function renderMenu() {
      const res = await Owner.call('/api/v1/restaurants/me/menu');
      if (res.status !== 200) { content.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
      content.replaceChildren(el('div', { class: 'wrap' }, res.body.categories.map((c) => el('section', {},
        el('h2', {}, c.name),
        c.items.map((item) => el('div', { class: `item ${item.is_available ? '' : 'soldout'}`, 'data-item': item.id },
          el('div', { class: 'name' }, item.name, ' ', el('span', { class: 'muted' }, won(item.price))),
          el('button', { type: 'button', class: `small ${item.is_available ? 'danger' : 'primary'}`, onclick: async () => {
            const r = await Owner.call(`/api/v1/restaurants/me/menu/items/${item.id}`, { method: 'PATCH', body: { is_available: !item.is_available } });
            if (r.status === 200) renderMenu(); else toast(errorText(r));
          } }, item.is_available ? t('markSoldOut') : t('markOnSale'))))))));
    }

    live((seq) => `/ws/restaurants/me/orders?token=${encodeURIComponent(Owner.session.access)}${seq !== null ? `&since=${seq}` : ''}`, (msg) => {
      switch (msg.type) {
        case 'SNAPSHOT':
          orders.clear();
          for (const o of msg.orders) orders.set(o.order_id, o);
          break;
        case 'NEW_ORDER':
          orders.set(msg.order_id, msg.order);
          fresh.add(msg.order_id);
          setTimeout(() => { fresh.delete(msg.order_id); }, 15000);
          chime();
          toast(`${t('newOrder')} ${msg.order_number}`);
          break;
        default: {
          const o = orders.get(msg.order_id);
          if (!o) break;
          for (const k of ['status', 'estimated_ready_at', 'payment_status']) if (k in msg) o[k] = msg[k];
          if (!['PENDING', 'ACCEPTED', 'READY'].includes(o.status)) orders.delete(o.order_id);
        }
      }
      if (tab === 'orders') render();
      if (msg.type !== 'SNAPSHOT') refreshStats();
    }, (up, code) => {
      conn.textContent = up ? '●' : '○';
      conn.className = `pill ${up ? 'ok' : 'bad'}`;
      if (code === 1008) Owner.logout();
    });
    render();
  }
})();
