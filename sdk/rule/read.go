package rule

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unsafe"
)

// This file holds the fast input reader. With the host's deadline switch on
// (wazero WithCloseOnContextDone), every Go function call inside the guest
// costs a round trip to the host (~0.1–0.25 µs), while loops inside one
// function are nearly free. So the reader is one function driving a state
// machine over the known shape of the input, with inlined helpers; rare
// paths (escaped strings, unknown fields, raw values, unusual numbers) call
// out to the general scanner in scan.go. input_ref_test.go checks it
// against a straightforward reader built on the scanner.

// Container states of the reader.
const (
	stTop uint8 = iota
	stReq
	stTags
	stMeta
	stHeaders
	stCands
	stCand
	stCaps
	stContent
	stBudget
	stLimits
	nStates
)

// Word-at-a-time helpers. Loop iterations are what cost inside the guest
// (each backward jump is a deadline check), so strings are scanned and keys
// compared eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// strEnd returns the index of the first byte at or after j that is '"',
// '\\' or a control character, or len(b).
func strEnd(b []byte, j int) int {
	for j+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[j:])
		q, e := w^(ones*'"'), w^(ones*'\\')
		if m := ((q-ones)&^q | (e-ones)&^e | (w-ones*0x20)&^w) & highs; m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
		j += 8
	}
	for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
		j++
	}
	return j
}

// specials flags (high bit per byte) the bytes of w that end a string's
// fast path: '"', '\\' and control characters. The lowest flag is exact.
func specials(w uint64) uint64 {
	q, e := w^(ones*'"'), w^(ones*'\\')
	return (((q - ones) &^ q) | ((e - ones) &^ e) | ((w - ones*0x20) &^ w)) & highs
}

// Numbers are read eight bytes at a time by two inlinable halves
// (digitCount, digitValue): a call costs the guest more than the
// arithmetic.

// digitCount returns how many of the 8 bytes of w are leading ASCII digits.
func digitCount(w uint64) int {
	const hi = 0xF0F0F0F0F0F0F0F0
	t := ((w & hi) ^ ones*'0') | (((w + ones*6) & hi) ^ ones*'0') // zero bytes are digits
	nz := (((t & 0x7f7f7f7f7f7f7f7f) + 0x7f7f7f7f7f7f7f7f) | t) & highs
	return bits.TrailingZeros64(nz) / 8
}

