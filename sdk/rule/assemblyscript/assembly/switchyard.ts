// switchyard.ts: write a Switchyard routing rule (Rule ABI v1) in AssemblyScript.
//
// Built for `asc ... -O3 --runtime stub --use abort=`: the stub runtime never
// frees, so this library allocates nothing managed per call. The input is read
// into views ("unmanaged" objects) on a per-call arena that is reset at every
// call; the decision is written straight into output buffers. A rule's entry
// file re-exports the ABI and hands its functions to the entry helpers:
//
//   import { Input, Decision, Value, routeEntry, initEntry } from ".../assembly/switchyard";
//   export { sy_abi_v1, sy_alloc } from ".../assembly/switchyard";
//   export function sy_init(p: usize, n: u32): i32 { return initEntry(p, n, init); }
//   export function sy_route(p: usize, n: u32): u64 { return routeEntry(p, n, route); }
//
// See README.md beside this folder for the API, the memory layout and the limits.

export const MAX_OUTPUT: i32 = 64 * 1024;
const SIDE: i32 = 4096;

// ---------------------------------------------------------------------------
// Memory: buffers come from the runtime's heap once (heap.alloc); the arena is
// a chunk of it, reset per call and replaced by a chunk twice as large when a
// call needs more (the old chunk is abandoned then).

let inPtr: usize = 0;
let inCap: usize = 0;
let arenaPtr: usize = 0;
let arenaCap: usize = 0;
let arenaTop: usize = 0;

export function sy_abi_v1(): void {}

/** The input buffer: valid until the next sy_alloc; reused while inputs fit. */
export function sy_alloc(size: u32): usize {
  if (<usize>size > inCap || inPtr == 0) {
    let want = max<usize>(<usize>size, inCap << 1);
    want = (max<usize>(want, 16) + 4095) & ~4095;
    if (want > 0x3fff0000) return 0;
    inPtr = heap.alloc(want);
    inCap = want;
  }
  return inPtr;
}

function resetArena(): void {
  arenaTop = arenaPtr;
}

/** n bytes (8-aligned) of per-call memory, valid until the export returns. */
export function alloc(n: usize): usize {
  let p = (arenaTop + 7) & ~7;
  if (arenaPtr == 0 || p + n > arenaPtr + arenaCap) {
    let want = (max<usize>(max<usize>(arenaCap << 1, n + 8), 256 * 1024) + 65535) & ~65535;
    if (want > 0x3fff0000) unreachable();
    arenaPtr = heap.alloc(want);
    arenaCap = want;
    p = (arenaPtr + 7) & ~7;
  }
  arenaTop = p + n;
  return p;
}

// ---------------------------------------------------------------------------
// Logging (switchyard.log: truncated to 1 KiB, rate limited by the router).

// @ts-ignore: decorator
@external("switchyard", "log")
declare function hostLog(level: i32, ptr: usize, len: u32): void;

export const DEBUG: i32 = 0;
export const INFO: i32 = 1;
export const WARN: i32 = 2;
export const ERROR: i32 = 3;

/** Logs an ASCII/UTF-16 message (encoded to UTF-8 on the arena). */
export function log(level: i32, msg: string): void {
  let b = Buf.make(msg.length * 3 + 8);
  b.text(msg, false);
  hostLog(level, b.ptr, <u32>b.n);
}

// ---------------------------------------------------------------------------
// Reading JSON. With the router's deadline on, every loop iteration in the
// guest costs a call back into the host: strings are scanned eight bytes a
// step and keys compared with word loads. The reader state is global (no
// allocation); P is the position, END the end, ERR set on malformed input.

let P: usize = 0;
let END: usize = 0;
let ERR: bool = false;

const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;

// @ts-ignore: decorator
@inline function at(p: usize): u32 { return <u32>load<u8>(p); }

function fail(): void { ERR = true; P = END; }

function ws(): void {
  if (P >= END || at(P) > 32) return;
  while (P < END) {
    let c = at(P);
    if (c != 32 && c != 10 && c != 9 && c != 13) break;
    P++;
  }
}

function peek(): u32 {
  ws();
  return P < END ? at(P) : 0;
}

function eat(ch: u32): bool {
  if (peek() == ch) { P++; return true; }
  return false;
}

// widen spreads four bytes into four UTF-16 code units.
// @ts-ignore: decorator
@inline function widen(x: u32): u64 {
  let v = <u64>x;
  return (v & 0xff) | ((v & 0xff00) << 8) | ((v & 0xff0000) << 16) | ((v & 0xff000000) << 24);
}

// @ts-ignore: decorator
@inline function eq4(p: usize, s: usize, i: usize): bool {
  return widen(load<u32>(p + i)) == load<u64>(s + (i << 1));
}

/** eqAscii: the n bytes at p equal the ASCII string s (no loop up to 24). */
export function eqAscii(p: usize, n: i32, s: string): bool {
  if (s.length != n) return false;
  let q = changetype<usize>(s);
  let u = <usize>n;
  if (n >= 8) {
    if (n <= 16) return eq4(p, q, 0) && eq4(p, q, 4) && eq4(p, q, u - 8) && eq4(p, q, u - 4);
    if (n <= 24) return eq4(p, q, 0) && eq4(p, q, 4) && eq4(p, q, 8) && eq4(p, q, 12) && eq4(p, q, u - 8) && eq4(p, q, u - 4);
    for (let i: usize = 0; i < u; i++) if (at(p + i) != <u32>load<u16>(q + (i << 1))) return false;
    return true;
  }
  if (n >= 4) return eq4(p, q, 0) && eq4(p, q, u - 4);
  if (n == 3) return at(p) == <u32>load<u16>(q) && at(p + 1) == <u32>load<u16>(q, 2) && at(p + 2) == <u32>load<u16>(q, 4);
  if (n == 2) return at(p) == <u32>load<u16>(q) && at(p + 1) == <u32>load<u16>(q, 2);
  if (n == 1) return at(p) == <u32>load<u16>(q);
  return true;
}

