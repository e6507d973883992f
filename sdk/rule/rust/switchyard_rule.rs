//! switchyard_rule: write a Switchyard routing rule (Rule ABI v1) in Rust.
//!
//! A single file with no dependencies (core only: it works with and without
//! `#![no_std]`), for Rust 1.63 and later. A rule includes it at its crate root
//! and names its functions with the `switchyard_rule!` macro:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "../../sdk/rule/rust/switchyard_rule.rs"]
//! mod switchyard_rule;
//! use switchyard_rule::{Decision, Input, Value};
//!
//! fn route(input: &Input, d: &mut Decision) {
//!     for c in input.candidates { if c.healthy { d.target(c); } }
//! }
//! fn init(config: Value) -> Result<(), &'static str> { Ok(()) }
//! switchyard_rule!(route: route, init: init);
//! ```
//!
//! Build (Debian's rustc; the rustup one has no Wasm target here):
//! `/usr/bin/rustc --target wasm32-unknown-unknown --crate-type cdylib --edition 2021 -C opt-level=3
//!  -C lto -C panic=abort -C strip=symbols -C link-arg=-zstack-size=65536 -o rule.wasm rule.rs`
//!
//! See README.md beside this file for the API, the memory layout and the limits.
#![allow(dead_code)]

use core::arch::wasm32;

/// The largest decision the router accepts.
pub const MAX_OUTPUT: usize = 64 * 1024;
const SIDE: usize = 4096; // reason, tags, params and reject text, each

// ---------------------------------------------------------------------------
// Memory. The input buffer and the per-call arena live in pages this module
// grows itself (memory.grow), never in the Rust heap, so a rule may use an
// allocator or not. sy_alloc's buffer is valid until the next sy_alloc; the
// arena is reset at the start of every call.

static mut IN_PTR: usize = 0;
static mut IN_CAP: usize = 0;
static mut ARENA_PTR: usize = 0; // current chunk
static mut ARENA_CAP: usize = 0;
static mut ARENA_TOP: usize = 0;

fn grow_pages(bytes: usize) -> usize {
    let pages = (bytes + 65535) / 65536;
    let old = wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        0
    } else {
        old * 65536
    }
}

#[no_mangle]
pub extern "C" fn sy_abi_v1() {}

#[no_mangle]
pub extern "C" fn sy_alloc(size: u32) -> u32 {
    let size = size as usize;
    unsafe {
        if size > IN_CAP || IN_PTR == 0 {
            let want = core::cmp::max(size, 2 * IN_CAP);
            let want = (core::cmp::max(want, 1) + 65535) & !65535;
            let p = grow_pages(want);
            if p == 0 {
                return 0;
            }
            IN_PTR = p;
            IN_CAP = want;
        }
        IN_PTR as u32
    }
}

fn reset_arena() {
    unsafe { ARENA_TOP = ARENA_PTR }
}

/// Returns `n` bytes (8-aligned) of per-call memory, valid until the
/// rule's export returns; `None` when memory is exhausted.
pub fn alloc(n: usize) -> Option<&'static mut [u8]> {
    unsafe {
        let mut p = (ARENA_TOP + 7) & !7;
        if ARENA_PTR == 0 || p + n > ARENA_PTR + ARENA_CAP {
            // A new chunk, twice as large; the old one is abandoned once
            // this call ends (its allocations stay valid until then).
            let want = (core::cmp::max(core::cmp::max(2 * ARENA_CAP, n + 8), 256 * 1024) + 65535) & !65535;
            let c = grow_pages(want);
            if c == 0 {
                return None;
            }
            ARENA_PTR = c;
            ARENA_CAP = want;
            p = c;
        }
        ARENA_TOP = p + n;
        Some(core::slice::from_raw_parts_mut(p as *mut u8, n))
    }
}

// ---------------------------------------------------------------------------
// Logging.

#[link(wasm_import_module = "switchyard")]
extern "C" {
    #[link_name = "log"]
    fn host_log(level: i32, ptr: *const u8, len: u32);
}

pub const DEBUG: i32 = 0;
pub const INFO: i32 = 1;
pub const WARN: i32 = 2;
pub const ERROR: i32 = 3;

/// Sends one line to the router's log (truncated to 1 KiB, rate limited).
pub fn log(level: i32, msg: &str) {
    unsafe { host_log(level, msg.as_ptr(), msg.len() as u32) }
}

// ---------------------------------------------------------------------------
// Reading JSON. With the router's deadline on, every loop iteration in the
// guest costs a call back into the host: strings are scanned eight bytes a
// step and keys compared with word loads.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn ld8(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// same compares two equal-length slices without a loop up to 24 bytes.
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        if n <= 16 {
            return ld8(a, 0) == ld8(b, 0) && ld8(a, n - 8) == ld8(b, n - 8);
        }
        if n <= 24 {
            return ld8(a, 0) == ld8(b, 0) && ld8(a, 8) == ld8(b, 8) && ld8(a, n - 8) == ld8(b, n - 8);
        }
        return a == b;
    }
    if n >= 4 {
        let l4 = |s: &[u8], i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        return l4(a, 0) == l4(b, 0) && l4(a, n - 4) == l4(b, n - 4);
    }
    a == b
}

struct Cur<'a> {
    s: &'a [u8],
    i: usize,
    err: bool,
}

