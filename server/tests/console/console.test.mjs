// Browser tests of the Kizuna admin console: headless Debian chromium driven by
// playwright-core, against a real `kizuna demo` relay over real TLS. Started by
// server/tests/console_browser.rs, which passes:
//   KIZUNA_URL        https://127.0.0.1:PORT
//   KIZUNA_DATA       the demo's data directory (ca.crt, demo/*.crt|key, demo/console.json)
//   SCREENSHOT_DIR    where a screenshot of every page goes
//   CHROMIUM          the browser (default /usr/bin/chromium)
//
// Chromium trusts the relay because its CA's public key is pinned with
// --ignore-certificate-errors-spki-list (the relay sends its CA in the chain); nothing else
// is relaxed. Every step is checked twice: on screen, and through the JSON admin API with
// the administrator's client certificate.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import assert from 'node:assert/strict';

const URL_ = process.env.KIZUNA_URL;
const DATA = process.env.KIZUNA_DATA;
const SHOTS = process.env.SCREENSHOT_DIR ?? 'console-screenshots';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
assert.ok(URL_ && DATA, 'KIZUNA_URL and KIZUNA_DATA must be set');
fs.mkdirSync(SHOTS, { recursive: true });
const base = new URL(URL_);
const read = (p) => fs.readFileSync(path.join(DATA, p), 'utf8');
const ca = read('ca.crt');
const creds = JSON.parse(read('demo/console.json'));

// ---- the JSON API, as the administrator (or another demo identity) ----
function api(method, p, body, who = 'admin') {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request({
      host: base.hostname, port: base.port, path: p, method, ca,
      cert: read(`demo/${who}.crt`), key: read(`demo/${who}.key`),
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* JSON lines or empty */ }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// ---- RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits) ----
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of s.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(secret, t = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)));
  const h = crypto.createHmac('sha1', base32(secret)).update(counter).digest();
  const off = h[h.length - 1] & 0x0f;
  const bin = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

