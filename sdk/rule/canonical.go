package rule

import (
	"encoding/binary"
	"math/bits"
)

// The router writes every candidate with the same members in the same
// order, without white space (host/rules/encode.go). readCandidate reads
// exactly that layout, checking each member name as a whole against its
// packed form instead of scanning, hashing and looking it up; at the
// first difference (another order, an escape, an exponent, a number of
// over seven digits, the end of the input too near) it gives up, and the
// general reader reads the candidate from its start. The candidates are
// most of an input, and this halves their cost in the guest.

// Member names with their punctuation, packed by mkKW.
var (
	cProvider   = mkKW(`{"provider":`)
	cModel      = mkKW(`,"model":`)
	cContext    = mkKW(`,"context_window":`)
	cPriceIn    = mkKW(`,"usd_per_mtok_in":`)
	cPriceOut   = mkKW(`,"usd_per_mtok_out":`)
	cCaps       = mkKW(`,"capabilities":[`)
	cHealthy    = mkKW(`,"healthy":`)
	cCircuit    = mkKW(`,"circuit":`)
	cP50        = mkKW(`,"p50_ms":`)
	cP95        = mkKW(`,"p95_ms":`)
	cErrorRate  = mkKW(`,"error_rate":`)
	cInflight   = mkKW(`,"inflight":`)
	litMinWidth = 24 // lit reads three words
)

// lit reports whether b[i:] starts with the packed literal k.
func lit(b []byte, i int, k *kw) bool {
	if i+litMinWidth > len(b) {
		return false
	}
	m := &keyMasks[k.n]
	return (binary.LittleEndian.Uint64(b[i:])^k.a)&m[0]|
		(binary.LittleEndian.Uint64(b[i+8:])^k.b)&m[1]|
		(binary.LittleEndian.Uint64(b[i+16:])^k.c)&m[2] == 0
}

// canonNumber reads the literal k at b[i:] and after it -?D+(.D+)? with
// at most seven digits in each part, and returns the number as an integer
// (truncated) and a float, as the general reader would, and the offset
// after it. (The literal is checked here, not by a call to lit: a call
// costs the guest more than the work.)
func canonNumber(b []byte, i int, k *kw) (n int64, f float64, end int, ok bool) {
	if i+litMinWidth > len(b) {
		return 0, 0, 0, false
	}
	m := &keyMasks[k.n]
	if (binary.LittleEndian.Uint64(b[i:])^k.a)&m[0]|
		(binary.LittleEndian.Uint64(b[i+8:])^k.b)&m[1]|
		(binary.LittleEndian.Uint64(b[i+16:])^k.c)&m[2] != 0 {
		return 0, 0, 0, false
	}
	i += int(k.n)
	neg := b[i] == '-'
	if neg {
		i++
	}
	if i+8 > len(b) {
		return 0, 0, 0, false
	}
	w := binary.LittleEndian.Uint64(b[i:])
	d := digitCount(w)
	if d == 0 || d == 8 || d > 1 && b[i] == '0' {
		return 0, 0, 0, false
	}
	mant := digitValue(w, d)
	i += d
	n = int64(mant)
	f = float64(mant)
	if i+9 > len(b) {
		return 0, 0, 0, false
	}
	if b[i] == '.' {
		w = binary.LittleEndian.Uint64(b[i+1:])
		d := digitCount(w)
		if d == 0 || d == 8 {
			return 0, 0, 0, false
		}
		f = float64(mant*uint64(pow10[d])+digitValue(w, d)) / pow10[d]
		i += 1 + d
	}
	if b[i] == 'e' || b[i] == 'E' {
		return 0, 0, 0, false
	}
	if neg {
		n, f = -n, -f
	}
	return n, f, i, true
}