impl<'a> Cur<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cur { s, i: 0, err: false }
    }
    #[inline(always)]
    fn ws(&mut self) {
        if self.i >= self.s.len() || self.s[self.i] > b' ' {
            return;
        }
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\t' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> u8 {
        self.ws();
        if self.i < self.s.len() {
            self.s[self.i]
        } else {
            0
        }
    }
    fn eat(&mut self, ch: u8) -> bool {
        if self.peek() == ch {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn fail(&mut self) {
        self.err = true;
        self.i = self.s.len();
    }
    fn lit(&mut self, w: &[u8]) -> bool {
        if self.s.len() - self.i >= w.len() && same(&self.s[self.i..self.i + w.len()], w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    fn string(&mut self) -> Str<'a> {
        if self.peek() != b'"' {
            self.fail();
            return Str(&[]);
        }
        self.i += 1;
        let start = self.i;
        let s = self.s;
        loop {
            while s.len() - self.i >= 8 {
                let w = ld8(s, self.i);
                let q = w ^ (ONES * b'"' as u64);
                let e = w ^ (ONES * b'\\' as u64);
                if ((q.wrapping_sub(ONES) & !q) | (e.wrapping_sub(ONES) & !e) | (w.wrapping_sub(ONES * 0x20) & !w)) & HIGHS != 0 {
                    break;
                }
                self.i += 8;
            }
            while self.i < s.len() && s[self.i] != b'"' && s[self.i] != b'\\' && s[self.i] >= 0x20 {
                self.i += 1;
            }
            if self.i >= s.len() || s[self.i] < 0x20 {
                self.fail();
                return Str(&[]);
            }
            if s[self.i] == b'"' {
                break;
            }
            self.i += 2;
        }
        let out = Str(&s[start..core::cmp::min(self.i, s.len())]);
        self.i += 1;
        out
    }
    fn str_or_null(&mut self) -> Str<'a> {
        if self.peek() == b'n' {
            if !self.lit(b"null") {
                self.fail();
            }
            return Str(&[]);
        }
        self.string()
    }
    /// number returns the value and, when it has no fraction or exponent,
    /// the exact integer.
    fn number(&mut self) -> (f64, i64) {
        let s = self.s;
        if self.peek() == b'n' {
            if !self.lit(b"null") {
                self.fail();
            }
            return (0.0, 0);
        }
        let mut neg = false;
        if self.i < s.len() && s[self.i] == b'-' {
            neg = true;
            self.i += 1;
        }
        let (mut m, mut exp, mut digits) = (0u64, 0i32, 0);
        while self.i < s.len() && s[self.i].wrapping_sub(b'0') <= 9 {
            if m < 100_000_000_000_000_000 {
                m = m * 10 + (s[self.i] - b'0') as u64;
            } else {
                exp += 1;
            }
            self.i += 1;
            digits += 1;
        }
        if digits == 0 {
            self.fail();
            return (0.0, 0);
        }
        if self.i < s.len() && s[self.i] == b'.' {
            self.i += 1;
            while self.i < s.len() && s[self.i].wrapping_sub(b'0') <= 9 {
                if m < 100_000_000_000_000_000 {
                    m = m * 10 + (s[self.i] - b'0') as u64;
                    exp -= 1;
                }
                self.i += 1;
            }
        }
        if self.i < s.len() && (s[self.i] | 0x20) == b'e' {
            self.i += 1;
            let mut eneg = false;
            if self.i < s.len() && (s[self.i] == b'+' || s[self.i] == b'-') {
                eneg = s[self.i] == b'-';
                self.i += 1;
            }
            let mut e = 0i32;
            while self.i < s.len() && s[self.i].wrapping_sub(b'0') <= 9 {
                if e < 10000 {
                    e = e * 10 + (s[self.i] - b'0') as i32;
                }
                self.i += 1;
            }
            exp += if eneg { -e } else { e };
        }
        let mut v = m as f64;
        if exp != 0 {
            let mut a = exp.unsigned_abs();
            let mut scale = 1.0f64;
            while a > 22 {
                scale *= 1e22;
                a -= 22;
            }
            scale *= POW10[a as usize];
            v = if exp < 0 { v / scale } else { v * scale };
        }
        if neg {
            v = -v;
        }
        let iv = if exp == 0 {
            if neg {
                (m as i64).wrapping_neg()
            } else {
                m as i64
            }
        } else if v >= 9.2e18 {
            i64::MAX
        } else if v <= -9.2e18 {
            i64::MIN
        } else {
            v as i64
        };
        (v, iv)
    }
    fn int(&mut self) -> i64 {
        self.number().1
    }
    fn num(&mut self) -> f64 {
        self.number().0
    }
    fn bool(&mut self) -> bool {
        match self.peek() {
            b't' if self.lit(b"true") => true,
            b'f' if self.lit(b"false") => false,
            b'n' if self.lit(b"null") => false,
            _ => {
                self.fail();
                false
            }
        }
    }
    fn skip(&mut self) {
        let mut depth = 0i32;
        loop {
            match self.peek() {
                b'{' | b'[' => {
                    depth += 1;
                    if depth > 64 {
                        self.fail();
                        return;
                    }
                    self.i += 1;
                    continue;
                }
                b'}' | b']' => {
                    depth -= 1;
                    self.i += 1;
                }
                b',' | b':' => {
                    self.i += 1;
                    continue;
                }
                b'"' => {
                    self.string();
                }
                b't' | b'f' | b'n' => {
                    self.bool();
                }
                0 => {
                    self.fail();
                    return;
                }
                _ => {
                    self.number();
                }
            }
            if self.err || depth <= 0 {
                if depth < 0 {
                    self.fail();
                }
                return;
            }
        }
    }
    fn raw(&mut self) -> Value<'a> {
        self.ws();
        let start = self.i;
        self.skip();
        if self.err {
            return Value(&[]);
        }
        Value(&self.s[start..self.i])
    }
    /// open reads '{' or '[' (true) or null (false, nothing to read).
    fn open(&mut self, ch: u8) -> bool {
        if self.peek() == b'n' {
            if !self.lit(b"null") {
                self.fail();
            }
            return false;
        }
        if !self.eat(ch) {
            self.fail();
        }
        !self.err
    }
    /// member moves to the next member of an open object.
    fn member(&mut self, first: &mut bool) -> Option<Str<'a>> {
        if self.eat(b'}') {
            return None;
        }
        if !*first && !self.eat(b',') {
            self.fail();
            return None;
        }
        *first = false;
        let k = self.string();
        if self.err || !self.eat(b':') {
            self.fail();
            return None;
        }
        Some(k)
    }
    fn element(&mut self, first: &mut bool) -> bool {
        if self.eat(b']') {
            return false;
        }
        if !*first && !self.eat(b',') {
            self.fail();
            return false;
        }
        *first = false;
        !self.err
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
];

