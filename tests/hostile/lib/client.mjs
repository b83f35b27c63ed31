// A hostile "phone": a room member that writes with automerge-js (a different Automerge
// implementation from the relay's), and tools to bend Automerge change chunks by hand.

import * as A from '@automerge/automerge';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';

export { A };
export const MAGIC = Buffer.from([0x85, 0x6f, 0x4a, 0x83]);

export const hex = (b) => Buffer.from(b).toString('hex');
export const actorOf = (deviceId) => deviceId.replace(/-/g, '');
export const str = (s) => new A.ImmutableString(s);
export const now = () => Date.now();

/// Converts plain JSON into what the Rust side writes: strings are scalar strings (not
/// Automerge text), objects maps, arrays lists, integers ints.
export function am(v) {
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return v.map(am);
  if (v && typeof v === 'object' && !(v instanceof A.ImmutableString)) {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = am(x);
    return o;
  }
  return v;
}

/// Reads a value from a loaded document as plain JSON (scalar strings unwrapped).
export function plain(v) {
  if (v instanceof A.ImmutableString) return v.val;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

export function reportContent(extra = {}) {
  return {
    care_time: now(),
    importance: 2,
    scope: { kind: 'all' },
    must_read: [],
    body: { kind: 'free', text: '訪問しました。状態は安定しています。' },
    vitals: [],
    wounds: [],
    attachments: [],
    ...extra,
  };
}

export class Member {
  constructor(relay, me) {
    this.relay = relay;
    this.me = me;
    this.who = me.who;
    this.stem = me.stem;
    this.pro = me.professional.id;
    this.dev = me.device.id;
    this.actor = actorOf(this.dev);
    this.rooms = new Map();
  }

  static async of(relay, stem) {
    return new Member(relay, await relay.me(stem));
  }

  authorInfo() {
    return {
      professional: this.pro,
      device: this.dev,
      name: this.me.professional.name,
      profession: this.me.professional.profession,
      organisation: this.me.professional.organisation.name,
    };
  }

  note(op, target) {
    const n = { op, pro: this.pro, dev: this.dev };
    if (target) n.target = target;
    return JSON.stringify(n);
  }

  /// Fetches the whole room (known_heads = [], every change) into a fresh automerge-js doc.
  async open(room) {
    const r = await this.relay.sync(this.who, { docs: [{ doc: room, known_heads: [], changes: [] }] });
    if (r.status !== 200) throw new Error(`${this.stem} open ${room}: ${r.status} ${JSON.stringify(r.problem)}`);
    const res = r.response.docs.find((d) => d.doc === room);
    if (!res || res.outcome.kind !== 'Updated') {
      throw new Error(`${this.stem} open ${room}: ${res ? res.outcome.kind : 'no answer'}`);
    }
    let doc = A.init({ actor: this.actor });
    [doc] = A.applyChanges(doc, res.outcome.changes);
    const state = { doc, heads: res.outcome.heads };
    this.rooms.set(room, state);
    return state;
  }

  state(room) {
    const s = this.rooms.get(room);
    if (!s) throw new Error(`${this.stem} has not opened ${room}`);
    return s;
  }

  /// Makes one local change and returns its raw bytes (not sent).
  change(room, op, fn, target) {
    const s = this.state(room);
    s.doc = A.change(s.doc, { message: this.note(op, target), time: Math.floor(now() / 1000) }, fn);
    const c = A.getLastLocalChange(s.doc);
    if (!c) throw new Error('no change was made');
    return c;
  }

  /// Sends changes on top of the last heads seen; applies what comes back.
  async push(room, changes, extra = {}) {
    const s = this.state(room);
    const r = await this.relay.sync(this.who, {
      docs: [{ doc: room, known_heads: s.heads, changes, ...extra }],
    });
    if (r.status !== 200) return { status: r.status, problem: r.problem };
    const res = r.response.docs.find((d) => d.doc === room);
    const outcome = res ? res.outcome : { kind: 'Unchanged' };
    if (outcome.kind === 'Updated') {
      [s.doc] = A.applyChanges(s.doc, outcome.changes);
      s.heads = outcome.heads;
    }
    return { status: 200, outcome };
  }

  /// Posts a well-formed report (content overridable); returns {id, outcome}.
  async postReport(room, content = {}, id = randomUUID()) {
    const c = this.change(
      room,
      'post_report',
      (d) => {
        d.reports[id] = am(this.reportRecord(id, content));
      },
      id,
    );
    const r = await this.push(room, [c]);
    return { id, change: c, ...r };
  }

  reportRecord(id, content = {}) {
    return {
      id,
      author: this.authorInfo(),
      post_time: now(),
      content: reportContent(content),
      comments: {},
      receipts: {},
      edits: {},
    };
  }

  /// The room as a member who holds nothing sees it: `discover`, then load the relay's save.
  async fresh(room) {
    const r = await this.relay.sync(this.who, { docs: [], discover: true });
    if (r.status !== 200) throw new Error(`${this.stem} discover: ${r.status} ${JSON.stringify(r.problem)}`);
    const res = r.response.docs.find((d) => d.doc === room);
    if (!res || res.outcome.kind !== 'New') {
      throw new Error(`${this.stem} discover ${room}: ${res ? res.outcome.kind : 'not sent'}`);
    }
    const doc = A.load(res.outcome.bytes);
    return { doc, heads: res.outcome.heads, json: plain(doc) };
  }
}

// ----- change chunks by hand -----

function readUleb(buf, pos) {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  return [v, pos];
}

function uleb(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/// Splits a chunk into its header fields and data.
export function parseChunk(bytes) {
  const b = Buffer.from(bytes);
  if (!b.subarray(0, 4).equals(MAGIC)) throw new Error('not an Automerge chunk');
  const checksum = b.subarray(4, 8);
  const type = b[8];
  const [len, pos] = readUleb(b, 9);
  return { checksum: Buffer.from(checksum), type, data: Buffer.from(b.subarray(pos, pos + len)) };
}

/// SHA-256 over type ‖ uleb(len) ‖ data: the change hash; its first 4 bytes are the checksum.
export function chunkHash(type, data) {
  return crypto.createHash('sha256').update(Buffer.concat([Buffer.from([type]), uleb(data.length), data])).digest();
}

export function buildChunk(type, data, checksum = chunkHash(type, data).subarray(0, 4)) {
  return Buffer.concat([MAGIC, checksum, Buffer.from([type]), uleb(data.length), data]);
}

/// A change chunk (type 1) rewritten as a DEFLATE-compressed chunk (type 2) with the same
/// checksum, as Automerge stores large changes.
export function compressChange(change) {
  const { type, data } = parseChunk(change);
  if (type !== 1) throw new Error('not an uncompressed change');
  const deflated = zlib.deflateRawSync(data, { level: 9 });
  return buildChunk(2, deflated, chunkHash(1, data).subarray(0, 4));
}

/// The hash a correct implementation gives an uncompressed change chunk.
export function changeHash(change) {
  const { type, data } = parseChunk(change);
  return chunkHash(type, data).toString('hex');
}

/// Re-encodes a change after editing its decoded form (automerge-js computes the hash).
export function reencode(change, edit) {
  const d = A.decodeChange(change);
  delete d.hash;
  const e = edit(d) ?? d;
  return A.encodeChange(e);
}

/// Renumbers a change's own operations to start at `start` (ids `N@actor` shift with it).
export function renumber(change, start) {
  const d = A.decodeChange(change);
  const shift = d.startOp - start;
  const actor = d.actor;
  const re = new RegExp(`(\\d+)@${actor}`, 'g');
  const ops = JSON.parse(
    JSON.stringify(d.ops).replace(re, (_, n) => {
      const k = Number(n);
      return k >= d.startOp ? `${k - shift}@${actor}` : `${k}@${actor}`;
    }),
  );
  delete d.hash;
  return { ...d, ops, startOp: start };
}