// canonString reads the literal k (none when nil) at b[i:] and after it a
// string without escapes, and returns the string, from recent when it is
// there, and the offset after it.
func canonString(b []byte, src string, i int, k *kw, recent *recentStrings) (string, int, bool) {
	if k != nil {
		if i+litMinWidth > len(b) {
			return "", 0, false
		}
		m := &keyMasks[k.n]
		if (binary.LittleEndian.Uint64(b[i:])^k.a)&m[0]|
			(binary.LittleEndian.Uint64(b[i+8:])^k.b)&m[1]|
			(binary.LittleEndian.Uint64(b[i+16:])^k.c)&m[2] != 0 {
			return "", 0, false
		}
		i += int(k.n)
	}
	if i+17 > len(b) || b[i] != '"' {
		return "", 0, false
	}
	j := i + 1
	if m := specials(binary.LittleEndian.Uint64(b[j:])); m != 0 {
		j += bits.TrailingZeros64(m) / 8
	} else if m := specials(binary.LittleEndian.Uint64(b[j+8:])); m != 0 {
		j += 8 + bits.TrailingZeros64(m)/8
	} else {
		j = strEnd(b, j+16)
	}
	if j >= len(b) || b[j] != '"' {
		return "", 0, false
	}
	// keepAt, inlined: this is the hot path, and a call costs the guest
	// ~1 µs per input here.
	n := j - i - 1
	if n > 24 || i+25 > len(b) {
		return recent.keepAt(b, src, i+1, j), j + 1, true
	}
	vm := &keyMasks[n]
	v := kw{n: uint64(n),
		a: binary.LittleEndian.Uint64(b[i+1:]) & vm[0],
		b: binary.LittleEndian.Uint64(b[i+9:]) & vm[1],
		c: binary.LittleEndian.Uint64(b[i+17:]) & vm[2]}
	if e := &recent[recentIndex(v.a, v.b^v.c, v.n)]; e.k == v {
		return e.s, j + 1, true
	}
	return recent.keepKW(v, src[i+1:j]), j + 1, true
}

// readCandidate reads the candidate whose '{' is at b[i] into c (reset by
// the caller) and returns the offset after its '}'. src is b as a string
// (the input, read in place). Each member is one call.
func readCandidate(b []byte, src string, i int, c *Candidate, recent *recentStrings) (int, bool) {
	var ok bool
	if c.Provider, i, ok = canonString(b, src, i, &cProvider, recent); !ok {
		return 0, false
	}
	if c.Model, i, ok = canonString(b, src, i, &cModel, recent); !ok {
		return 0, false
	}
	if c.ContextWindow, _, i, ok = canonNumber(b, i, &cContext); !ok {
		return 0, false
	}
	if _, c.USDPerMTokIn, i, ok = canonNumber(b, i, &cPriceIn); !ok {
		return 0, false
	}
	if _, c.USDPerMTokOut, i, ok = canonNumber(b, i, &cPriceOut); !ok {
		return 0, false
	}
	if !lit(b, i, &cCaps) {
		return 0, false
	}
	i += int(cCaps.n)
	if i >= len(b) {
		return 0, false
	}
	if b[i] != ']' {
		for {
			var s string
			if s, i, ok = canonString(b, src, i, nil, recent); !ok || i >= len(b) {
				return 0, false
			}
			c.Capabilities = append(c.Capabilities, s)
			if b[i] != ',' {
				break
			}
			i++
		}
		if b[i] != ']' {
			return 0, false
		}
	}
	i++
	if !lit(b, i, &cHealthy) {
		return 0, false
	}
	i += int(cHealthy.n)
	switch {
	case lit4(b, i, wTrue):
		c.Healthy = true
		i += 4
	case lit4(b, i, wFals) && i+5 <= len(b) && b[i+4] == 'e':
		i += 5
	default:
		return 0, false
	}
	if c.Circuit, i, ok = canonString(b, src, i, &cCircuit, recent); !ok {
		return 0, false
	}
	if _, c.P50MS, i, ok = canonNumber(b, i, &cP50); !ok {
		return 0, false
	}
	if _, c.P95MS, i, ok = canonNumber(b, i, &cP95); !ok {
		return 0, false
	}
	if _, c.ErrorRate, i, ok = canonNumber(b, i, &cErrorRate); !ok {
		return 0, false
	}
	if c.Inflight, _, i, ok = canonNumber(b, i, &cInflight); !ok || i >= len(b) || b[i] != '}' {
		return 0, false
	}
	return i + 1, true
}