/// A JSON string's contents as they appear in the input: still escaped, so
/// it can be copied into output as it is.
#[derive(Clone, Copy, Default, Debug)]
pub struct Str<'a>(pub &'a [u8]);

impl<'a> Str<'a> {
    /// The raw (escaped) bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Reports whether the decoded string equals `text`.
    pub fn eq(&self, text: &str) -> bool {
        let t = text.as_bytes();
        if same(self.0, t) {
            return !t.contains(&b'\\');
        }
        if self.0.len() < t.len() || !self.0.contains(&b'\\') {
            return false;
        }
        match alloc(self.0.len()) {
            Some(buf) => {
                let n = self.unescape(buf);
                n == t.len() && same(&buf[..n], t)
            }
            None => false,
        }
    }
    /// Decodes into `dst` (UTF-8) and returns the decoded length, which may
    /// exceed `dst.len()` (the rest is cut).
    pub fn unescape(&self, dst: &mut [u8]) -> usize {
        let s = self.0;
        let mut o = 0;
        let mut put = |b: u8, o: &mut usize| {
            if *o < dst.len() {
                dst[*o] = b;
            }
            *o += 1;
        };
        let hex4 = |i: usize| -> u32 {
            if i + 4 > s.len() {
                return 0xfffd;
            }
            let mut v = 0u32;
            for &c in &s[i..i + 4] {
                let d = match c {
                    b'0'..=b'9' => c - b'0',
                    b'a'..=b'f' => c - b'a' + 10,
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => return 0xfffd,
                };
                v = v << 4 | d as u32;
            }
            v
        };
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            if c != b'\\' || i + 1 >= s.len() {
                put(c, &mut o);
                i += 1;
                continue;
            }
            i += 1;
            match s[i] {
                b'b' => put(8, &mut o),
                b'f' => put(12, &mut o),
                b'n' => put(b'\n', &mut o),
                b'r' => put(b'\r', &mut o),
                b't' => put(b'\t', &mut o),
                b'u' => {
                    let mut r = hex4(i + 1);
                    i += 4;
                    if (0xd800..0xdc00).contains(&r) && i + 6 < s.len() && s[i + 1] == b'\\' && s[i + 2] == b'u' {
                        let lo = hex4(i + 3);
                        if (0xdc00..0xe000).contains(&lo) {
                            r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                            i += 6;
                        }
                    }
                    let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                    let mut b = [0u8; 4];
                    for &x in ch.encode_utf8(&mut b).as_bytes() {
                        put(x, &mut o);
                    }
                }
                x => put(x, &mut o),
            }
            i += 1;
        }
        o
    }
}

/// The text of one JSON value; empty when the field was absent.
#[derive(Clone, Copy, Default, Debug)]
pub struct Value<'a>(pub &'a [u8]);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Missing,
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl<'a> Value<'a> {
    pub fn kind(&self) -> Kind {
        match self.0.first() {
            None => Kind::Missing,
            Some(b'n') => Kind::Null,
            Some(b't') | Some(b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            Some(_) => Kind::Number,
        }
    }
    /// The member `key` of an object (Missing when absent).
    pub fn get(&self, key: &str) -> Value<'a> {
        for (k, v) in self.members() {
            if k.eq(key) {
                return v;
            }
        }
        Value(&[])
    }
    /// Numbers are truncated toward zero; `def` when not a number.
    pub fn int(&self, def: i64) -> i64 {
        if self.kind() != Kind::Number {
            return def;
        }
        let mut c = Cur::new(self.0);
        let v = c.int();
        if c.err {
            def
        } else {
            v
        }
    }
    pub fn num(&self, def: f64) -> f64 {
        if self.kind() != Kind::Number {
            return def;
        }
        let mut c = Cur::new(self.0);
        let v = c.num();
        if c.err {
            def
        } else {
            v
        }
    }
    pub fn bool(&self, def: bool) -> bool {
        match self.kind() {
            Kind::Bool => self.0[0] == b't',
            _ => def,
        }
    }
    /// The contents of a string (empty when not a string).
    pub fn str(&self) -> Str<'a> {
        if self.kind() != Kind::String || self.0.len() < 2 {
            return Str(&[]);
        }
        Str(&self.0[1..self.0.len() - 1])
    }
    /// Reports whether an array holds the string `text`.
    pub fn has(&self, text: &str) -> bool {
        self.elements().any(|v| v.kind() == Kind::String && v.str().eq(text))
    }
    /// Iterates an object's members (empty for anything else).
    pub fn members(&self) -> Members<'a> {
        let mut c = Cur::new(self.0);
        let ok = self.kind() == Kind::Object && c.open(b'{');
        Members { c, first: true, done: !ok }
    }
    /// Iterates an array's elements (empty for anything else).
    pub fn elements(&self) -> Elements<'a> {
        let mut c = Cur::new(self.0);
        let ok = self.kind() == Kind::Array && c.open(b'[');
        Elements { c, first: true, done: !ok }
    }
}

