// End-to-end, second box: one whose address moved away from its printed QR codes and whose
// internet is down (Toss unreachable). The owner sees both banners, switches to counter payment,
// and a guest's cart says why payment is at the counter. Run by e2e/run.sh after flow.mjs, with
// a server whose printed (public) address is not its own and whose Toss API address answers
// nothing.
import { chromium } from 'playwright-core';

const { OUTAGE_OWNER_URL, OUTAGE_TABLE_URL, OUTAGE_OWNER_EMAIL, OUTAGE_OWNER_PASSWORD } = process.env;
const ARTIFACTS = process.env.ARTIFACTS || 'artifacts';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const step = (text) => console.log(`• ${text}`);
const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

try {
  const tablet = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'ko-KR', ignoreHTTPSErrors: true });
  const owner = await tablet.newPage();
  owner.on('dialog', (dialog) => dialog.accept());
  await owner.goto(OUTAGE_OWNER_URL);
  await owner.fill('#email', OUTAGE_OWNER_EMAIL);
  await owner.fill('#password', OUTAGE_OWNER_PASSWORD);
  await owner.click('#login');
  await owner.waitForSelector('#qr-moved');
  await owner.waitForSelector('#toss-down #switch-counter', { timeout: 30000 });
  const moved = (await owner.textContent('#qr-moved')).trim();
  if (!moved.includes('QR 코드 주소가 바뀌었습니다')) throw new Error(`the banner says: ${moved}`);
  await shot(owner, '33-owner-qr-moved-and-outage');
  step(`the board says: "${moved.slice(0, 60)}…" and that Toss cannot be reached`);

  await owner.click('#switch-counter');
  await owner.waitForSelector('#counter-payment #switch-online');
  await shot(owner, '34-owner-counter-payment');
  step(`one tap switched to counter payment: "${(await owner.textContent('#counter-payment')).trim().slice(0, 50)}…"`);

  // A guest (on the box's real address) puts something in the cart: it says why to pay at the
  // counter.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'ko-KR' });
  const guest = await phone.newPage();
  await guest.goto(OUTAGE_TABLE_URL, { waitUntil: 'networkidle' });
  await guest.locator('button.item:not(.soldout)', { hasText: '사이다' }).first().click();
  await guest.locator('.sheet button.primary').click();
  await guest.click('#cart-button');
  await guest.waitForSelector('#pay-at-counter.notice');
  await shot(guest, '35-customer-counter-payment');
  step(`the guest's cart says: "${(await guest.textContent('#pay-at-counter')).trim()}"`);

  await owner.click('#switch-online');
  await owner.waitForSelector('#toss-down');
  step('switched back: the outage banner offers the switch again');

  // The settings screen says what `ordersync doctor` says.
  await owner.click('button[data-tab="settings"]');
  await owner.waitForSelector('#device-status .line');
  await shot(owner, '36-owner-device-status');
  step(`the settings show the box: ${(await owner.textContent('#device-status')).replace(/\s+/g, ' ').slice(0, 90)}…`);
  console.log('E2E (outage) passed');
} finally {
  await browser.close();
}