function lit(s: string): bool {
  let n = s.length;
  if (<i32>(END - P) < n || !eqAscii(P, n, s)) return false;
  P += <usize>n;
  return true;
}

/** A JSON string's contents as they appear in the input: still escaped. */
@unmanaged export class Str {
  ptr: usize;
  len: i32;

  static make(ptr: usize, len: i32): Str {
    let s = changetype<Str>(alloc(offsetof<Str>()));
    s.ptr = ptr;
    s.len = len;
    return s;
  }

  get isEmpty(): bool { return this.len == 0; }

  /** Reports whether the decoded string equals text. */
  eq(text: string): bool {
    let e = encoded(text, false), tp: usize, tn: i32, tbs: bool;
    if (e) {
      tp = e + 8; tn = load<i32>(e); tbs = load<i32>(e, 4) != 0;
    } else {
      let b = Buf.make(text.length * 3 + 2);
      b.encode(text, false);
      tp = b.ptr; tn = b.n; tbs = hasByte(tp, tn, 92);
    }
    if (this.len == tn && sameBytes(this.ptr, tp, tn)) return !tbs;
    if (this.len < tn || !hasByte(this.ptr, this.len, 92)) return false;
    let d = this.decoded();
    return d.len == tn && sameBytes(d.ptr, tp, tn);
  }

  /** The decoded UTF-8 bytes, on the arena. */
  decoded(): Str {
    let out = alloc(<usize>this.len + 4);
    let o: usize = 0;
    let s = this.ptr, n = <usize>this.len;
    for (let i: usize = 0; i < n; i++) {
      let c = at(s + i);
      if (c != 92 || i + 1 >= n) { store<u8>(out + o++, c); continue; }
      c = at(s + ++i);
      if (c == 98) store<u8>(out + o++, 8);
      else if (c == 102) store<u8>(out + o++, 12);
      else if (c == 110) store<u8>(out + o++, 10);
      else if (c == 114) store<u8>(out + o++, 13);
      else if (c == 116) store<u8>(out + o++, 9);
      else if (c == 117) {
        let r = hex4(s, i + 1, n);
        i += 4;
        if (r >= 0xd800 && r < 0xdc00 && i + 6 < n && at(s + i + 1) == 92 && at(s + i + 2) == 117) {
          let lo = hex4(s, i + 3, n);
          if (lo >= 0xdc00 && lo < 0xe000) { r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00); i += 6; }
        }
        if (r >= 0xd800 && r < 0xe000) r = 0xfffd;
        o += putUtf8(out + o, r);
      } else store<u8>(out + o++, c);
    }
    return Str.make(out, <i32>o);
  }

  /** The decoded value as a managed string. Allocates on the runtime heap,
   * which the stub runtime never frees: for sy_init, not for every call. */
  toString(): string {
    let d = this.decoded();
    return String.UTF8.decodeUnsafe(d.ptr, <usize>d.len);
  }
}

function hex4(s: usize, i: usize, n: usize): u32 {
  if (i + 4 > n) return 0xfffd;
  let v: u32 = 0;
  for (let k: usize = 0; k < 4; k++) {
    let c = at(s + i + k);
    let d: u32;
    if (c - 48 <= 9) d = c - 48;
    else if ((c | 32) - 97 <= 5) d = (c | 32) - 87;
    else return 0xfffd;
    v = (v << 4) | d;
  }
  return v;
}

function putUtf8(p: usize, r: u32): usize {
  if (r < 0x80) { store<u8>(p, r); return 1; }
  if (r < 0x800) { store<u8>(p, 0xc0 | (r >> 6)); store<u8>(p, 0x80 | (r & 63), 1); return 2; }
  if (r < 0x10000) {
    store<u8>(p, 0xe0 | (r >> 12)); store<u8>(p, 0x80 | ((r >> 6) & 63), 1); store<u8>(p, 0x80 | (r & 63), 2);
    return 3;
  }
  store<u8>(p, 0xf0 | (r >> 18)); store<u8>(p, 0x80 | ((r >> 12) & 63), 1);
  store<u8>(p, 0x80 | ((r >> 6) & 63), 2); store<u8>(p, 0x80 | (r & 63), 3);
  return 4;
}

// ---------------------------------------------------------------------------
// String literals live in static memory (below __heap_base): their UTF-8 (plain
// and as a quoted JSON string) is encoded once, on the runtime heap, and then
// copied with one memory.copy. Other strings are encoded every time (and never
// cached: under the stub runtime they would leak).

const CACHE_SLOTS = 64;
// Static memory (memory.data), not `new`: top-level allocations would need a
// start function, which the router's deadline instrumentation cannot handle.
const cacheKeys = memory.data(CACHE_SLOTS * sizeof<usize>(), 8);
const cacheVals = memory.data(CACHE_SLOTS * sizeof<usize>(), 8);