pub struct Members<'a> {
    c: Cur<'a>,
    first: bool,
    done: bool,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Str<'a>, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.c.member(&mut self.first) {
            Some(k) => {
                let v = self.c.raw();
                if self.c.err {
                    self.done = true;
                    return None;
                }
                Some((k, v))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

pub struct Elements<'a> {
    c: Cur<'a>,
    first: bool,
    done: bool,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || !self.c.element(&mut self.first) {
            self.done = true;
            return None;
        }
        let v = self.c.raw();
        if self.c.err {
            self.done = true;
            return None;
        }
        Some(v)
    }
}

// ---------------------------------------------------------------------------
// The input.

/// The compact view of the client's request.
#[derive(Clone, Copy, Default, Debug)]
pub struct Request<'a> {
    pub id: Str<'a>,
    /// "chat.completions", "responses", "messages", "embeddings" or "completions".
    pub endpoint: Str<'a>,
    pub model: Str<'a>,
    pub stream: bool,
    /// 1..10, 10 is the most important; 5 when absent.
    pub priority: i64,
    pub prompt_tokens_estimate: i64,
    /// 0 when the client set none.
    pub max_tokens: i64,
    pub messages: i64,
    pub chars: i64,
    pub has_tools: bool,
    pub has_images: bool,
    pub json_mode: bool,
    /// The client key's configured name, never the secret.
    pub key: Str<'a>,
    /// The key's team (its `team:` in the router config); empty when none.
    pub team: Str<'a>,
    pub user: Str<'a>,
    /// `request.budget`: the key's spend budget and what is left of it, before
    /// this request; `None` when the key has none.
    pub budget: Option<Budget<'a>>,
    /// `request.limits`: the key's rate limits for the requested model and
    /// their headroom, before this request; `None` when the key has none.
    pub limits: Option<Limits>,
    /// Array of strings: `tags.has("batch")`.
    pub tags: Value<'a>,
    /// Object: `metadata.get("tier").str()`.
    pub metadata: Value<'a>,
    /// Object of the headers the rule's config asks for.
    pub headers: Value<'a>,
    /// `request.content`, only for a rule whose router config has
    /// `content: {max_bytes: N}` (`Kind::Missing` otherwise): an object with
    /// `last_user` and `system` (strings cut to N bytes), `has_code_fence`,
    /// `has_image`, `has_tool_results` and `language_hint`; see ABI.md.
    /// `content.get("last_user").str()`.
    pub content: Value<'a>,
}

/// `request.budget` (ABI.md): the calling key's spend budget in the current
/// period, before this request is counted.
#[derive(Clone, Copy, Default, Debug)]
pub struct Budget<'a> {
    /// The budget per period, USD.
    pub usd: f64,
    /// "day", "week", "month" (UTC calendar periods) or "total".
    pub period: Str<'a>,
    /// Spent in the current period.
    pub spent_usd: f64,
    /// `usd - spent_usd`, 0 once the spend has reached the budget.
    pub remaining_usd: f64,
    /// When the period ends and the spend starts again at 0; 0 for "total".
    pub resets_unix_ms: i64,
}

impl<'a> Budget<'a> {
    /// The share of the budget left, `remaining_usd / usd` within 0..=1; 0 for
    /// a budget of 0.
    pub fn remaining_fraction(&self) -> f64 {
        if !(self.usd > 0.0) {
            return 0.0;
        }
        clamp01(self.remaining_usd / self.usd)
    }
}

/// `request.limits` (ABI.md): the calling key's rate limits per minute for the
/// requested model (the tightest of its own and its per-model ones) and what is
/// left of each in the current minute, before this request is counted. A limit
/// of 0 is none: its remaining is then 0 and means nothing.
#[derive(Clone, Copy, Default, Debug)]
pub struct Limits {
    pub rpm: i64,
    pub rpm_remaining: i64,
    pub tpm: i64,
    pub tpm_remaining: i64,
}

impl Limits {
    /// The share of the request limit left, within 0..=1; 1 without one.
    pub fn rpm_fraction(&self) -> f64 {
        limit_fraction(self.rpm_remaining, self.rpm)
    }
    /// The share of the token limit left, within 0..=1; 1 without one.
    pub fn tpm_fraction(&self) -> f64 {
        limit_fraction(self.tpm_remaining, self.tpm)
    }
}

fn clamp01(f: f64) -> f64 {
    if f < 0.0 {
        0.0
    } else if f > 1.0 {
        1.0
    } else {
        f
    }
}

fn limit_fraction(remaining: i64, limit: i64) -> f64 {
    if limit <= 0 {
        return 1.0;
    }
    clamp01(remaining as f64 / limit as f64)
}

