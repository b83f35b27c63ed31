// The admin console's login as a browser would do it, and TOTP (RFC 6238, SHA-1, 30 s, 6 digits).

import crypto from 'node:crypto';

export function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error('not base32');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function hotp(secret, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = crypto.createHmac('sha1', secret).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  const bin = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

export const stepNow = () => Math.floor(Date.now() / 1000 / 30);

/// Opens the login form: returns the login cookie token (also the form's csrf value).
export async function loginForm(relay) {
  const r = await relay.request(null, 'GET', '/console/login', { timeout: 20_000 });
  const cookies = [].concat(r.headers['set-cookie'] || []);
  const c = cookies.map((x) => x.match(/__Host-kizuna-login=([^;]+)/)).find(Boolean);
  const html = r.body.toString('utf8');
  const m = html.match(/name="csrf" value="([^"]+)"/);
  if (!c || !m) throw new Error(`no login form: ${r.status}`);
  return { cookie: c[1], csrf: m[1] };
}

/// Submits the password form; returns {status, session: bool}.
export async function login(relay, { login: name, password, code }, timeout = 120_000) {
  const f = await loginForm(relay);
  const body = new URLSearchParams({ csrf: f.csrf, method: 'password', login: name, password, code }).toString();
  const r = await relay.request(null, 'POST', '/console/login', {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `__Host-kizuna-login=${f.cookie}`,
      origin: `https://127.0.0.1:${relay.port}`,
    },
    timeout,
  });
  const cookies = [].concat(r.headers['set-cookie'] || []);
  const live = cookies.find((x) => /^__Host-kizuna-console=[^;]+/.test(x) && !/Max-Age=0/i.test(x));
  const cookie = live ? live.split(';')[0] : null;
  return { status: r.status, session: Boolean(live), cookie };
}
