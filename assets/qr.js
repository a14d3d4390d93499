// OrderSync — the printable sheet of table QR codes (/owner/qr): A4, 3 × 4 per page, each code
// the table's signed URL, rendered by the server.
'use strict';

(() => {
  const { t, el, errorText } = OS;
  if (!Owner.session) { location.href = '/owner'; return; }
  document.getElementById('title').textContent = t('qrTitle');
  document.getElementById('lang').textContent = `🌐 ${OS.languageName()}`;
  document.getElementById('lang').onclick = OS.toggleLang;
  const tables = el('input', { id: 'tables', value: '1-12' });
  // Empty: the box's own public address (PUBLIC_BASE_URL or its LAN address), which phones on
  // the shop Wi-Fi can reach; this page may well be open on the box itself, at localhost.
  const base = el('input', { id: 'base', placeholder: 'http://192.168.0.10:8080' });
  const warning = el('div');
  const error = el('div');
  const sheet = document.getElementById('sheet');
  let restaurant = '';
  async function make() {
    if (!restaurant) {
      const r = await Owner.call('/api/v1/restaurants/me');
      if (r.status === 200) {
        restaurant = r.body.name;
        // The restaurant's own list of tables, when the owner has set one.
        if (r.body.tables && tables.value === '1-12') tables.value = r.body.tables;
      }
    }
    const q = new URLSearchParams({ tables: tables.value, base_url: base.value });
    const res = await Owner.call(`/api/v1/restaurants/me/qr-codes?${q}`);
    if (res.status !== 200) { error.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
    error.replaceChildren();
    base.value = res.body.base_url;
    const local = /^https?:\/\/(localhost|127\.|\[::1\])/.test(res.body.base_url);
    warning.replaceChildren(local ? el('p', { class: 'error' }, t('localBase')) : '');
    sheet.replaceChildren(...res.body.tables.map((code) => {
      const card = el('div', { class: 'qr-card', 'data-table': code.table },
        el('div', { class: 'muted' }, restaurant), el('div', { class: 'code' }), el('div', { class: 'label' }, `${t('table')} ${code.table}`));
      // The SVG is the server's own rendering of a QR code.
      card.querySelector('.code').innerHTML = code.svg;
      return card;
    }));
  }
  document.getElementById('form').replaceChildren(
    el('label', { for: 'tables' }, t('tables')), tables, el('label', { for: 'base' }, t('baseUrl')), base, warning, error,
    el('div', { class: 'row mt' }, el('button', { type: 'button', class: 'primary', id: 'make', onclick: make }, t('make')),
      el('button', { type: 'button', id: 'print', onclick: async () => {
        // Printed codes hold this address: the board warns if the box ever moves off it.
        const res = await Owner.call('/api/v1/restaurants/me/qr-codes/printed', { method: 'POST', body: { base_url: base.value } });
        if (res.status !== 204) { error.replaceChildren(el('p', { class: 'error' }, errorText(res))); return; }
        window.print();
      } }, t('print'))));
  make();
})();