// digitValue returns the value of the first k (1..7) bytes of w, all
// digits.
func digitValue(w uint64, k int) uint64 {
	const lo = 0x0F0F0F0F0F0F0F0F
	x := w<<(8*uint(8-k)) | (ones*'0')>>(8*uint(k)) // right-align, pad with '0'
	x = (x & lo) * 2561 >> 8
	x = (x & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (x & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// skipSpace skips JSON white space from i.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	return i
}

// kw is a member name of up to 24 bytes packed into words, so a name is
// matched with a few integer comparisons.
type kw struct{ n, a, b, c uint64 }

func mask(k int) uint64 {
	if k >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(k)) - 1
}

// keyMasks[n] masks the three words of an n-byte name (n <= 24).
var keyMasks = func() (m [25][3]uint64) {
	for n := range m {
		for w := 0; w < 3; w++ {
			m[n][w] = mask(min(max(n-8*w, 0), 8))
		}
	}
	return m
}()

// keyAt packs b[i:i+n]; names over 24 bytes pack to a value no known name
// has. The common case is branch-free.
func keyAt(b []byte, i, n int) kw {
	if n <= 24 && i+24 <= len(b) {
		m := &keyMasks[n]
		return kw{n: uint64(n),
			a: binary.LittleEndian.Uint64(b[i:]) & m[0],
			b: binary.LittleEndian.Uint64(b[i+8:]) & m[1],
			c: binary.LittleEndian.Uint64(b[i+16:]) & m[2]}
	}
	if n > 24 {
		return kw{n: ^uint64(0)}
	}
	var t [48]byte // near the end of the input: pack from a copy
	copy(t[:], b[i:i+n])
	return keyAt(t[:], 0, n)
}

func mkKW(s string) kw {
	return keyAt([]byte(s+"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0, len(s))
}

// Literals as little-endian words.
const (
	wNull = 'n' | 'u'<<8 | 'l'<<16 | 'l'<<24
	wTrue = 't' | 'r'<<8 | 'u'<<16 | 'e'<<24
	wFals = 'f' | 'a'<<8 | 'l'<<16 | 's'<<24
)

func lit4(b []byte, i int, w uint32) bool {
	return i+4 <= len(b) && binary.LittleEndian.Uint32(b[i:]) == w
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Value kinds: how the reader stores the next value.
const (
	kUnknown    uint8 = iota // skipped
	kRaw                     // raw JSON text ("" for null): previous
	kStr                     // *string
	kInt                     // *int64
	kFloat                   // *float64
	kBool                    // *bool
	kSeed                    // *uint64
	kStrElem                 // appended to *[]string
	kMapVal                  // stored in *map[string]string under the member name
	kObjReq                  // the request object
	kObjMap                  // metadata or headers: *map[string]string
	kObjCand                 // a candidate (element of candidates)
	kArrCands                // the candidates array
	kArrStrs                 // tags or capabilities: *[]string
	kText                    // *string of a long text (content's), not kept in the table of recent strings
	kObjContent              // request.content: *(*Content), pointed at the Input's own Content
	kObjBudget               // request.budget: *(*Budget), pointed at the Input's own Budget
	kObjLimits               // request.limits: *(*Limits), pointed at the Input's own Limits
)

// slot maps a member name, in a given container state, to how its value is
// stored: kind and offset from the container's base pointer.
type slot struct {
	k    kw
	st   uint8
	kind uint8
	off  uintptr
}

// The member table is a perfect hash over (state, name), found at init, so
// a lookup is a hash and one comparison: branches are what costs in the
// guest.
var (
	slots    [256]slot
	slotSeed uint64
)

func slotIndex(st uint8, k kw, seed uint64) uint8 {
	h := (k.a ^ k.b*0x9E3779B97F4A7C15 ^ k.c*0xC2B2AE3D27D4EB4F ^ k.n<<48 ^ uint64(st)<<56) * seed
	return uint8(h >> 56)
}

func init() {
	var in Input
	var c Candidate
	type member struct {
		st   uint8
		name string
		kind uint8
		off  uintptr
	}
	r := &in.Request
	members := []member{
		{stTop, "abi", kInt, unsafe.Offsetof(in.ABI)},
		{stTop, "now_unix_ms", kInt, unsafe.Offsetof(in.NowUnixMS)},
		{stTop, "random_seed", kSeed, unsafe.Offsetof(in.RandomSeed)},
		{stTop, "request", kObjReq, unsafe.Offsetof(in.Request)},
		{stTop, "candidates", kArrCands, unsafe.Offsetof(in.Candidates)},
		{stTop, "previous", kRaw, unsafe.Offsetof(in.Previous)},
		{stReq, "id", kStr, unsafe.Offsetof(r.ID)},
		{stReq, "endpoint", kStr, unsafe.Offsetof(r.Endpoint)},
		{stReq, "model", kStr, unsafe.Offsetof(r.Model)},
		{stReq, "stream", kBool, unsafe.Offsetof(r.Stream)},
		{stReq, "priority", kInt, unsafe.Offsetof(r.Priority)},
		{stReq, "prompt_tokens_estimate", kInt, unsafe.Offsetof(r.PromptTokensEstimate)},
		{stReq, "max_tokens", kInt, unsafe.Offsetof(r.MaxTokens)},
		{stReq, "messages", kInt, unsafe.Offsetof(r.Messages)},
		{stReq, "chars", kInt, unsafe.Offsetof(r.Chars)},
		{stReq, "has_tools", kBool, unsafe.Offsetof(r.HasTools)},
		{stReq, "has_images", kBool, unsafe.Offsetof(r.HasImages)},
		{stReq, "json_mode", kBool, unsafe.Offsetof(r.JSONMode)},
		{stReq, "key", kStr, unsafe.Offsetof(r.Key)},
		{stReq, "team", kStr, unsafe.Offsetof(r.Team)},
		{stReq, "user", kStr, unsafe.Offsetof(r.User)},
		{stReq, "budget", kObjBudget, unsafe.Offsetof(r.Budget)},
		{stReq, "limits", kObjLimits, unsafe.Offsetof(r.Limits)},
		{stReq, "tags", kArrStrs, unsafe.Offsetof(r.Tags)},
		{stReq, "metadata", kObjMap, unsafe.Offsetof(r.Metadata)},
		{stReq, "headers", kObjMap, unsafe.Offsetof(r.Headers)},
		{stReq, "content", kObjContent, unsafe.Offsetof(r.Content)},
		{stContent, "last_user", kText, unsafe.Offsetof(in.content.LastUser)},
		{stContent, "system", kText, unsafe.Offsetof(in.content.System)},
		{stContent, "has_code_fence", kBool, unsafe.Offsetof(in.content.HasCodeFence)},
		{stContent, "has_image", kBool, unsafe.Offsetof(in.content.HasImage)},
		{stContent, "has_tool_results", kBool, unsafe.Offsetof(in.content.HasToolResults)},
		{stContent, "language_hint", kStr, unsafe.Offsetof(in.content.LanguageHint)},
		{stBudget, "usd", kFloat, unsafe.Offsetof(in.budget.USD)},
		{stBudget, "period", kStr, unsafe.Offsetof(in.budget.Period)},
		{stBudget, "spent_usd", kFloat, unsafe.Offsetof(in.budget.SpentUSD)},
		{stBudget, "remaining_usd", kFloat, unsafe.Offsetof(in.budget.RemainingUSD)},
		{stBudget, "resets_unix_ms", kInt, unsafe.Offsetof(in.budget.ResetsUnixMS)},
		{stLimits, "rpm", kInt, unsafe.Offsetof(in.limits.RPM)},
		{stLimits, "rpm_remaining", kInt, unsafe.Offsetof(in.limits.RPMRemaining)},
		{stLimits, "tpm", kInt, unsafe.Offsetof(in.limits.TPM)},
		{stLimits, "tpm_remaining", kInt, unsafe.Offsetof(in.limits.TPMRemaining)},
		{stCand, "provider", kStr, unsafe.Offsetof(c.Provider)},
		{stCand, "model", kStr, unsafe.Offsetof(c.Model)},
		{stCand, "context_window", kInt, unsafe.Offsetof(c.ContextWindow)},
		{stCand, "usd_per_mtok_in", kFloat, unsafe.Offsetof(c.USDPerMTokIn)},
		{stCand, "usd_per_mtok_out", kFloat, unsafe.Offsetof(c.USDPerMTokOut)},
		{stCand, "capabilities", kArrStrs, unsafe.Offsetof(c.Capabilities)},
		{stCand, "healthy", kBool, unsafe.Offsetof(c.Healthy)},
		{stCand, "circuit", kStr, unsafe.Offsetof(c.Circuit)},
		{stCand, "p50_ms", kFloat, unsafe.Offsetof(c.P50MS)},
		{stCand, "p95_ms", kFloat, unsafe.Offsetof(c.P95MS)},
		{stCand, "error_rate", kFloat, unsafe.Offsetof(c.ErrorRate)},
		{stCand, "inflight", kInt, unsafe.Offsetof(c.Inflight)},
	}
	// The packed names, once: finding a seed takes a thousand tries or so.
	kws := make([]kw, len(members))
	for j, m := range members {
		kws[j] = mkKW(m.name)
	}
	for seed := uint64(0x9E3779B97F4A7C15); ; seed += 0x632BE59BD9B4E019 {
		var used [256]bool
		ok := true
		for j, m := range members {
			i := slotIndex(m.st, kws[j], seed|1)
			if used[i] {
				ok = false
				break
			}
			used[i] = true
		}
		if !ok {
			continue
		}
		slotSeed = seed | 1
		for i := range slots {
			slots[i] = slot{st: 0xff} // matches no state
		}
		for j, m := range members {
			k := kws[j]
			slots[slotIndex(m.st, k, slotSeed)] = slot{k: k, st: m.st, kind: m.kind, off: m.off}
		}
		return
	}
}

// closers holds the closing bracket of each container state (a table, not
// branches).
var closers = [nStates]byte{stTop: '}', stReq: '}', stMeta: '}', stHeaders: '}', stCand: '}', stContent: '}',
	stBudget: '}', stLimits: '}', stTags: ']', stCaps: ']', stCands: ']'}

// elemKind is the kind of the elements of each array state, and of the
// member values of each map state.
var elemKind = [nStates]uint8{stTags: kStrElem, stCaps: kStrElem, stCands: kObjCand, stMeta: kMapVal, stHeaders: kMapVal}

// The reader works on the caller's bytes in place; every string it stores
// in the Input is made by keepKW or keep (the prompt's long texts, kText, by
// a copy of their own), never a view of those bytes.
// Most strings of an input repeat from call to call (the candidates'
// names and capabilities, the request's endpoint, model, key and user), so
// strings of up to 24 bytes come from a table of recent ones (one per
// Input), found by their packed bytes (kw): a hit costs a few integer
// comparisons and no allocation. Copying the whole input into a new string
// per call made garbage whose collections cost the Go guest more (~0.8 µs
// per call on a 1.1 KB input, measured side by side).
type recentStrings [1024]struct {
	k kw
	s string
}

// keepKW returns the string s, whose bytes k packs, as a string that does
// not alias the input.
func (t *recentStrings) keepKW(k kw, s string) string {
	if k.n > 24 {
		return strings.Clone(s)
	}
	e := &t[recentIndex(k.a, k.b^k.c, k.n)]
	if e.k != k {
		e.k, e.s = k, strings.Clone(s)
	}
	return e.s
}

func recentIndex(a, b, n uint64) uint64 {
	return ((a ^ b*0xC2B2AE3D27D4EB4F ^ n) * 0x9E3779B97F4A7C15) >> 54
}

// keepAt returns s[i:j], where b is s as bytes, as a string that does not
// alias s.
func (t *recentStrings) keepAt(b []byte, s string, i, j int) string {
	k := keyAt(b, i, j-i)
	if k.n <= 24 {
		if e := &t[recentIndex(k.a, k.b^k.c, k.n)]; e.k == k {
			return e.s
		}
	}
	return t.keepKW(k, s[i:j])
}

// keep returns s, which may alias the input, as a string that does not.
func (t *recentStrings) keep(s string) string { return t.keepKW(mkKW(s), s) }

func readInput(s string, in *Input) error {
	in.ABI, in.NowUnixMS, in.RandomSeed, in.Previous = 0, 0, 0, ""
	in.Request.reset()
	in.Candidates = in.Candidates[:0]

	sc := scanner{s: s}                             // for the rare paths
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read-only view
	var (
		stack [8]uint8 // container states; the known shape is 4 deep
		bases [8]unsafe.Pointer
		first [8]bool
		depth int
		i     int
		key   string
	)
	if i < len(s) && s[i] <= ' ' {
		i = skipSpace(s, i)
	}
	if i >= len(s) || s[i] != '{' {
		if lit4(b, i, wNull) {
			return sc.failAt(i, "input is null")
		}
		return sc.failAt(i, "expected object")
	}
	i++
	stack[0], bases[0], first[0], depth = stTop, unsafe.Pointer(in), true, 1

	for depth > 0 {
		st := stack[depth-1]
		base := bases[depth-1]
		closer := closers[st]
		isObj := closer == '}'
		if i < len(s) && s[i] <= ' ' {
			i = skipSpace(s, i)
		}
		if i >= len(s) {
			return sc.failAt(i, "unexpected end")
		}
		c := s[i]
		if c == closer {
			i++
			depth--
			continue
		}
		if !first[depth-1] {
			if c != ',' {
				if isObj {
					return sc.failAt(i, "expected ',' or '}'")
				}
				return sc.failAt(i, "expected ',' or ']'")
			}
			i++
			if i < len(s) && s[i] <= ' ' {
				i = skipSpace(s, i)
			}
			if i < len(s) && (s[i] == '}' || s[i] == ']') {
				return sc.failAt(i, "trailing comma")
			}
		}
		first[depth-1] = false

		kind := elemKind[st]
		p := base
		if isObj {
			// Member name: fast path without escapes.
			if i >= len(s) || s[i] != '"' {
				return sc.failAt(i, "expected string")
			}
			j := strEnd(b, i+1)
			var k kw
			if j < len(s) && s[j] == '"' {
				key = s[i+1 : j]
				k = keyAt(b, i+1, j-i-1)
				i = j + 1
			} else {
				sc.i = i
				key = sc.str()
				if sc.err != nil {
					return sc.err
				}
				i = sc.i
				k = mkKW(key)
			}
			if i < len(s) && s[i] <= ' ' {
				i = skipSpace(s, i)
			}
			if i >= len(s) || s[i] != ':' {
				return sc.failAt(i, "expected ':'")
			}
			i++
			if i < len(s) && s[i] <= ' ' {
				i = skipSpace(s, i)
			}
			if kind == kUnknown { // a struct: look the member up
				e := &slots[slotIndex(st, k, slotSeed)]
				if e.k == k && e.st == st {
					kind, p = e.kind, unsafe.Add(base, e.off)
				}
			}
		}
		if i >= len(s) {
			return sc.failAt(i, "unexpected end")
		}
		c = s[i]
		isNull := c == 'n' && lit4(b, i, wNull)

		switch kind {
		case kUnknown, kRaw:
			sc.i = i
			raw := sc.skip()
			if sc.err != nil {
				return sc.err
			}
			i = sc.i
			if kind == kRaw && !isNull {
				*(*string)(p) = strings.Clone(raw)
			}

		case kStr, kStrElem, kMapVal:
			var v string
			switch {
			case isNull && kind != kMapVal:
				i += 4
			case c == '"':
				j := strEnd(b, i+1)
				if j < len(s) && s[j] == '"' {
					v = in.recent.keepAt(b, s, i+1, j)
					i = j + 1
				} else {
					sc.i = i
					v = in.recent.keep(sc.str())
					if sc.err != nil {
						return sc.err
					}
					i = sc.i
				}
			case kind == kMapVal:
				// Non-string values are kept as their JSON text.
				sc.i = i
				v = in.recent.keep(sc.skip())
				if sc.err != nil {
					return sc.err
				}
				i = sc.i
			default:
				return sc.failAt(i, "expected string")
			}
			switch kind {
			case kStr:
				*(*string)(p) = v
			case kStrElem:
				sp := (*[]string)(p)
				*sp = append(*sp, v)
			default:
				mp := (*map[string]string)(p)
				if *mp == nil {
					*mp = make(map[string]string, 4)
				}
				(*mp)[in.recent.keep(key)] = v
			}

		case kText:
			// The prompt's texts: long, rarely repeated, and with escapes
			// (newlines, quotes) more often than not. Copied once, never
			// through the table of recent strings, whose copy of the
			// packed key would cost as much again.
			var v string
			switch {
			case isNull:
				i += 4
			case c == '"':
				j := strEnd(b, i+1)
				if j < len(s) && s[j] == '"' {
					v = strings.Clone(s[i+1 : j])
					i = j + 1
				} else {
					sc.i = i
					if v = sc.str(); sc.err != nil {
						return sc.err
					}
					i = sc.i
					if within(v, s) { // sc.str decoded no escape: a view of the input
						v = strings.Clone(v)
					}
				}
			default:
				return sc.failAt(i, "expected string")
			}
			*(*string)(p) = v

		case kObjContent:
			// A repeated content member replaces the earlier one.
			cp := (**Content)(p)
			*cp = nil
			if isNull {
				i += 4
				break
			}
			if c != '{' {
				return sc.failAt(i, "expected object")
			}
			i++
			if depth == len(stack) {
				return sc.failAt(i, "nesting too deep")
			}
			in.content = Content{}
			*cp = &in.content
			stack[depth], bases[depth], first[depth] = stContent, unsafe.Pointer(&in.content), true
			depth++

		case kObjBudget, kObjLimits:
			// The key's budget or limits, read into the Input's own; null
			// reads as absent, and a repeated member replaces the earlier one.
			var obj unsafe.Pointer
			if kind == kObjBudget {
				*(**Budget)(p) = nil
			} else {
				*(**Limits)(p) = nil
			}
			if isNull {
				i += 4
				break
			}
			if c != '{' {
				return sc.failAt(i, "expected object")
			}
			i++
			if depth == len(stack) {
				return sc.failAt(i, "nesting too deep")
			}
			next := stBudget
			if kind == kObjBudget {
				in.budget = Budget{}
				*(**Budget)(p) = &in.budget
				obj = unsafe.Pointer(&in.budget)
			} else {
				in.limits = Limits{}
				*(**Limits)(p) = &in.limits
				obj, next = unsafe.Pointer(&in.limits), stLimits
			}
			stack[depth], bases[depth], first[depth] = next, obj, true
			depth++

		case kBool:
			v := false
			switch {
			case isNull:
				i += 4
			case c == 't' && lit4(b, i, wTrue):
				v = true
				i += 4
			case c == 'f' && lit4(b, i, wFals) && i+5 <= len(s) && s[i+4] == 'e':
				i += 5
			default:
				return sc.failAt(i, "expected boolean")
			}
			*(*bool)(p) = v

		case kObjReq, kObjMap, kObjCand:
			next := stReq
			if kind == kObjMap {
				// A repeated metadata or headers member replaces the earlier one.
				clear(*(*map[string]string)(p))
				next = stMeta
			}
			if isNull {
				i += 4
				break
			}
			if c != '{' {
				return sc.failAt(i, "expected object")
			}
			i++
			if kind == kObjCand {
				next = stCand
				n := len(in.Candidates)
				if n < cap(in.Candidates) {
					in.Candidates = in.Candidates[:n+1]
				} else {
					in.Candidates = append(in.Candidates, Candidate{})
				}
				cand := &in.Candidates[n]
				cand.reset()
				if end, ok := readCandidate(b, s, i-1, cand, in.recent); ok {
					i = end // the router's layout, read whole (canonical.go)
					break
				}
				cand.reset()
				p = unsafe.Pointer(cand)
			}
			if depth == len(stack) {
				return sc.failAt(i, "nesting too deep")
			}
			stack[depth], bases[depth], first[depth] = next, p, true
			if kind == kObjReq {
				// The router's layout: the scalar members read whole
				// (canonical.go); the rest goes on here.
				r := (*Request)(p)
				saved := *r // a repeated request member updates the earlier one
				if end, ok := readRequestHead(b, s, i-1, r, in.recent); ok {
					i, first[depth] = end, false
				} else {
					*r = saved
				}
			}
			depth++

		case kArrCands, kArrStrs:
			next := stCands
			if kind == kArrStrs {
				// A repeated tags or capabilities member replaces the earlier one.
				sp := (*[]string)(p)
				*sp = (*sp)[:0]
				next = stTags
			}
			if isNull {
				i += 4
				break
			}
			if c != '[' {
				return sc.failAt(i, "expected array")
			}
			i++
			if depth == len(stack) {
				return sc.failAt(i, "nesting too deep")
			}
			stack[depth], bases[depth], first[depth] = next, p, true
			depth++

		default: // kInt, kFloat, kSeed
			if isNull {
				i += 4
				switch kind {
				case kInt:
					*(*int64)(p) = 0
				case kFloat:
					*(*float64)(p) = 0
				default:
					*(*uint64)(p) = 0
				}
				break
			}
			// Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
			start := i
			neg := false
			if i < len(s) && s[i] == '-' {
				neg = true
				i++
			}
			var mant uint64
			nd, exp, frac := 0, 0, false
			dstart := i
			if i+8 <= len(b) {
				if w := binary.LittleEndian.Uint64(b[i:]); true {
					if k := digitCount(w); k > 0 && k < 8 {
						mant, nd = digitValue(w, k), k
						i += k
					}
				}
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				if nd < 19 {
					mant = mant*10 + uint64(s[i]-'0')
					nd++
				} else {
					exp++
				}
				i++
			}
			if i == dstart {
				return sc.failAt(i, "expected number")
			}
			if s[dstart] == '0' && i-dstart > 1 {
				return sc.failAt(i, "leading zero")
			}
			if nd == 1 && mant == 0 {
				nd = 0 // a lone 0 holds no significant digit
			}
			if i < len(s) && s[i] == '.' {
				frac = true
				i++
				fs := i
				if i+8 <= len(b) && nd <= 10 {
					if w := binary.LittleEndian.Uint64(b[i:]); true {
						if k := digitCount(w); k > 0 && k < 8 {
							mant = mant*uint64(pow10[k]) + digitValue(w, k)
							nd += k
							exp -= k
							i += k
						}
					}
				}
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					if nd < 19 {
						mant = mant*10 + uint64(s[i]-'0')
						if mant != 0 {
							nd++
						}
						exp--
					}
					i++
				}
				if i == fs {
					return sc.failAt(i, "bad fraction")
				}
			}
			if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
				frac = true
				i++
				eneg := false
				if i < len(s) && (s[i] == '+' || s[i] == '-') {
					eneg = s[i] == '-'
					i++
				}
				es, e := i, 0
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					if e < 100000 {
						e = e*10 + int(s[i]-'0')
					}
					i++
				}
				if i == es {
					return sc.failAt(i, "bad exponent")
				}
				if eneg {
					e = -e
				}
				exp += e
			}
			var f float64
			switch {
			case mant < 1<<53 && exp >= 0 && exp <= 22:
				f = float64(mant) * pow10[exp]
			case mant < 1<<53 && exp < 0 && exp >= -22:
				f = float64(mant) / pow10[-exp]
			default:
				var err error
				f, err = strconv.ParseFloat(s[dstart:i], 64) // unsigned: the sign is applied below
				if err != nil && err.(*strconv.NumError).Err != strconv.ErrRange {
					return sc.failAt(i, "bad number")
				}
			}
			if neg {
				f = -f
			}
			// Integers: exact when plain and in range, truncated otherwise.
			var n int64
			switch {
			case !frac && exp == 0 && mant <= 1<<63-1:
				n = int64(mant)
				if neg {
					n = -n
				}
			default:
				n = saturate(f)
			}
			switch kind {
			case kInt:
				*(*int64)(p) = n
			case kFloat:
				*(*float64)(p) = f
			default: // kSeed
				var u uint64
				switch {
				case neg && f != 0:
					return sc.failAt(i, "bad unsigned number")
				case neg:
				case !frac && nd <= 19 && exp == 0:
					u = mant
				default:
					var err error
					u, err = strconv.ParseUint(s[start:i], 10, 64)
					if err != nil {
						if f < 0 || f >= 1.8446744073709552e19 {
							return sc.failAt(i, "bad unsigned number")
						}
						u = uint64(f)
					}
				}
				*(*uint64)(p) = u
			}
		}
	}
	if i < len(s) && s[i] <= ' ' {
		i = skipSpace(s, i)
	}
	if i != len(s) {
		return sc.failAt(i, "data after the top-level value")
	}
	if in.ABI != 0 && in.ABI != 1 {
		return errUnsupportedABI(in.ABI)
	}
	return nil
}

// within reports whether v is a view of s's bytes.
func within(v, s string) bool {
	if len(v) == 0 || len(s) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(v))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= lo && p < lo+uintptr(len(s))
}

// failAt records a syntax error at offset i and returns it.
func (sc *scanner) failAt(i int, msg string) error {
	sc.i = i
	sc.fail(msg)
	return sc.err
}

func (c *Candidate) reset() {
	c.Provider, c.Model, c.Circuit = "", "", ""
	c.ContextWindow, c.Inflight = 0, 0
	c.USDPerMTokIn, c.USDPerMTokOut, c.P50MS, c.P95MS, c.ErrorRate = 0, 0, 0, 0, 0
	c.Capabilities = c.Capabilities[:0]
	c.Healthy = false
}
