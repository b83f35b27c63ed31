// Starts a real `kizuna demo` relay on a free loopback port in a temp dir, and talks to it
// over HTTPS with the demo devices' client certificates. Only 127.0.0.1 is ever contacted.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeRequest, decodeResponse } from './postcard.mjs';

export const HOST = '127.0.0.1';
export const SYNC_TYPE = 'application/x-kizuna-sync';

export function findBinary() {
  if (process.env.KIZUNA_BIN) return process.env.KIZUNA_BIN;
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
  for (const p of ['target/debug/kizuna', 'target/release/kizuna']) {
    const f = path.join(root, p);
    if (fs.existsSync(f)) return f;
  }
  throw new Error('no kizuna binary: set KIZUNA_BIN or build with cargo build -p kizuna-server --bin kizuna');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Relay {
  constructor() {
    this.bin = findBinary();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kizuna-hostile-'));
    this.data = path.join(this.dir, 'data');
    this.proc = null;
    this.port = null;
    this.exits = [];
  }

  get alive() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start() {
    this.port ??= await freePort();
    const log = fs.openSync(path.join(this.dir, 'relay.log'), 'a');
    // The relay runs under an 8 GiB address-space limit, so a decompression bomb cannot take
    // the machine (24 GiB) down with it; `exec` keeps the relay's own pid.
    this.proc = spawn(
      'bash',
      ['-c', 'ulimit -v 8388608 2>/dev/null; exec "$0" "$@"', this.bin, 'demo', '--data', this.data, '--listen', `${HOST}:${this.port}`],
      { stdio: ['ignore', log, log], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } },
    );
    fs.closeSync(log);
    const proc = this.proc;
    proc.on('exit', (code, signal) => this.exits.push({ code, signal, at: Date.now() }));
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`relay exited at start: ${this.logTail()}`);
      }
      if (fs.existsSync(path.join(this.data, 'ca.crt'))) {
        try {
          const r = await this.request(null, 'GET', '/healthz', { timeout: 2000 });
          if (r.status === 200 && fs.existsSync(path.join(this.data, 'demo', 'console.json'))) break;
        } catch {
          /* not up yet */
        }
      }
      await sleep(200);
    }
    if (!this.alive) throw new Error(`relay did not start: ${this.logTail()}`);
    this.ca = fs.readFileSync(path.join(this.data, 'ca.crt'));
    this.ids = {};
    return this;
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(t);
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /// Starts the relay again if an earlier attack killed it (that attack's test has failed).
  async ensure() {
    if (!this.alive) await this.start();
  }

  cleanup() {
    if (!process.env.KEEP_RELAY_DIR) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(n = 4000) {
    try {
      const s = fs.readFileSync(path.join(this.dir, 'relay.log'), 'utf8');
      return s.slice(-n);
    } catch {
      return '(no log)';
    }
  }

  /// Peak and current resident memory of the relay process, in MiB.
  memory() {
    try {
      const s = fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
      const kb = (k) => Number((s.match(new RegExp(`${k}:\\s+(\\d+)`)) || [0, 0])[1]);
      return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
    } catch {
      return { rss: 0, hwm: 0 };
    }
  }

  identity(stem) {
    const dir = path.join(this.data, 'demo');
    return {
      stem,
      cert: fs.readFileSync(path.join(dir, `${stem}.crt`)),
      key: fs.readFileSync(path.join(dir, `${stem}.key`)),
    };
  }

  console() {
    return JSON.parse(fs.readFileSync(path.join(this.data, 'demo', 'console.json'), 'utf8'));
  }

  /// One HTTPS request on its own connection. `who` is an identity (or null for none).
  request(who, method, urlPath, { body, headers = {}, timeout = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
      const opts = {
        host: HOST,
        port: this.port,
        method,
        path: urlPath,
        ca: this.ca ?? fs.readFileSync(path.join(this.data, 'ca.crt')),
        servername: 'localhost',
        agent: false,
        headers: { ...headers },
        timeout,
      };
      if (who) {
        opts.cert = who.cert;
        opts.key = who.key;
      }
      if (body !== undefined) {
        body = Buffer.isBuffer(body) || body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(String(body));
        opts.headers['content-length'] = body.length;
      }
      const req = https.request(opts, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeout} ms: ${method} ${urlPath}`)));
      req.on('error', reject);
      if (body !== undefined) req.end(body);
      else req.end();
    });
  }

  async json(who, method, urlPath, value, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    let body;
    if (value !== undefined) {
      body = JSON.stringify(value);
      headers['content-type'] ??= 'application/json';
    }
    const r = await this.request(who, method, urlPath, { ...opts, body, headers });
    let parsed = null;
    try {
      parsed = r.body.length ? JSON.parse(r.body.toString('utf8')) : null;
    } catch {
      parsed = null;
    }
    return { ...r, json: parsed };
  }

  /// A raw sync request; returns {status, response?, problem?}.
  async syncRaw(who, bodyBytes, { timeout = 60_000, contentType = SYNC_TYPE } = {}) {
    const r = await this.request(who, 'POST', '/v1/sync', {
      body: bodyBytes,
      headers: { 'content-type': contentType },
      timeout,
    });
    const out = { status: r.status, headers: r.headers, raw: r.body };
    if (r.status === 200 && String(r.headers['content-type']).startsWith(SYNC_TYPE)) {
      out.response = decodeResponse(r.body);
    } else {
      try {
        out.problem = JSON.parse(r.body.toString('utf8'));
      } catch {
        out.problem = { text: r.body.toString('utf8').slice(0, 200) };
      }
    }
    return out;
  }

  async sync(who, request, opts) {
    return this.syncRaw(who, encodeRequest(request), opts);
  }

  /// Who is this device: /v1/me.
  async me(stem) {
    if (this.ids[stem]) return this.ids[stem];
    const who = this.identity(stem);
    const r = await this.json(who, 'GET', '/v1/me');
    if (r.status !== 200) throw new Error(`/v1/me as ${stem}: ${r.status} ${r.body}`);
    const me = { ...r.json, who, stem };
    this.ids[stem] = me;
    return me;
  }

  /// Makes a new patient room through the admin API and invites `members` ({stem: role}).
  async makeRoom(name, members) {
    const admin = this.identity('admin');
    const r = await this.json(admin, 'POST', '/v1/admin/rooms', {
      kind: 'patient',
      display_name: name,
      consent: {
        given_by: '試験 太郎',
        relation: '本人',
        date: '2025-04-01',
        obtained_by: '鈴木 健一',
        obtained_by_id: null,
        form: null,
      },
    });
    if (r.status !== 200 && r.status !== 201) throw new Error(`create room: ${r.status} ${r.body}`);
    const id = r.json.id ?? r.json.room?.id;
    for (const [stem, role] of Object.entries(members)) {
      const me = await this.me(stem);
      const inv = await this.json(admin, 'PUT', `/v1/admin/rooms/${id}/members/${me.professional.id}`, { role });
      if (inv.status !== 200) throw new Error(`invite ${stem}: ${inv.status} ${inv.body}`);
    }
    return id;
  }

  /// Is the relay alive and serving a plain member sync (discover)?
  async healthy(stem = 'sato') {
    if (!this.alive) return false;
    try {
      const h = await this.request(null, 'GET', '/healthz', { timeout: 10_000 });
      if (h.status !== 200) return false;
      const r = await this.sync(this.identity(stem), { docs: [], discover: true }, { timeout: 30_000 });
      return r.status === 200;
    } catch {
      return false;
    }
  }
}