// An entry: [len i32][has backslash i32][bytes...].
function encoded(s: string, quoted: bool): usize {
  let sp = changetype<usize>(s);
  if (sp >= __heap_base) return 0;
  let k = sp | <usize>quoted;
  let slot = <i32>((sp >> 3) ^ (sp >> 9) ^ <usize>quoted) & (CACHE_SLOTS - 1);
  let at = <usize>slot * sizeof<usize>();
  if (load<usize>(cacheKeys + at) == k) return load<usize>(cacheVals + at);
  let b = changetype<Buf>(heap.alloc(offsetof<Buf>()));
  b.cap = s.length * 6 + 2;
  b.ptr = heap.alloc(<usize>b.cap);
  b.n = 0;
  b.over = false;
  b.encode(s, quoted);
  let e = heap.alloc(8 + <usize>b.n);
  store<i32>(e, b.n);
  store<i32>(e, hasByte(b.ptr, b.n, 92) ? 1 : 0, 4);
  memory.copy(e + 8, b.ptr, <usize>b.n);
  heap.free(b.ptr);
  heap.free(changetype<usize>(b));
  store<usize>(cacheKeys + at, k);
  store<usize>(cacheVals + at, e);
  return e;
}

const SCRATCH = memory.data(8, 8);

/** hasByte: the byte ch occurs in [p, p+n); no loop up to 8 bytes. */
export function hasByte(p: usize, n: i32, ch: u32): bool {
  let pat = ONES * <u64>ch;
  let i = 0;
  if (n > 8) {
    for (; i + 8 <= n; i += 8) {
      let x = load<u64>(p + <usize>i) ^ pat;
      if ((x - ONES) & ~x & HIGHS) return true;
    }
  }
  if (i == n) return false;
  store<u64>(SCRATCH, ~pat); // padding bytes differ from ch
  memory.copy(SCRATCH, p + <usize>i, <usize>(n - i));
  let x = load<u64>(SCRATCH) ^ pat;
  return ((x - ONES) & ~x & HIGHS) != 0;
}

/** sameBytes compares n bytes at a and b (word loads, no loop up to 24). */
export function sameBytes(a: usize, b: usize, n: i32): bool {
  let u = <usize>n;
  if (n >= 8) {
    if (n <= 16) return load<u64>(a) == load<u64>(b) && load<u64>(a + u - 8) == load<u64>(b + u - 8);
    if (n <= 24) return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8) && load<u64>(a + u - 8) == load<u64>(b + u - 8);
    for (let i: usize = 0; i + 8 <= u; i += 8) if (load<u64>(a + i) != load<u64>(b + i)) return false;
    return load<u64>(a + u - 8) == load<u64>(b + u - 8);
  }
  if (n >= 4) return load<u32>(a) == load<u32>(b) && load<u32>(a + u - 4) == load<u32>(b + u - 4);
  if (n >= 2) return load<u16>(a) == load<u16>(b) && load<u16>(a + u - 2) == load<u16>(b + u - 2);
  return n == 0 || load<u8>(a) == load<u8>(b);
}

// readString reads a string at P; the raw contents go to SP/SN.
let SP: usize = 0;
let SN: i32 = 0;

function readString(): void {
  if (peek() != 34) { fail(); SN = 0; return; }
  let start = ++P;
  while (true) {
    while (END - P >= 8) {
      let w = load<u64>(P);
      let q = w ^ (ONES * 0x22), e = w ^ (ONES * 0x5c);
      if ((((q - ONES) & ~q) | ((e - ONES) & ~e) | ((w - ONES * 0x20) & ~w)) & HIGHS) break;
      P += 8;
    }
    while (P < END) {
      let c = at(P);
      if (c == 34 || c == 92 || c < 32) break;
      P++;
    }
    if (P >= END || at(P) < 32) { fail(); SN = 0; return; }
    if (at(P) == 34) break;
    P += 2;
  }
  SP = start;
  SN = <i32>(P - start);
  P++;
}

function readStr(): Str {
  if (peek() == 110) { if (!lit("null")) fail(); return Str.make(0, 0); }
  readString();
  return Str.make(SP, SN);
}

const POW10: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
  1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

// readNumber reads a number (null reads as 0): NUM gets it, INT gets it
// truncated toward zero (exact for integers up to 10^17).
let NUM: f64 = 0;
let INT: i64 = 0;

function readNumber(): void {
  NUM = 0; INT = 0;
  if (peek() == 110) { if (!lit("null")) fail(); return; }
  let neg = false;
  if (P < END && at(P) == 45) { neg = true; P++; }
  let m: u64 = 0, exp: i32 = 0, digits = 0;
  while (P < END && at(P) - 48 <= 9) {
    if (m < 100000000000000000) m = m * 10 + <u64>(at(P) - 48); else exp++;
    P++; digits++;
  }
  if (!digits) { fail(); return; }
  if (P < END && at(P) == 46) {
    P++;
    while (P < END && at(P) - 48 <= 9) {
      if (m < 100000000000000000) { m = m * 10 + <u64>(at(P) - 48); exp--; }
      P++;
    }
  }
  if (P < END && (at(P) | 32) == 101) {
    P++;
    let eneg = false;
    if (P < END && (at(P) == 43 || at(P) == 45)) { eneg = at(P) == 45; P++; }
    let e: i32 = 0;
    while (P < END && at(P) - 48 <= 9) { if (e < 10000) e = e * 10 + <i32>(at(P) - 48); P++; }
    exp += eneg ? -e : e;
  }
  let v = <f64>m;
  if (exp != 0) {
    let a = exp < 0 ? -exp : exp;
    let scale: f64 = 1;
    while (a > 22) { scale *= 1e22; a -= 22; }
    scale *= unchecked(POW10[a]);
    v = exp < 0 ? v / scale : v * scale;
  }
  if (neg) v = -v;
  NUM = v;
  if (exp == 0) INT = neg ? -<i64>m : <i64>m;
  else if (v >= 9.2e18) INT = i64.MAX_VALUE;
  else if (v <= -9.2e18) INT = i64.MIN_VALUE;
  else INT = <i64>v;
}