// The request's scalar members, in the router's order; budget, limits,
// tags, metadata and headers follow and are left to the general reader.
var (
	rID       = mkKW(`{"id":`)
	rEndpoint = mkKW(`,"endpoint":`)
	rModel    = mkKW(`,"model":`)
	rStream   = mkKW(`,"stream":`)
	rPriority = mkKW(`,"priority":`)
	rPromptA  = mkKW(`,"prompt_tokens_`) // 26 bytes: two words' worth
	rPromptB  = mkKW(`estimate":`)
	rMaxTok   = mkKW(`,"max_tokens":`)
	rMessages = mkKW(`,"messages":`)
	rChars    = mkKW(`,"chars":`)
	rTools    = mkKW(`,"has_tools":`)
	rImages   = mkKW(`,"has_images":`)
	rJSON     = mkKW(`,"json_mode":`)
	rKey      = mkKW(`,"key":`)
	rTeam     = mkKW(`,"team":`)
	rUser     = mkKW(`,"user":`)
	noLit     kw
)

// canonBool reads the literal k at b[i:] and true or false after it.
func canonBool(b []byte, i int, k *kw) (v bool, end int, ok bool) {
	if !lit(b, i, k) {
		return false, 0, false
	}
	i += int(k.n)
	switch {
	case lit4(b, i, wTrue):
		return true, i + 4, true
	case lit4(b, i, wFals) && i+5 <= len(b) && b[i+4] == 'e':
		return false, i + 5, true
	}
	return false, 0, false
}

// readRequestHead reads the request's members from id to user, in the
// router's layout, from its '{' at b[i] into r (reset by the caller), and
// returns the offset after the user string, where the general reader goes
// on inside the request object. team may be missing (routers before it).
func readRequestHead(b []byte, src string, i int, r *Request, recent *recentStrings) (int, bool) {
	var ok bool
	if r.ID, i, ok = canonString(b, src, i, &rID, recent); !ok {
		return 0, false
	}
	if r.Endpoint, i, ok = canonString(b, src, i, &rEndpoint, recent); !ok {
		return 0, false
	}
	if r.Model, i, ok = canonString(b, src, i, &rModel, recent); !ok {
		return 0, false
	}
	if r.Stream, i, ok = canonBool(b, i, &rStream); !ok {
		return 0, false
	}
	if r.Priority, _, i, ok = canonNumber(b, i, &rPriority); !ok {
		return 0, false
	}
	if !lit(b, i, &rPromptA) || !lit(b, i+int(rPromptA.n), &rPromptB) {
		return 0, false
	}
	if r.PromptTokensEstimate, _, i, ok = canonNumber(b, i+int(rPromptA.n+rPromptB.n), &noLit); !ok {
		return 0, false
	}
	if r.MaxTokens, _, i, ok = canonNumber(b, i, &rMaxTok); !ok {
		return 0, false
	}
	if r.Messages, _, i, ok = canonNumber(b, i, &rMessages); !ok {
		return 0, false
	}
	if r.Chars, _, i, ok = canonNumber(b, i, &rChars); !ok {
		return 0, false
	}
	if r.HasTools, i, ok = canonBool(b, i, &rTools); !ok {
		return 0, false
	}
	if r.HasImages, i, ok = canonBool(b, i, &rImages); !ok {
		return 0, false
	}
	if r.JSONMode, i, ok = canonBool(b, i, &rJSON); !ok {
		return 0, false
	}
	if r.Key, i, ok = canonString(b, src, i, &rKey, recent); !ok {
		return 0, false
	}
	if lit(b, i, &rTeam) {
		if r.Team, i, ok = canonString(b, src, i+int(rTeam.n), nil, recent); !ok {
			return 0, false
		}
	}
	if r.User, i, ok = canonString(b, src, i, &rUser, recent); !ok {
		return 0, false
	}
	return i, true
}
