// A small postcard encoder/decoder for the Kizuna sync protocol (docs/protocol.md),
// written independently of the Rust code so the suite speaks the wire as an outsider would.
//
// postcard, as serde drives it here:
//   u16/u32/u64/usize  unsigned LEB128 varint
//   u8                 one raw byte
//   bool               one byte 0/1
//   Option<T>          0x00 | 0x01 T
//   Vec<T>/[T]         varint length, then the items
//   Vec<u8>            varint length, then the raw bytes
//   [u8; 32]           32 raw bytes (a tuple: no length)
//   String             varint byte length, UTF-8 bytes
//   enum               varint variant index, then the variant's fields
//   uuid::Uuid         non-human-readable serde form = serialize_bytes: varint 16, 16 bytes

export class Writer {
  constructor() {
    this.parts = [];
  }
  byte(b) {
    this.parts.push(Buffer.from([b & 0xff]));
    return this;
  }
  varint(n) {
    let v = BigInt(n);
    const out = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      out.push(b);
    } while (v !== 0n);
    this.parts.push(Buffer.from(out));
    return this;
  }
  raw(buf) {
    this.parts.push(Buffer.from(buf));
    return this;
  }
  bytes(buf) {
    buf = Buffer.from(buf);
    this.varint(buf.length);
    this.parts.push(buf);
    return this;
  }
  string(s) {
    return this.bytes(Buffer.from(s, 'utf8'));
  }
  bool(b) {
    return this.byte(b ? 1 : 0);
  }
  uuid(u) {
    const b = uuidBytes(u);
    return this.bytes(b);
  }
  hash(h) {
    const b = typeof h === 'string' ? Buffer.from(h, 'hex') : Buffer.from(h);
    if (b.length !== 32) throw new Error('a hash is 32 bytes');
    return this.raw(b);
  }
  done() {
    return Buffer.concat(this.parts);
  }
}

export class Reader {
  constructor(buf) {
    this.buf = Buffer.from(buf);
    this.pos = 0;
  }
  need(n) {
    if (this.pos + n > this.buf.length) throw new Error('postcard: truncated');
  }
  byte() {
    this.need(1);
    return this.buf[this.pos++];
  }
  varint() {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = this.byte();
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
      if (shift > 70n) throw new Error('postcard: varint too long');
    }
    return Number(v);
  }
  raw(n) {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(b);
  }
  bytes() {
    return this.raw(this.varint());
  }
  string() {
    return this.bytes().toString('utf8');
  }
  bool() {
    const b = this.byte();
    if (b > 1) throw new Error('postcard: bad bool');
    return b === 1;
  }
  uuid() {
    const b = this.bytes();
    if (b.length !== 16) throw new Error('postcard: uuid is not 16 bytes');
    return uuidString(b);
  }
  hash() {
    return this.raw(32).toString('hex');
  }
  seq(f) {
    const n = this.varint();
    const out = [];
    for (let i = 0; i < n; i++) out.push(f());
    return out;
  }
  option(f) {
    return this.byte() ? f() : null;
  }
}

export function uuidBytes(u) {
  if (Buffer.isBuffer(u) || u instanceof Uint8Array) return Buffer.from(u);
  const hex = u.replace(/-/g, '');
  if (hex.length !== 32) throw new Error(`not a uuid: ${u}`);
  return Buffer.from(hex, 'hex');
}

export function uuidString(b) {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const ROOM_KINDS = ['patient', 'city_notices', 'alerts', 'direct'];
export const OUTCOMES = ['Unchanged', 'Updated', 'New', 'Refused', 'Gone', 'SyncMessage'];

function writeScope(w, scope) {
  w.uuid(scope.parent);
  w.varint(scope.audience.length);
  for (const a of scope.audience) w.uuid(a);
}

/// docs: [{doc, known_heads: [hex], changes: [Uint8Array], create?: {parent, audience}, sync_message?: bytes}]
export function encodeRequest({ version = 1, docs = [], discover = false }) {
  const w = new Writer();
  w.varint(version);
  w.varint(docs.length);
  for (const d of docs) {
    w.uuid(d.doc);
    const heads = d.known_heads || [];
    w.varint(heads.length);
    for (const h of heads) w.hash(h);
    const changes = d.changes || [];
    w.varint(changes.length);
    for (const c of changes) w.bytes(c);
    if (d.create) {
      w.byte(1);
      writeScope(w, d.create);
    } else w.byte(0);
    if (d.sync_message) {
      w.byte(1);
      w.bytes(d.sync_message);
    } else w.byte(0);
  }
  w.bool(discover);
  return w.done();
}

function readScope(r) {
  return { parent: r.uuid(), audience: r.seq(() => r.uuid()) };
}

export function decodeResponse(buf) {
  const r = new Reader(buf);
  const version = r.varint();
  const docs = r.seq(() => {
    const doc = r.uuid();
    const tag = r.varint();
    const kind = OUTCOMES[tag];
    if (!kind) throw new Error(`postcard: unknown outcome ${tag}`);
    const o = { kind };
    switch (kind) {
      case 'Updated':
        o.accepted = r.varint();
        o.changes = r.seq(() => r.bytes());
        o.heads = r.seq(() => r.hash());
        break;
      case 'New': {
        const k = r.varint();
        o.info = { kind: ROOM_KINDS[k], scope: r.option(() => readScope(r)) };
        o.bytes = r.bytes();
        o.heads = r.seq(() => r.hash());
        break;
      }
      case 'Refused':
        o.reason = r.string();
        o.changes = r.seq(() => r.bytes());
        o.heads = r.seq(() => r.hash());
        break;
      case 'SyncMessage':
        o.message = r.bytes();
        break;
      default:
        break;
    }
    return { doc, outcome: o };
  });
  const more = r.bool();
  if (r.pos !== r.buf.length) throw new Error('postcard: trailing bytes in the answer');
  return { version, docs, more };
}