function readInt(): i64 { readNumber(); return INT; }
function readNum(): f64 { readNumber(); return NUM; }

function readBool(): bool {
  let c = peek();
  if (c == 116 && lit("true")) return true;
  if ((c == 102 && lit("false")) || (c == 110 && lit("null"))) return false;
  fail();
  return false;
}

function skipValue(): void {
  let depth = 0;
  while (true) {
    let c = peek();
    if (c == 123 || c == 91) {
      if (++depth > 64) { fail(); return; }
      P++;
      continue;
    } else if (c == 125 || c == 93) {
      depth--;
      P++;
    } else if (c == 44 || c == 58) {
      P++;
      continue;
    } else if (c == 34) {
      readString();
    } else if (c == 116 || c == 102 || c == 110) {
      readBool();
    } else if (c == 0) {
      fail();
      return;
    } else {
      readNumber();
    }
    if (ERR || depth <= 0) { if (depth < 0) fail(); return; }
  }
}

function readRaw(): Value {
  ws();
  let start = P;
  skipValue();
  return Value.make(start, ERR ? 0 : <i32>(P - start));
}

function openValue(ch: u32): bool {
  if (peek() == 110) { if (!lit("null")) fail(); return false; }
  if (!eat(ch)) fail();
  return !ERR;
}

// member moves to the next member of an open object: the key goes to SP/SN.
function member(first: bool): bool {
  if (eat(125)) return false;
  if (!first && !eat(44)) { fail(); return false; }
  readString();
  if (ERR || !eat(58)) { fail(); return false; }
  return true;
}

function element(first: bool): bool {
  if (eat(93)) return false;
  if (!first && !eat(44)) { fail(); return false; }
  return !ERR;
}

// @ts-ignore: decorator
@inline function key(s: string): bool { return SN == s.length && eqAscii(SP, SN, s); }

export const enum Kind { Missing, Null, Bool, Number, String, Array, Object }

/** The text of one JSON value; len 0 when absent. */
@unmanaged export class Value {
  ptr: usize;
  len: i32;

  static make(ptr: usize, len: i32): Value {
    let v = changetype<Value>(alloc(offsetof<Value>()));
    v.ptr = ptr;
    v.len = len;
    return v;
  }

  get kind(): Kind {
    if (this.len == 0) return Kind.Missing;
    let c = at(this.ptr);
    if (c == 110) return Kind.Null;
    if (c == 116 || c == 102) return Kind.Bool;
    if (c == 34) return Kind.String;
    if (c == 91) return Kind.Array;
    if (c == 123) return Kind.Object;
    return Kind.Number;
  }

  /** Number truncated toward zero; def when not a number. */
  int(def: i64): i64 {
    if (this.kind != Kind.Number) return def;
    let s = save(this);
    let v = readInt();
    let bad = ERR;
    restore(s);
    return bad ? def : v;
  }

  num(def: f64): f64 {
    if (this.kind != Kind.Number) return def;
    let s = save(this);
    let v = readNum();
    let bad = ERR;
    restore(s);
    return bad ? def : v;
  }

  bool(def: bool): bool {
    return this.kind == Kind.Bool ? at(this.ptr) == 116 : def;
  }

  /** The contents of a string (empty when not a string). */
  str(): Str {
    if (this.kind != Kind.String || this.len < 2) return Str.make(0, 0);
    return Str.make(this.ptr + 1, this.len - 2);
  }

  /** The member key of an object (Missing when absent). */
  get(k: string): Value {
    let it = this.iter();
    while (it.next()) if (it.key.eq(k)) return it.value;
    return Value.make(0, 0);
  }

  /** Reports whether an array holds the string text. */
  has(text: string): bool {
    let it = this.iter();
    while (it.next()) if (it.value.kind == Kind.String && it.value.str().eq(text)) return true;
    return false;
  }

  /** Iterates an object's members or an array's elements:
   *   let it = v.iter(); while (it.next()) { it.key; it.value } */
  iter(): Iter {
    let it = changetype<Iter>(alloc(offsetof<Iter>()));
    it.p = this.ptr;
    it.end = this.ptr + <usize>this.len;
    it.first = true;
    let k = this.kind;
    it.object = k == Kind.Object;
    it.done = k != Kind.Object && k != Kind.Array;
    if (!it.done) it.p++;
    it.key = Str.make(0, 0);
    it.value = Value.make(0, 0);
    return it;
  }
}

@unmanaged export class Iter {
  p: usize;
  end: usize;
  first: bool;
  object: bool;
  done: bool;
  key: Str;
  value: Value;

