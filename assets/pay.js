// OrderSync — checkout: /pay/{order} opens Toss's payment window (or, without a Toss key, the
// box's clearly labelled test-mode page); /pay/success confirms; /pay/fail explains.
'use strict';

(() => {
  const { t, won, el, api, errorText } = OS;
  const main = document.getElementById('main');
  document.getElementById('lang').textContent = `🌐 ${OS.languageName()}`;
  document.getElementById('lang').onclick = OS.toggleLang;
  const params = new URLSearchParams(location.search);
  const [, , part] = location.pathname.split('/');

  const show = (...nodes) => main.replaceChildren(...nodes);
  // A payment towards a table's tab returns to the table's page; an order's to its status page.
  const backTo = (id) => localStorage.getItem(`os.payReturn.${id}`) || `/order/${id}`;
  const orderLink = (id) => el('a', { href: backTo(id) }, el('button', { class: 'ghost', type: 'button' }, t('toOrder')));
  const payAgain = (id) => el('a', { href: localStorage.getItem(`os.payReturn.${id}`) || `/pay/${id}` }, el('button', { class: 'primary', type: 'button' }, t('payAgain')));

  if (part === 'success') confirmPayment();
  else if (part === 'fail') failed();
  else if (part === 'tab') tabCheckout(decodeURIComponent(location.pathname.split('/')[3] || ''));
  else checkout(decodeURIComponent(part || ''));

  // The table's page priced the payment and left its checkout here.
  function tabCheckout(id) {
    const c = JSON.parse(sessionStorage.getItem(`os.checkout.${id}`) || 'null');
    if (!c) { show(el('p', { class: 'error' }, t('notYours'))); return; }
    present(c, id);
  }

  async function checkout(orderId) {
    const token = localStorage.getItem(`os.order.${orderId}`);
    if (!token) { show(el('p', { class: 'error' }, t('notYours'))); return; }
    const order = await api(`/api/v1/orders/${orderId}`, { token });
    if (order.status !== 200) { show(el('p', { class: 'error' }, errorText(order))); return; }
    if (!order.body.payment_required) { location.replace(`/order/${orderId}`); return; }
    const res = await api('/api/v1/payments/initiate', {
      method: 'POST', token, body: { order_id: orderId, amount: order.body.total_amount, payment_method: 'CARD' },
    });
    if (res.status !== 200) { show(el('p', { class: 'error' }, errorText(res)), orderLink(orderId)); return; }
    present(res.body, orderId);
  }

  function present(c, orderId) {
    // Come back to the address this phone used to reach the box, whatever the box calls itself.
    c.success_url = `${location.origin}/pay/success`;
    c.fail_url = `${location.origin}/pay/fail`;
    document.getElementById('title').textContent = c.order_name;
    if (c.provider === 'toss') return tossWindow(c, orderId);
    // Test mode: the box stands in for Toss's window and hands back what Toss would.
    const back = (key) => {
      const q = new URLSearchParams({ paymentType: 'NORMAL', orderId: c.order_id, paymentKey: key, amount: c.amount });
      location.href = `${c.success_url}?${q}`;
    };
    const rand = () => Math.random().toString(36).slice(2, 12);
    show(el('div', { class: 'card testmode' },
      el('h2', {}, `⚠️ ${t('testMode')}`),
      el('p', {}, t('testModeNote')),
      el('p', {}, c.order_name),
      el('div', { class: 'total' }, el('span', {}, t('total')), el('span', { id: 'amount' }, won(c.amount))),
      el('div', { class: 'row' },
        el('button', { class: 'primary grow', type: 'button', id: 'approve', onclick: () => back(`sim_${rand()}`) }, t('approve')),
        el('button', { class: 'danger', type: 'button', id: 'decline', onclick: () => back(`sim_decline_${rand()}`) }, t('decline')))));
  }

  function tossWindow(c, orderId) {
    show(el('p', { class: 'muted' }, t('loading')));
    const script = el('script', { src: 'https://js.tosspayments.com/v2/standard' });
    script.onload = async () => {
      try {
        // eslint-disable-next-line no-undef
        const payment = TossPayments(c.client_key).payment({ customerKey: c.customer_key });
        await payment.requestPayment({
          method: 'CARD', amount: { currency: 'KRW', value: c.amount }, orderId: c.order_id,
          orderName: c.order_name, successUrl: c.success_url, failUrl: c.fail_url,
        });
      } catch (e) {
        show(el('p', { class: 'error' }, `${t('payFailed')}: ${e.message || e}`), payAgain(orderId), orderLink(orderId));
      }
    };
    script.onerror = () => show(el('p', { class: 'error' }, t('providerDown')), orderLink(orderId));
    document.head.append(script);
  }

  async function confirmPayment() {
    const orderId = params.get('orderId');
    show(el('p', { class: 'muted' }, t('confirming')));
    // Confirming is idempotent on the box and at Toss: a lost answer is simply asked again.
    let res;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 1500 * attempt));
      res = await api('/api/v1/payments/confirm', {
        method: 'POST', token: localStorage.getItem(`os.order.${orderId}`) || undefined, body: { paymentKey: params.get('paymentKey'), orderId, amount: Number(params.get('amount')) },
      });
      if (res.status !== 0 && res.status !== 503) break;
    }
    // 409: the order was paid (or closed) meanwhile; its page tells which.
    if (res.status === 200 || res.status === 409) { location.replace(backTo(orderId)); return; }
    if (res.status === 402) {
      show(el('p', { class: 'error', id: 'declined' }, `${t('declined')}: ${res.body.error.details.provider_message || ''}`),
        payAgain(orderId), orderLink(orderId));
      return;
    }
    if (res.status === 502) { show(el('p', { class: 'notice' }, t('providerDown')), orderLink(orderId)); return; }
    show(el('p', { class: 'error' }, errorText(res)), orderLink(orderId));
  }

  function failed() {
    const orderId = params.get('orderId');
    show(el('p', { class: 'error' }, `${t('payFailed')}: ${params.get('message') || params.get('code') || ''}`),
      orderId ? payAgain(orderId) : null, orderId ? orderLink(orderId) : null);
  }
})();