/// One target the rule may choose, with live statistics.
#[derive(Clone, Copy, Default, Debug)]
pub struct Candidate<'a> {
    pub provider: Str<'a>,
    pub model: Str<'a>,
    pub context_window: i64,
    pub usd_per_mtok_in: f64,
    pub usd_per_mtok_out: f64,
    /// Array of strings; see `has`.
    pub capabilities: Value<'a>,
    pub healthy: bool,
    /// "closed", "half_open" or "open".
    pub circuit: Str<'a>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub error_rate: f64,
    pub inflight: i64,
    /// Position in the input's candidates.
    pub index: usize,
}

impl<'a> Candidate<'a> {
    /// Reports whether the candidate lists the capability.
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.has(capability)
    }
}

/// The decoded sy_route input. Use `now_unix_ms` and `random_seed`: the
/// sandbox clock is frozen.
#[derive(Clone, Copy, Default, Debug)]
pub struct Input<'a> {
    pub abi: i64,
    pub now_unix_ms: i64,
    pub random_seed: u64,
    pub request: Request<'a>,
    pub candidates: &'a [Candidate<'a>],
    /// "null" unless the chain runs again after a fallback verdict.
    pub previous: Value<'a>,
}

fn read_request<'a>(c: &mut Cur<'a>, r: &mut Request<'a>) {
    let mut first = true;
    if !c.open(b'{') {
        return;
    }
    while let Some(k) = c.member(&mut first) {
        let k = k.0;
        match k.len() {
            2 if same(k, b"id") => r.id = c.str_or_null(),
            3 if same(k, b"key") => r.key = c.str_or_null(),
            4 if same(k, b"user") => r.user = c.str_or_null(),
            4 if same(k, b"tags") => r.tags = c.raw(),
            4 if same(k, b"team") => r.team = c.str_or_null(),
            5 if same(k, b"model") => r.model = c.str_or_null(),
            5 if same(k, b"chars") => r.chars = c.int(),
            6 if same(k, b"stream") => r.stream = c.bool(),
            6 if same(k, b"budget") => r.budget = read_budget(c),
            6 if same(k, b"limits") => r.limits = read_limits(c),
            7 if same(k, b"headers") => r.headers = c.raw(),
            7 if same(k, b"content") => r.content = c.raw(),
            8 if same(k, b"endpoint") => r.endpoint = c.str_or_null(),
            8 if same(k, b"priority") => r.priority = c.int(),
            8 if same(k, b"messages") => r.messages = c.int(),
            8 if same(k, b"metadata") => r.metadata = c.raw(),
            9 if same(k, b"has_tools") => r.has_tools = c.bool(),
            9 if same(k, b"json_mode") => r.json_mode = c.bool(),
            10 if same(k, b"max_tokens") => r.max_tokens = c.int(),
            10 if same(k, b"has_images") => r.has_images = c.bool(),
            22 if same(k, b"prompt_tokens_estimate") => r.prompt_tokens_estimate = c.int(),
            _ => c.skip(),
        }
    }
}

/// request.budget; null reads as None, a repeated one replaces.
fn read_budget<'a>(c: &mut Cur<'a>) -> Option<Budget<'a>> {
    let mut first = true;
    if !c.open(b'{') {
        return None;
    }
    let mut b = Budget::default();
    while let Some(k) = c.member(&mut first) {
        match k.0 {
            b"usd" => b.usd = c.num(),
            b"period" => b.period = c.str_or_null(),
            b"spent_usd" => b.spent_usd = c.num(),
            b"remaining_usd" => b.remaining_usd = c.num(),
            b"resets_unix_ms" => b.resets_unix_ms = c.int(),
            _ => c.skip(),
        }
    }
    Some(b)
}

/// request.limits; null reads as None, a repeated one replaces.
fn read_limits(c: &mut Cur) -> Option<Limits> {
    let mut first = true;
    if !c.open(b'{') {
        return None;
    }
    let mut l = Limits::default();
    while let Some(k) = c.member(&mut first) {
        match k.0 {
            b"rpm" => l.rpm = c.int(),
            b"rpm_remaining" => l.rpm_remaining = c.int(),
            b"tpm" => l.tpm = c.int(),
            b"tpm_remaining" => l.tpm_remaining = c.int(),
            _ => c.skip(),
        }
    }
    Some(l)
}

fn read_candidate<'a>(c: &mut Cur<'a>, x: &mut Candidate<'a>) {
    let mut first = true;
    if !c.eat(b'{') {
        c.fail();
        return;
    }
    while let Some(k) = c.member(&mut first) {
        let k = k.0;
        match k.len() {
            5 if same(k, b"model") => x.model = c.str_or_null(),
            6 if same(k, b"p50_ms") => x.p50_ms = c.num(),
            6 if same(k, b"p95_ms") => x.p95_ms = c.num(),
            7 if same(k, b"healthy") => x.healthy = c.bool(),
            7 if same(k, b"circuit") => x.circuit = c.str_or_null(),
            8 if same(k, b"provider") => x.provider = c.str_or_null(),
            8 if same(k, b"inflight") => x.inflight = c.int(),
            10 if same(k, b"error_rate") => x.error_rate = c.num(),
            12 if same(k, b"capabilities") => x.capabilities = c.raw(),
            14 if same(k, b"context_window") => x.context_window = c.int(),
            15 if same(k, b"usd_per_mtok_in") => x.usd_per_mtok_in = c.num(),
            16 if same(k, b"usd_per_mtok_out") => x.usd_per_mtok_out = c.num(),
            _ => c.skip(),
        }
    }
}