  next(): bool {
    if (this.done) return false;
    let sp = P, se = END, sr = ERR;
    P = this.p; END = this.end; ERR = false;
    let ok = this.object ? member(this.first) : element(this.first);
    if (ok) {
      if (this.object) { this.key.ptr = SP; this.key.len = SN; }
      let v = readRaw();
      this.value.ptr = v.ptr;
      this.value.len = v.len;
    }
    ok = ok && !ERR;
    this.first = false;
    this.p = P;
    this.done = !ok;
    P = sp; END = se; ERR = sr;
    return ok;
  }
}

@unmanaged class Saved { p: usize; end: usize; err: bool; }

function save(v: Value): Saved {
  let s = changetype<Saved>(alloc(offsetof<Saved>()));
  s.p = P; s.end = END; s.err = ERR;
  P = v.ptr; END = v.ptr + <usize>v.len; ERR = false;
  return s;
}

function restore(s: Saved): void {
  P = s.p; END = s.end; ERR = s.err;
}

// ---------------------------------------------------------------------------
// The input.

/** The compact view of the client's request. */
@unmanaged export class Request {
  id: Str;
  /** "chat.completions", "responses", "messages", "embeddings" or "completions". */
  endpoint: Str;
  model: Str;
  stream: bool;
  /** 1..10, 10 is the most important; 5 when absent. */
  priority: i64;
  promptTokensEstimate: i64;
  /** 0 when the client set none. */
  maxTokens: i64;
  messages: i64;
  chars: i64;
  hasTools: bool;
  hasImages: bool;
  jsonMode: bool;
  /** The client key's configured name, never the secret. */
  key: Str;
  /** The key's team (its team: in the router config); empty when none. */
  team: Str;
  user: Str;
  /** request.budget: the key's spend budget and what is left of it, before
   * this request; null when the key has none. */
  budget: Budget | null;
  /** request.limits: the key's rate limits for the requested model and their
   * headroom, before this request; null when the key has none. */
  limits: Limits | null;
  /** Array of strings: tags.has("batch"). */
  tags: Value;
  /** Object: metadata.get("tier").str(). */
  metadata: Value;
  /** Object of the headers the rule's config asks for. */
  headers: Value;
  /** request.content, only for a rule whose router config has
   * content: {max_bytes: N} (Kind.Missing otherwise): an object with last_user
   * and system (strings cut to N bytes), has_code_fence, has_image,
   * has_tool_results and language_hint; see ABI.md. content.get("last_user"). */
  content: Value;

  static make(): Request {
    let r = changetype<Request>(alloc(offsetof<Request>()));
    memory.fill(changetype<usize>(r), 0, offsetof<Request>());
    let e = Str.make(0, 0), v = Value.make(0, 0);
    r.id = e; r.endpoint = e; r.model = e; r.key = e; r.team = e; r.user = e;
    r.tags = v; r.metadata = v; r.headers = v; r.content = v;
    r.priority = 5;
    return r;
  }
}

/** request.budget (ABI.md): the calling key's spend budget in the current
 * period, before this request is counted. */
@unmanaged export class Budget {
  /** The budget per period, USD. */
  usd: f64;
  /** "day", "week", "month" (UTC calendar periods) or "total". */
  period: Str;
  /** Spent in the current period. */
  spentUsd: f64;
  /** usd - spentUsd, 0 once the spend has reached the budget. */
  remainingUsd: f64;
  /** When the period ends and the spend starts again at 0; 0 for "total". */
  resetsUnixMs: i64;

  /** The share of the budget left, remainingUsd / usd within 0..1; 0 for a
   * budget of 0. */
  remainingFraction(): f64 {
    if (!(this.usd > 0)) return 0;
    return clamp01(this.remainingUsd / this.usd);
  }
}

/** request.limits (ABI.md): the calling key's rate limits per minute for the
 * requested model (the tightest of its own and its per-model ones) and what is
 * left of each in the current minute, before this request is counted. A limit
 * of 0 is none: its remaining is then 0 and means nothing. */
@unmanaged export class Limits {
  rpm: i64;
  rpmRemaining: i64;
  tpm: i64;
  tpmRemaining: i64;

  /** The share of the request limit left, within 0..1; 1 without one. */
  rpmFraction(): f64 { return limitFraction(this.rpmRemaining, this.rpm); }
  /** The share of the token limit left, within 0..1; 1 without one. */
  tpmFraction(): f64 { return limitFraction(this.tpmRemaining, this.tpm); }
}

function clamp01(f: f64): f64 { return f < 0 ? 0 : f > 1 ? 1 : f; }

function limitFraction(remaining: i64, limit: i64): f64 {
  if (limit <= 0) return 1;
  return clamp01(<f64>remaining / <f64>limit);
}

/** One target the rule may choose, with live statistics. */
@unmanaged export class Candidate {
  provider: Str;
  model: Str;
  contextWindow: i64;
  usdPerMtokIn: f64;
  usdPerMtokOut: f64;
  /** Array of strings; see has(). */
  capabilities: Value;
  healthy: bool;
  /** "closed", "half_open" or "open". */
  circuit: Str;
  p50Ms: f64;
  p95Ms: f64;
  errorRate: f64;
  inflight: i64;
  /** Position in the input's candidates. */
  index: i32;

  /** Reports whether the candidate lists the capability. */
  has(capability: string): bool { return this.capabilities.has(capability); }
}

/** The decoded sy_route input. Use nowUnixMs and randomSeed: the sandbox
 * clock is frozen. Views are valid until the export returns. */
@unmanaged export class Input {
  abi: i64;
  nowUnixMs: i64;
  randomSeed: u64;
  request: Request;
  /** The number of candidates; candidate(i) returns one. */
  count: i32;
  list: usize;
  /** "null" unless the chain runs again after a fallback verdict. */
  previous: Value;