const spki = crypto.createHash('sha256')
  .update(new crypto.X509Certificate(ca).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

const started = Date.now();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
});
const context = await browser.newContext({ locale: 'ja-JP', acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(15_000);
let shot = 0;
async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}
async function flash() {
  return (await page.locator('#flash').textContent())?.trim() ?? '';
}
const steps = [];
async function step(name, f) {
  const t0 = Date.now();
  try {
    await f();
    steps.push(`ok   ${name} (${Date.now() - t0} ms)`);
    console.log(`ok   ${name}`);
  } catch (e) {
    await screenshot(`FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
    console.error(`FAIL ${name}: ${e.stack ?? e}`);
    throw e;
  }
}

let profId, roomId, satoDevice;
try {
  await step('unauthenticated pages send the browser to the login form', async () => {
    await page.goto(`${URL_}/console/`);
    assert.match(page.url(), /\/console\/login$/);
    await screenshot('login');
  });

  await step('log in with password and TOTP (two factors)', async () => {
    // A wrong code is refused with the same message as a wrong password.
    await page.fill('input[name=login]', creds.login);
    await page.fill('input[name=password]', creds.password);
    await page.fill('input[name=code]', totp(creds.totp_secret, Date.now() - 10 * 60_000));
    await page.click('#login-form button[type=submit]');
    assert.match(await flash(), /ログインできませんでした/);
    await page.fill('input[name=login]', creds.login);
    await page.fill('input[name=password]', creds.password);
    await page.fill('input[name=code]', totp(creds.totp_secret));
    await page.click('#login-form button[type=submit]');
    await page.waitForURL(/\/console\/$/);
    assert.equal(await page.locator('h1').textContent(), '概要');
    await screenshot('home');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === '__Host-kizuna-console');
    assert.ok(session && session.httpOnly && session.secure && session.sameSite === 'Strict', 'session cookie flags');
    const audit = await api('GET', '/v1/admin/audit');
    assert.match(audit.text, /"action":"admin\.console\.login_failed"/);
    assert.match(audit.text, /"action":"admin\.console\.login"/);
  });

  await step('register a professional', async () => {
    await page.click('nav a[href="/console/professionals"]');
    await screenshot('professionals');
    const form = page.locator('#register-form');
    await form.locator('input[name=name]').fill('試験 花子');
    await form.locator('input[name=kana]').fill('しけん はなこ');
    await form.locator('select[name=profession]').selectOption('nurse');
    await form.locator('input[name=organisation]').fill('ブラウザ訪問看護ステーション');
    await form.locator('input[name=office_number]').fill('1234500001');
    await form.locator('button[type=submit]').click();
    await page.waitForURL(/\/console\/professionals\/[0-9a-f-]{36}$/);
    profId = page.url().split('/').pop();
    assert.match(await flash(), /登録しました/);
    await screenshot('professional');
    const dir = await api('GET', '/v1/admin/professionals');
    const p = dir.json.professionals.find((x) => x.id === profId);
    assert.equal(p.name, '試験 花子');
    assert.equal(p.organisation.office_number, '1234500001');
  });

  await step('show the enrollment QR code (PNG)', async () => {
    await page.click('#enroll-form button[type=submit]');
    const img = page.locator('#enroll-qr');
    await img.waitFor();
    const natural = await img.evaluate((el) => [el.complete, el.naturalWidth, el.naturalHeight]);
    assert.ok(natural[0] && natural[1] > 100 && natural[1] === natural[2], `QR decoded: ${natural}`);
    assert.match(await page.locator('#enroll-code').textContent(), /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    await screenshot('enroll-qr');
    const audit = await api('GET', `/v1/admin/audit?professional=${(await api('GET', '/v1/me')).json.professional.id}`);
    assert.ok(audit.text.split('\n').some((l) => l.includes('"admin.enroll_code"') && l.includes(profId)));
  });

  await step('edit the professional', async () => {
    await page.goto(`${URL_}/console/professionals/${profId}`);
    await page.locator('#edit-form input[name=organisation]').fill('ブラウザ訪問看護ステーション 本店');
    await page.click('#edit-form button[type=submit]');
    assert.match(await flash(), /保存しました/);
    const dir = await api('GET', '/v1/admin/professionals');
    assert.equal(dir.json.professionals.find((x) => x.id === profId).organisation.name, 'ブラウザ訪問看護ステーション 本店');
  });

  await step('create a patient room with its consent record', async () => {
    await page.click('nav a[href="/console/rooms"]');
    await screenshot('rooms');
    const form = page.locator('#create-room-form');
    await form.locator('input[name=patient_name]').fill('試験 トメ');
    await form.locator('input[name=consent_by]').fill('試験 和子');
    await form.locator('input[name=consent_relation]').fill('長女');
    await form.locator('input[name=consent_date]').fill('2025-07-01');
    await form.locator('button[type=submit]').click();
    await page.waitForURL(/\/console\/rooms\/[0-9a-f-]{36}$/);
    roomId = page.url().split('/').pop();
    assert.match(await flash(), /お部屋を作成しました/);
    assert.match(await page.locator('#consent').textContent(), /試験 和子[\s\S]*長女[\s\S]*2025-07-01/);
    const room = await api('GET', `/v1/admin/rooms/${roomId}`);
    assert.equal(room.json.display_name, '試験 トメ');
    assert.equal(room.json.consent.given_by, '試験 和子');
    assert.equal(room.json.consent.date, '2025-07-01');
  });

  await step('attach the scanned consent form', async () => {
    // A tiny PDF stands in for the scan.
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');
    const upload = page.locator('#consent-form-upload');
    await upload.locator('input[type=file]').setInputFiles({
      name: 'consent.pdf', mimeType: 'application/pdf', buffer: pdf,
    });
    await upload.locator('button[type=submit]').click();
    assert.match(await flash(), /同意書のスキャンを添付しました/);
    const sha = crypto.createHash('sha256').update(pdf).digest('hex');
    assert.match(await page.locator('#consent-form').textContent(), new RegExp(sha));
    const room = await api('GET', `/v1/admin/rooms/${roomId}`);
    assert.equal(room.json.consent.form, sha);
    await screenshot('room-consent-form');
  });

  await step('invite the professional into the room', async () => {
    await page.locator('#invite-form select[name=professional]').selectOption(profId);
    await page.locator('#invite-form select[name=role]').selectOption('writer');
    await page.click('#invite-form button[type=submit]');
    assert.match(await flash(), /招待しました/);
    const row = page.locator(`#members tr[data-member="${profId}"]`);
    assert.match(await row.textContent(), /試験 花子[\s\S]*書き込み可/);
    assert.equal(await page.locator('#activity-week').textContent(), '0');
    await screenshot('room');
    const room = await api('GET', `/v1/admin/rooms/${roomId}`);
    assert.deepEqual(room.json.members.map((m) => [m.professional, m.role]), [[profId, 'writer']]);
  });

  await step('post a disaster alert with importance and expiry', async () => {
    await page.click('nav a[href="/console/notices"]');
    const form = page.locator('#notice-form');
    await form.locator('select[name=room]').selectOption('alerts');
    await form.locator('input[name=title]').fill('台風10号接近のお知らせ');
    await form.locator('textarea[name=body]').fill('明日の訪問は安全を最優先に。');
    await form.locator('select[name=importance]').selectOption('3');
    await form.locator('input[name=expires]').fill('2099-12-31T18:00');
    await form.locator('button[type=submit]').click();
    assert.match(await flash(), /投稿しました/);
    const article = page.locator('article.notice', { hasText: '台風10号接近のお知らせ' }).first();
    assert.match(await article.textContent(), /☆☆☆[\s\S]*2099-12-31 18:00/);
    assert.match(await article.locator('.read-count').textContent(), /既読 0 \/ \d+/);
    await screenshot('notices');
    const notices = await api('GET', '/v1/admin/notices?room=alerts');
    const n = notices.json.find((x) => x.notice.content.title === '台風10号接近のお知らせ');
    assert.equal(n.notice.content.importance, 3);
    assert.equal(n.notice.content.expires_at, Date.parse('2099-12-31T18:00:00+09:00'));
    assert.equal(n.read_by.length, 0);
  });

  await step('revoke a device and order a wipe', async () => {
    const sato = (await api('GET', '/v1/me', undefined, 'sato')).json;
    satoDevice = sato.device.id;
    await page.click('nav a[href="/console/devices"]');
    const row = page.locator(`tr[data-device="${satoDevice}"]`);
    await row.locator('button[value=yes]').click();
    assert.match(await flash(), /データ消去を指示しました/);
    assert.match(await page.locator(`tr[data-device="${satoDevice}"] .status`).textContent(), /失効・消去指示/);
    await screenshot('devices');
    const devices = await api('GET', '/v1/admin/devices');
    const d = devices.json.find((x) => x.id === satoDevice);
    assert.ok(d.revoked_at && d.wipe === true);
    const refused = await api('GET', '/v1/me', undefined, 'sato');
    assert.equal(refused.status, 403);
    assert.equal(refused.json.wipe, true);
  });

  await step('verify the audit log, filter it and export it', async () => {
    await page.click('nav a[href="/console/audit"]');
    await page.click('#audit-filter button[name=verify]');
    assert.match(await page.locator('#verdict').textContent(), /改ざんは見つかりませんでした/);
    const table = await page.locator('#audit').textContent();
    for (const a of ['admin.device.revoke_wipe', 'admin.notice.post', 'admin.member.invite', 'admin.room.create', 'admin.professional.add']) {
      assert.ok(table.includes(a), `audit shows ${a}`);
    }
    await screenshot('audit');
    // Filter by room: only that room's records.
    await page.locator('#audit-filter select[name=room]').selectOption(roomId);
    await page.click('#audit-filter button[type=submit]:not([name])');
    const rows = await page.locator('#audit tbody tr').allTextContents();
    assert.ok(rows.length >= 2 && rows.every((r) => r.includes('試験 トメ')), 'filtered by room');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#audit-export')]);
    const lines = fs.readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= 2 && lines.every((r) => r.room === roomId), 'export follows the filter');
    const verdict = await api('GET', '/v1/admin/audit/verify');
    assert.equal(verdict.json.intact, true);
  });

  await step('care-plan import page reports the core API\'s verdict', async () => {
    await page.click('nav a[href="/console/careplans"]');
    await page.locator('#careplan-form select[name=room]').selectOption(roomId);
    await page.setInputFiles('#careplan-form input[name=files]', {
      name: 'UPPLAN_202507_1234567890_1234567891_20250701120000.CSV', mimeType: 'text/csv', buffer: Buffer.from('not,a,plan\r\n'),
    });
    await page.click('#careplan-form button[type=submit]');
    assert.match(await flash(), /エラー/);
    await screenshot('careplans');
    const plans = await api('GET', `/v1/admin/rooms/${roomId}/care-plans`);
    assert.deepEqual(plans.json, []);
  });

  await step('forms without the right CSRF token or from another origin are refused', async () => {
    await page.click('nav a[href="/console/notices"]');
    const token = await page.locator('#notice-form input[name=csrf]').inputValue();
    await page.locator('#notice-form input[name=csrf]').evaluate((el) => { el.value = 'forged'; });
    const form = page.locator('#notice-form');
    await form.locator('input[name=title]').fill('偽のお知らせ');
    await form.locator('textarea[name=body]').fill('x');
    await form.locator('button[type=submit]').click();
    assert.match(await page.locator('#message').textContent(), /フォームの有効期限/);
    // The same session cookie and the right token, but sent from another origin.
    const cookie = (await context.cookies()).find((c) => c.name === '__Host-kizuna-console');
    const post = (headers, body) => new Promise((resolve, reject) => {
      const req = https.request({
        host: base.hostname, port: base.port, path: '/console/notices', method: 'POST', ca,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${cookie.name}=${cookie.value}`, ...headers },
      }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', reject);
      req.end(body);
    });
    const body = `csrf=${token}&room=alerts&title=x&body=y&importance=1`;
    assert.equal(await post({ origin: 'https://evil.example' }, body), 403);
    assert.equal(await post({}, 'room=alerts&title=x&body=y&importance=1'), 403);
    const notices = await api('GET', '/v1/admin/notices');
    assert.ok(!notices.text.includes('偽のお知らせ'), 'nothing was posted');
  });

  await step('English is one click away', async () => {
    await page.click('header a.lang');
    assert.equal(await page.locator('h1').textContent(), 'City notices and disaster/infection alerts');
    await page.goto(`${URL_}/console/`);
    assert.equal(await page.locator('h1').textContent(), 'Overview', 'the choice is remembered');
    await screenshot('home-en');
    await page.goto(`${URL_}/console/?lang=ja`);
  });

  await step('archive the room', async () => {
    await page.goto(`${URL_}/console/rooms/${roomId}`);
    await page.click('#archive-form button');
    assert.match(await flash(), /アーカイブしました/);
    await screenshot('room-archived');
    const room = await api('GET', `/v1/admin/rooms/${roomId}`);
    assert.ok(room.json.archived_at);
  });

  await step('log out ends the session', async () => {
    await page.click('header .logout button');
    await page.waitForURL(/\/console\/login\?bye=1$/);
    assert.match(await flash(), /ログアウトしました/);
    await page.goto(`${URL_}/console/professionals`);
    assert.match(page.url(), /\/console\/login$/);
  });
} finally {
  await browser.close();
}
console.log(`\n${steps.length} browser steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS}`);