/// Candidates go into an arena array that doubles when full.
fn read_candidates<'a>(c: &mut Cur<'a>) -> &'a [Candidate<'a>] {
    let mut first = true;
    if !c.open(b'[') {
        return &[];
    }
    let size = core::mem::size_of::<Candidate>();
    let mut cap = 0usize;
    let mut base: *mut Candidate<'a> = core::ptr::null_mut();
    let mut n = 0usize;
    while c.element(&mut first) {
        if n == cap {
            let ncap = if cap == 0 { 16 } else { cap * 2 };
            let mem = match alloc(ncap * size) {
                Some(m) => m.as_mut_ptr() as *mut Candidate<'a>,
                None => {
                    c.fail();
                    return &[];
                }
            };
            unsafe {
                if n > 0 {
                    core::ptr::copy_nonoverlapping(base, mem, n);
                }
            }
            base = mem;
            cap = ncap;
        }
        let mut x = Candidate { index: n, ..Candidate::default() };
        read_candidate(c, &mut x);
        if c.err {
            return &[];
        }
        unsafe { base.add(n).write(x) };
        n += 1;
    }
    if n == 0 {
        return &[];
    }
    unsafe { core::slice::from_raw_parts(base, n) }
}

fn read_input(data: &[u8]) -> Option<Input<'_>> {
    let mut c = Cur::new(data);
    let mut first = true;
    let mut input = Input::default();
    input.request.priority = 5;
    if !c.eat(b'{') {
        return None;
    }
    while let Some(k) = c.member(&mut first) {
        let k = k.0;
        match k {
            b"request" => read_request(&mut c, &mut input.request),
            b"candidates" => input.candidates = read_candidates(&mut c),
            b"abi" => input.abi = c.int(),
            b"now_unix_ms" => input.now_unix_ms = c.int(),
            b"random_seed" => {
                c.ws();
                let mut v = 0u64;
                while c.i < c.s.len() && c.s[c.i].wrapping_sub(b'0') <= 9 {
                    v = v.wrapping_mul(10).wrapping_add((c.s[c.i] - b'0') as u64);
                    c.i += 1;
                }
                if c.i < c.s.len() && matches!(c.s[c.i], b'.' | b'e' | b'E') {
                    c.number();
                }
                input.random_seed = v;
            }
            b"previous" => input.previous = c.raw(),
            _ => c.skip(),
        }
        if c.err {
            return None;
        }
    }
    c.ws();
    if c.err || c.i != c.s.len() {
        return None;
    }
    Some(input)
}

// ---------------------------------------------------------------------------
// Output.

struct Buf {
    p: *mut u8,
    n: usize,
    cap: usize,
    over: bool,
}