  candidate(i: i32): Candidate {
    return changetype<Candidate>(load<usize>(this.list + (<usize>i << alignof<usize>())));
  }
}

function readRequest(r: Request): void {
  if (!openValue(123)) return;
  let first = true;
  while (member(first)) {
    first = false;
    switch (SN) {
      case 2: if (key("id")) { r.id = readStr(); continue; } break;
      case 3: if (key("key")) { r.key = readStr(); continue; } break;
      case 4:
        if (key("user")) { r.user = readStr(); continue; }
        if (key("tags")) { r.tags = readRaw(); continue; }
        if (key("team")) { r.team = readStr(); continue; }
        break;
      case 5:
        if (key("model")) { r.model = readStr(); continue; }
        if (key("chars")) { r.chars = readInt(); continue; }
        break;
      case 6:
        if (key("stream")) { r.stream = readBool(); continue; }
        if (key("budget")) { r.budget = readBudget(); continue; }
        if (key("limits")) { r.limits = readLimits(); continue; }
        break;
      case 7:
        if (key("headers")) { r.headers = readRaw(); continue; }
        if (key("content")) { r.content = readRaw(); continue; }
        break;
      case 8:
        if (key("endpoint")) { r.endpoint = readStr(); continue; }
        if (key("priority")) { r.priority = readInt(); continue; }
        if (key("messages")) { r.messages = readInt(); continue; }
        if (key("metadata")) { r.metadata = readRaw(); continue; }
        break;
      case 9:
        if (key("has_tools")) { r.hasTools = readBool(); continue; }
        if (key("json_mode")) { r.jsonMode = readBool(); continue; }
        break;
      case 10:
        if (key("max_tokens")) { r.maxTokens = readInt(); continue; }
        if (key("has_images")) { r.hasImages = readBool(); continue; }
        break;
      case 22: if (key("prompt_tokens_estimate")) { r.promptTokensEstimate = readInt(); continue; } break;
    }
    skipValue();
  }
}

// readBudget reads request.budget; null reads as null, a repeated one replaces.
function readBudget(): Budget | null {
  if (!openValue(123)) return null;
  let b = changetype<Budget>(alloc(offsetof<Budget>()));
  memory.fill(changetype<usize>(b), 0, offsetof<Budget>());
  b.period = Str.make(0, 0);
  let first = true;
  while (member(first)) {
    first = false;
    if (key("usd")) b.usd = readNum();
    else if (key("period")) b.period = readStr();
    else if (key("spent_usd")) b.spentUsd = readNum();
    else if (key("remaining_usd")) b.remainingUsd = readNum();
    else if (key("resets_unix_ms")) b.resetsUnixMs = readInt();
    else skipValue();
  }
  return b;
}

// readLimits reads request.limits; null reads as null, a repeated one replaces.
function readLimits(): Limits | null {
  if (!openValue(123)) return null;
  let l = changetype<Limits>(alloc(offsetof<Limits>()));
  memory.fill(changetype<usize>(l), 0, offsetof<Limits>());
  let first = true;
  while (member(first)) {
    first = false;
    if (key("rpm")) l.rpm = readInt();
    else if (key("rpm_remaining")) l.rpmRemaining = readInt();
    else if (key("tpm")) l.tpm = readInt();
    else if (key("tpm_remaining")) l.tpmRemaining = readInt();
    else skipValue();
  }
  return l;
}

function readCandidate(x: Candidate): void {
  if (!eat(123)) { fail(); return; }
  let first = true;
  while (member(first)) {
    first = false;
    switch (SN) {
      case 5: if (key("model")) { x.model = readStr(); continue; } break;
      case 6:
        if (key("p50_ms")) { x.p50Ms = readNum(); continue; }
        if (key("p95_ms")) { x.p95Ms = readNum(); continue; }
        break;
      case 7:
        if (key("healthy")) { x.healthy = readBool(); continue; }
        if (key("circuit")) { x.circuit = readStr(); continue; }
        break;
      case 8:
        if (key("provider")) { x.provider = readStr(); continue; }
        if (key("inflight")) { x.inflight = readInt(); continue; }
        break;
      case 10: if (key("error_rate")) { x.errorRate = readNum(); continue; } break;
      case 12: if (key("capabilities")) { x.capabilities = readRaw(); continue; } break;
      case 14: if (key("context_window")) { x.contextWindow = readInt(); continue; } break;
      case 15: if (key("usd_per_mtok_in")) { x.usdPerMtokIn = readNum(); continue; } break;
      case 16: if (key("usd_per_mtok_out")) { x.usdPerMtokOut = readNum(); continue; } break;
    }
    skipValue();
  }
}

function readCandidates(input: Input): void {
  if (!openValue(91)) return;
  let cap = 0, n = 0;
  let list: usize = 0;
  let first = true;
  let e = Str.make(0, 0), v = Value.make(0, 0);
  while (element(first)) {
    first = false;
    if (n == cap) { // a pointer array that doubles when full
      let ncap = cap ? cap << 1 : 16;
      let nl = alloc(<usize>ncap << alignof<usize>());
      if (n) memory.copy(nl, list, <usize>n << alignof<usize>());
      list = nl;
      cap = ncap;
    }
    let x = changetype<Candidate>(alloc(offsetof<Candidate>()));
    memory.fill(changetype<usize>(x), 0, offsetof<Candidate>());
    x.provider = e; x.model = e; x.circuit = e; x.capabilities = v;
    x.index = n;
    readCandidate(x);
    if (ERR) return;
    store<usize>(list + (<usize>n << alignof<usize>()), changetype<usize>(x));
    n++;
  }
  input.list = list;
  input.count = n;
}

function readInput(ptr: usize, len: usize): Input | null {
  P = ptr; END = ptr + len; ERR = false;
  let input = changetype<Input>(alloc(offsetof<Input>()));
  memory.fill(changetype<usize>(input), 0, offsetof<Input>());
  input.request = Request.make();
  input.previous = Value.make(0, 0);
  if (!eat(123)) return null;
  let first = true;
  while (member(first)) {
    first = false;
    if (key("request")) readRequest(input.request);
    else if (key("candidates")) readCandidates(input);
    else if (key("abi")) input.abi = readInt();
    else if (key("now_unix_ms")) input.nowUnixMs = readInt();
    else if (key("random_seed")) {
      ws();
      let v: u64 = 0;
      while (P < END && at(P) - 48 <= 9) { v = v * 10 + <u64>(at(P) - 48); P++; }
      if (P < END && (at(P) == 46 || (at(P) | 32) == 101)) readNumber();
      input.randomSeed = v;
    } else if (key("previous")) input.previous = readRaw();
    else skipValue();
    if (ERR) return null;
  }
  ws();
  if (ERR || P != END) return null;
  return input;
}

// ---------------------------------------------------------------------------
// Output.

@unmanaged class Buf {
  ptr: usize;
  n: i32;
  cap: i32;
  over: bool;

  static make(cap: i32): Buf {
    let b = changetype<Buf>(alloc(offsetof<Buf>()));
    b.ptr = alloc(<usize>cap);
    b.n = 0;
    b.cap = cap;
    b.over = false;
    return b;
  }

  bytes(p: usize, n: i32): void {
    if (this.n + n > this.cap) { this.over = true; return; }
    memory.copy(this.ptr + <usize>this.n, p, <usize>n);
    this.n += n;
  }

  byte(c: u32): void {
    if (this.n >= this.cap) { this.over = true; return; }
    store<u8>(this.ptr + <usize>this.n, c);
    this.n++;
  }

  /** ASCII text as it is (for JSON punctuation). */
  ascii(s: string): void { this.text(s, false); }

  /** text as UTF-8, as a JSON string when quoted. */
  text(s: string, quoted: bool): void {
    let e = encoded(s, quoted);
    if (e) this.bytes(e + 8, load<i32>(e));
    else this.encode(s, quoted);
  }

  encode(s: string, quoted: bool): void {
    if (quoted) this.byte(34);
    let n = s.length;
    for (let i = 0; i < n; i++) {
      let c = <u32>s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
        let lo = <u32>s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00); i++; }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (quoted && (c < 32 || c == 34 || c == 92)) {
        this.byte(92);
        if (c == 34 || c == 92) this.byte(c);
        else if (c == 10) this.byte(110);
        else if (c == 13) this.byte(114);
        else if (c == 9) this.byte(116);
        else { this.ascii("u00"); this.byte(hexDigit(c >> 4)); this.byte(hexDigit(c & 15)); }
        continue;
      }
      if (this.n + 4 > this.cap) { this.over = true; return; }
      this.n += <i32>putUtf8(this.ptr + <usize>this.n, c);
    }
    if (quoted) this.byte(34);
  }

  raw(s: Str): void {
    this.byte(34);
    this.bytes(s.ptr, s.len);
    this.byte(34);
  }

  int(v: i64): void {
    let t = alloc(24);
    let i = 24;
    let u: u64 = v < 0 ? <u64>(-v) : <u64>v;
    do { store<u8>(t + <usize>--i, <u32>(u % 10) + 48); u /= 10; } while (u);
    if (v < 0) store<u8>(t + <usize>--i, 45);
    this.bytes(t + <usize>i, 24 - i);
  }

  /** A finite number with up to 9 decimals (temperature, top_p). */
  num(v: f64): void {
    if (!isFinite(v) || v >= 1e15 || v <= -1e15) v = 0;
    if (v < 0) { this.byte(45); v = -v; }
    let ip = <u64>v;
    let fp = <u64>((v - <f64>ip) * 1e9 + 0.5);
    if (fp >= 1000000000) { ip++; fp -= 1000000000; }
    this.int(<i64>ip);
    if (fp) {
      let t = alloc(9);
      for (let i = 8; i >= 0; i--) { store<u8>(t + <usize>i, <u32>(fp % 10) + 48); fp /= 10; }
      let n = 9;
      while (n > 1 && at(t + <usize>n - 1) == 48) n--;
      this.byte(46);
      this.bytes(t, n);
    }
  }

  sep(): void { if (this.n) this.byte(44); }

  packed(): u64 { return (<u64>this.ptr << 32) | <u64>this.n; }
}

function hexDigit(d: u32): u32 { return d < 10 ? 48 + d : 87 + d; }

/** A decision being built; leaving it empty means "no opinion". Everything
 * given to it is copied at once. */
@unmanaged export class Decision {
  out: Buf;
  reason_: Buf;
  tags: Buf;
  params: Buf;
  reject_: Buf;
  error: Buf;
  targets: i32;
  rejected: bool;
  failed: bool;