impl Buf {
    const fn empty() -> Buf {
        Buf { p: core::ptr::null_mut(), n: 0, cap: 0, over: false }
    }
    fn new(cap: usize) -> Buf {
        match alloc(cap) {
            Some(m) => Buf { p: m.as_mut_ptr(), n: 0, cap, over: false },
            None => Buf { p: core::ptr::null_mut(), n: 0, cap: 0, over: true },
        }
    }
    fn put(&mut self, s: &[u8]) {
        if self.n + s.len() > self.cap {
            self.over = true;
            return;
        }
        unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), self.p.add(self.n), s.len()) };
        self.n += s.len();
    }
    fn bytes(&self) -> &[u8] {
        if self.p.is_null() {
            return &[];
        }
        unsafe { core::slice::from_raw_parts(self.p, self.n) }
    }
    /// A JSON string from plain text.
    fn put_text(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.put(b"\"");
        let mut start = 0;
        for (i, &b) in s.iter().enumerate() {
            if b >= 0x20 && b != b'"' && b != b'\\' {
                continue;
            }
            self.put(&s[start..i]);
            match b {
                b'"' => self.put(b"\\\""),
                b'\\' => self.put(b"\\\\"),
                b'\n' => self.put(b"\\n"),
                b'\r' => self.put(b"\\r"),
                b'\t' => self.put(b"\\t"),
                _ => self.put(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
            }
            start = i + 1;
        }
        self.put(&s[start..]);
        self.put(b"\"");
    }
    /// A JSON string from raw (already escaped) input contents.
    fn put_raw(&mut self, s: Str) {
        self.put(b"\"");
        self.put(s.0);
        self.put(b"\"");
    }
    fn put_int(&mut self, v: i64) {
        let mut t = [0u8; 24];
        let mut i = t.len();
        let mut u = v.unsigned_abs();
        loop {
            i -= 1;
            t[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            t[i] = b'-';
        }
        self.put(&t[i..]);
    }
    /// A finite number with up to 9 decimals (temperature, top_p).
    fn put_num(&mut self, v: f64) {
        let mut v = if v.is_finite() && v < 1e15 && v > -1e15 { v } else { 0.0 };
        if v < 0.0 {
            self.put(b"-");
            v = -v;
        }
        let mut ip = v as u64;
        let mut fp = ((v - ip as f64) * 1e9 + 0.5) as u64;
        if fp >= 1_000_000_000 {
            ip += 1;
            fp -= 1_000_000_000;
        }
        self.put_int(ip as i64);
        if fp > 0 {
            let mut t = [b'0'; 9];
            for i in (0..9).rev() {
                t[i] = b'0' + (fp % 10) as u8;
                fp /= 10;
            }
            let mut n = 9;
            while n > 1 && t[n - 1] == b'0' {
                n -= 1;
            }
            self.put(b".");
            self.put(&t[..n]);
        }
    }
}

/// A decision being built; leaving it empty means "no opinion". Everything
/// given to it is copied at once, so any string may be passed.
pub struct Decision {
    out: Buf,    // {"targets":[ ... targets ...
    reason: Buf, // ,"reason":"..."
    tags: Buf,   // "a","b"
    params: Buf, // "max_tokens":1,...
    reject: Buf, // {"reject":{...}}
    targets: usize,
    error: Buf,
}

impl Decision {
    fn new() -> Decision {
        let mut out = Buf::new(MAX_OUTPUT);
        out.put(b"{\"targets\":[");
        Decision {
            out,
            reason: Buf::new(SIDE),
            tags: Buf::new(SIDE),
            params: Buf::new(SIDE),
            reject: Buf::empty(),
            targets: 0,
            error: Buf::empty(),
        }
    }
    fn sep(b: &mut Buf) {
        if b.n > 0 {
            b.put(b",");
        }
    }
    /// Adds a candidate as the next target (names copied as they came).
    pub fn target(&mut self, c: &Candidate) {
        Decision::sep_target(self);
        self.out.put(b"{\"provider\":");
        self.out.put_raw(c.provider);
        self.out.put(b",\"model\":");
        self.out.put_raw(c.model);
        self.out.put(b"}");
    }
    /// Adds a target by name; it must be among the candidates.
    pub fn target_names(&mut self, provider: &str, model: &str) {
        Decision::sep_target(self);
        self.out.put(b"{\"provider\":");
        self.out.put_text(provider.as_bytes());
        self.out.put(b",\"model\":");
        self.out.put_text(model.as_bytes());
        self.out.put(b"}");
    }
    fn sep_target(&mut self) {
        if self.targets > 0 {
            self.out.put(b",");
        }
        self.targets += 1;
    }
    /// Number of targets added so far.
    pub fn len(&self) -> usize {
        self.targets
    }
    pub fn reason(&mut self, reason: &str) {
        self.reason.n = 0;
        self.reason.put_text(reason.as_bytes());
    }
    pub fn tag(&mut self, tag: &str) {
        Decision::sep(&mut self.tags);
        self.tags.put_text(tag.as_bytes());
    }
    /// Lowers max_tokens (the router never lets a rule raise it).
    pub fn max_tokens(&mut self, n: i64) {
        Decision::sep(&mut self.params);
        self.params.put(b"\"max_tokens\":");
        self.params.put_int(n);
    }
    pub fn temperature(&mut self, t: f64) {
        Decision::sep(&mut self.params);
        self.params.put(b"\"temperature\":");
        self.params.put_num(t);
    }
    pub fn top_p(&mut self, p: f64) {
        Decision::sep(&mut self.params);
        self.params.put(b"\"top_p\":");
        self.params.put_num(p);
    }
    pub fn stop(&mut self, stop: &[&str]) {
        Decision::sep(&mut self.params);
        self.params.put(b"\"stop\":[");
        for (i, s) in stop.iter().enumerate() {
            if i > 0 {
                self.params.put(b",");
            }
            self.params.put_text(s.as_bytes());
        }
        self.params.put(b"]");
    }
    pub fn reasoning_effort(&mut self, effort: &str) {
        Decision::sep(&mut self.params);
        self.params.put(b"\"reasoning_effort\":");
        self.params.put_text(effort.as_bytes());
    }
    /// Rejects the request (status 400, 403, 429 or 503) instead of routing it.
    pub fn reject(&mut self, status: i32, message: &str) {
        self.reject = Buf::new(SIDE);
        self.reject.put(b"{\"reject\":{\"status\":");
        self.reject.put_int(status as i64);
        self.reject.put(b",\"message\":");
        self.reject.put_text(message.as_bytes());
        self.reject.put(b"}");
    }
    /// Reports a rule error (counted by the router; the rule is skipped or
    /// the request fails, per its on_error).
    pub fn fail(&mut self, message: &str) {
        self.error = Buf::new(SIDE);
        self.error.put(b"{\"error\":");
        self.error.put_text(message.as_bytes());
        self.error.put(b"}");
    }

    fn finish(mut self) -> u64 {
        if !self.error.p.is_null() {
            return pack(&self.error);
        }
        let side = |d: &mut Decision, o: &mut Buf| {
            if d.reason.n > 0 {
                o.put(b",\"reason\":");
                o.put(d.reason.bytes());
            }
            if d.tags.n > 0 {
                o.put(b",\"tags\":[");
                o.put(d.tags.bytes());
                o.put(b"]");
            }
        };
        if !self.reject.p.is_null() {
            let mut o = core::mem::replace(&mut self.reject, Buf::empty());
            side(&mut self, &mut o);
            o.put(b"}");
            return pack_checked(o);
        }
        if self.targets == 0 {
            return 0;
        }
        let mut o = core::mem::replace(&mut self.out, Buf::empty());
        o.put(b"]");
        if self.params.n > 0 {
            o.put(b",\"params\":{");
            o.put(self.params.bytes());
            o.put(b"}");
        }
        side(&mut self, &mut o);
        o.put(b"}");
        let over = self.reason.over || self.tags.over || self.params.over;
        if over {
            o.over = true;
        }
        pack_checked(o)
    }
}

fn pack(b: &Buf) -> u64 {
    ((b.p as usize as u64) << 32) | b.n as u64
}

fn pack_checked(mut b: Buf) -> u64 {
    if b.over {
        b = error_buf("switchyard_rule: decision larger than its buffers");
    }
    pack(&b)
}

fn error_buf(msg: &str) -> Buf {
    let mut b = Buf::new(SIDE);
    b.put(b"{\"error\":");
    b.put_text(msg.as_bytes());
    b.put(b"}");
    b
}

// ---------------------------------------------------------------------------
// Validation (sy_validate).

/// The input of sy_validate.
#[derive(Clone, Copy, Default, Debug)]
pub struct Validation<'a> {
    pub request: Request<'a>,
    pub target_provider: Str<'a>,
    pub target_model: Str<'a>,
    /// The whole answer object.
    pub answer: Value<'a>,
    pub content: Str<'a>,
    pub finish_reason: Str<'a>,
    pub tool_calls: Value<'a>,
    pub usage: Value<'a>,
}