  static make(): Decision {
    let d = changetype<Decision>(alloc(offsetof<Decision>()));
    d.out = Buf.make(MAX_OUTPUT);
    d.out.ascii("{\"targets\":[");
    d.reason_ = Buf.make(SIDE);
    d.tags = Buf.make(SIDE);
    d.params = Buf.make(SIDE);
    d.reject_ = changetype<Buf>(0);
    d.error = changetype<Buf>(0);
    d.targets = 0;
    d.rejected = false;
    d.failed = false;
    return d;
  }

  /** Adds a candidate as the next target (names copied as they came). */
  target(c: Candidate): void {
    if (this.targets++) this.out.byte(44);
    this.out.ascii("{\"provider\":");
    this.out.raw(c.provider);
    this.out.ascii(",\"model\":");
    this.out.raw(c.model);
    this.out.byte(125);
  }

  /** Adds a target by name; it must be among the candidates. */
  targetNames(provider: string, model: string): void {
    if (this.targets++) this.out.byte(44);
    this.out.ascii("{\"provider\":");
    this.out.text(provider, true);
    this.out.ascii(",\"model\":");
    this.out.text(model, true);
    this.out.byte(125);
  }

  get length(): i32 { return this.targets; }

  reason(text: string): void { this.reason_.n = 0; this.reason_.text(text, true); }
  tag(text: string): void { this.tags.sep(); this.tags.text(text, true); }
  /** Lowers max_tokens (the router never lets a rule raise it). */
  maxTokens(n: i64): void { this.params.sep(); this.params.ascii("\"max_tokens\":"); this.params.int(n); }
  temperature(t: f64): void { this.params.sep(); this.params.ascii("\"temperature\":"); this.params.num(t); }
  topP(p: f64): void { this.params.sep(); this.params.ascii("\"top_p\":"); this.params.num(p); }
  /** Adds the stop sequences given (at most four). */
  stop(a: string, b: string | null = null, c: string | null = null, d: string | null = null): void {
    let o = this.params;
    o.sep(); o.ascii("\"stop\":["); o.text(a, true);
    if (b != null) { o.byte(44); o.text(b, true); }
    if (c != null) { o.byte(44); o.text(c, true); }
    if (d != null) { o.byte(44); o.text(d, true); }
    o.byte(93);
  }
  reasoningEffort(e: string): void {
    this.params.sep(); this.params.ascii("\"reasoning_effort\":"); this.params.text(e, true);
  }
  /** Rejects the request (status 400, 403, 429 or 503) instead of routing it. */
  reject(status: i32, message: string): void {
    let b = Buf.make(SIDE);
    b.ascii("{\"reject\":{\"status\":"); b.int(status); b.ascii(",\"message\":"); b.text(message, true); b.byte(125);
    this.reject_ = b;
    this.rejected = true;
  }
  /** Reports a rule error (counted by the router; skipped or failed per on_error). */
  fail(message: string): void {
    let b = Buf.make(SIDE);
    b.ascii("{\"error\":"); b.text(message, true); b.byte(125);
    this.error = b;
    this.failed = true;
  }

  finish(): u64 {
    if (this.failed) return this.error.packed();
    let o: Buf;
    if (this.rejected) o = this.reject_;
    else if (this.targets == 0) return 0;
    else {
      o = this.out;
      o.byte(93);
      if (this.params.n) { o.ascii(",\"params\":{"); o.bytes(this.params.ptr, this.params.n); o.byte(125); }
    }
    if (this.reason_.n) { o.ascii(",\"reason\":"); o.bytes(this.reason_.ptr, this.reason_.n); }
    if (this.tags.n) { o.ascii(",\"tags\":["); o.bytes(this.tags.ptr, this.tags.n); o.byte(93); }
    o.byte(125);
    if (o.over || this.reason_.over || this.tags.over || this.params.over) {
      return errorOutput("switchyard_rule: decision larger than its buffers");
    }
    return o.packed();
  }
}

function errorOutput(msg: string): u64 {
  let b = Buf.make(SIDE);
  b.ascii("{\"error\":"); b.text(msg, true); b.byte(125);
  return b.packed();
}

// ---------------------------------------------------------------------------
// The entry helpers a rule's exports call.

/** Runs a route function on the input at ptr and returns the ABI result. */
export function routeEntry(ptr: usize, len: u32, fn: (input: Input, d: Decision) => void): u64 {
  resetArena();
  let input = readInput(ptr, <usize>len);
  if (input == null) return errorOutput("switchyard_rule: input is not valid ABI v1 JSON");
  let d = Decision.make();
  fn(changetype<Input>(input), d);
  return d.finish();
}

/** Runs an init function on the config at ptr: it returns "" to accept or a
 * message (logged) to refuse the load. */
export function initEntry(ptr: usize, len: u32, fn: (config: Value) => string): i32 {
  resetArena();
  P = ptr; END = ptr + <usize>len; ERR = false;
  ws();
  let cfg: Value;
  if (P == END) cfg = Value.make(changetype<usize>("{}"), 0);
  else {
    cfg = readRaw();
    ws();
    if (ERR || P != END) { log(ERROR, "config is not valid JSON"); return 1; }
  }
  if (cfg.len == 0) { // an empty config reads as {}
    let e = alloc(2);
    store<u8>(e, 123); store<u8>(e, 125, 1);
    cfg = Value.make(e, 2);
  }
  let msg = fn(cfg);
  if (msg.length) { log(ERROR, msg); return 2; }
  return 0;
}