/// A verdict on an answer; leaving it unset means accept.
#[derive(Default)]
pub struct Verdict {
    verdict: &'static str,
    reason: Option<Buf>,
}

impl Verdict {
    /// verdict is "accept", "retry", "fallback" or "fail".
    pub fn set(&mut self, verdict: &'static str, reason: &str) {
        self.verdict = verdict;
        let mut b = Buf::new(SIDE);
        b.put_text(reason.as_bytes());
        self.reason = Some(b);
    }
}

impl Default for Buf {
    fn default() -> Buf {
        Buf::empty()
    }
}

// ---------------------------------------------------------------------------
// The glue the switchyard_rule! macro calls.

fn input_bytes(p: u32, n: u32) -> &'static [u8] {
    if n == 0 {
        return &[];
    }
    unsafe { core::slice::from_raw_parts(p as usize as *const u8, n as usize) }
}

#[doc(hidden)]
pub fn route_entry(p: u32, n: u32, f: fn(&Input, &mut Decision)) -> u64 {
    reset_arena();
    match read_input(input_bytes(p, n)) {
        Some(input) => {
            let mut d = Decision::new();
            f(&input, &mut d);
            d.finish()
        }
        None => pack(&error_buf("switchyard_rule: input is not valid ABI v1 JSON")),
    }
}

#[doc(hidden)]
pub fn init_entry(p: u32, n: u32, f: fn(Value) -> Result<(), &'static str>) -> i32 {
    reset_arena();
    let mut c = Cur::new(input_bytes(p, n));
    c.ws();
    let cfg = if c.i == c.s.len() {
        Value(b"{}")
    } else {
        let v = c.raw();
        c.ws();
        if c.err || c.i != c.s.len() {
            log(ERROR, "config is not valid JSON");
            return 1;
        }
        v
    };
    match f(cfg) {
        Ok(()) => 0,
        Err(msg) => {
            log(ERROR, msg);
            2
        }
    }
}

#[doc(hidden)]
pub fn validate_entry(p: u32, n: u32, f: fn(&Validation, &mut Verdict)) -> u64 {
    reset_arena();
    let mut c = Cur::new(input_bytes(p, n));
    let mut v = Validation::default();
    v.request.priority = 5;
    let mut first = true;
    if !c.eat(b'{') {
        return pack(&error_buf("switchyard_rule: validation input is not valid JSON"));
    }
    while let Some(k) = c.member(&mut first) {
        match k.0 {
            b"request" => read_request(&mut c, &mut v.request),
            b"target" => {
                let t = c.raw();
                v.target_provider = t.get("provider").str();
                v.target_model = t.get("model").str();
            }
            b"answer" => {
                v.answer = c.raw();
                v.content = v.answer.get("content").str();
                v.finish_reason = v.answer.get("finish_reason").str();
                v.tool_calls = v.answer.get("tool_calls");
                v.usage = v.answer.get("usage");
            }
            _ => c.skip(),
        }
    }
    if c.err {
        return pack(&error_buf("switchyard_rule: validation input is not valid JSON"));
    }
    let mut verdict = Verdict::default();
    f(&v, &mut verdict);
    if verdict.verdict.is_empty() {
        return 0;
    }
    let mut o = Buf::new(SIDE * 2);
    o.put(b"{\"verdict\":");
    o.put_text(verdict.verdict.as_bytes());
    if let Some(r) = &verdict.reason {
        o.put(b",\"reason\":");
        o.put(r.bytes());
    }
    o.put(b"}");
    pack_checked(o)
}

/// Defines the rule's exports: `switchyard_rule!(route: f)`, optionally
/// followed by `, init: g` and `, validate: h`. The module must be
/// included at the crate root under the name `switchyard_rule`.
#[macro_export]
macro_rules! switchyard_rule {
    (route: $route:path $(, init: $init:path)? $(, validate: $validate:path)? $(,)?) => {
        #[no_mangle]
        pub extern "C" fn sy_route(p: u32, n: u32) -> u64 {
            $crate::switchyard_rule::route_entry(p, n, $route)
        }
        $(
            #[no_mangle]
            pub extern "C" fn sy_init(p: u32, n: u32) -> i32 {
                $crate::switchyard_rule::init_entry(p, n, $init)
            }
        )?
        $(
            #[no_mangle]
            pub extern "C" fn sy_validate(p: u32, n: u32) -> u64 {
                $crate::switchyard_rule::validate_entry(p, n, $validate)
            }
        )?
    };
}
