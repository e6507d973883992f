package codec

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// This file decodes rule outputs without encoding/json (reflection and its
// allocations cost more than the rest of the host's work per call).
//
// decodeOutput accepts exactly what encoding/json's Decoder with
// DisallowUnknownFields accepted into rawOutput, and fills it the same way
// (FuzzParseOutput compares the two):
//   - field names match exactly, else case-insensitively as encoding/json
//     folds them (so "Targets" and "\u0074argets" are targets);
//   - null leaves a string or number field as it is and sets a pointer or
//     slice field to nil; an empty array is an empty, non-nil slice;
//   - a repeated key decodes again into the same value: objects merge,
//     arrays decode into the existing elements;
//   - strings are unescaped, invalid UTF-8 and lone surrogates become
//     U+FFFD; integers must be integers, numbers must fit a float64.
//
// One difference, on purpose: nothing but whitespace may follow the value
// (the Decoder's More let a stray "}" or "]" through).

// dec reads one JSON value. The first error sticks and ends every loop.
type dec struct {
	b       []byte
	off     int
	err     error
	scratch []byte          // unescaped strings
	cands   []abi.Candidate // targets take their strings from here when equal
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at offset %d", msg, d.off)
	}
	d.off = len(d.b)
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (d *dec) peek() byte {
	for d.off < len(d.b) {
		switch c := d.b[d.off]; c {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return c
		}
	}
	return 0
}

// null reads the literal null (the caller has peeked 'n').
func (d *dec) null() {
	if len(d.b)-d.off >= 4 && string(d.b[d.off:d.off+4]) == "null" {
		d.off += 4
		return
	}
	d.fail("invalid literal")
}

// want fails with what the value at the cursor should have been.
func (d *dec) want(field, what string) {
	if d.err != nil {
		return
	}
	switch d.peek() {
	case 0:
		d.fail("unexpected end")
	case '{', '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		d.fail(field + " must be " + what)
	default:
		d.fail(fmt.Sprintf("invalid character %q", d.b[d.off]))
	}
}

// member reads the separator before the next member of an object (first:
// none) and its key, up to the colon. It returns false at the closing
// brace or on error. The key is valid until the next string is read.
func (d *dec) member(first bool) ([]byte, bool) {
	c := d.peek()
	if c == '}' && first {
		d.off++
		return nil, false
	}
	if !first {
		switch c {
		case '}':
			d.off++
			return nil, false
		case ',':
			d.off++
			c = d.peek()
		default:
			d.fail("expected , or } after an object member")
			return nil, false
		}
	}
	if c != '"' {
		d.fail("expected a string key")
		return nil, false
	}
	key := d.str()
	if d.peek() != ':' {
		d.fail("expected : after an object key")
		return nil, false
	}
	d.off++
	return key, d.err == nil
}

// element reads the separator before the next element of an array; false
// at the closing bracket or on error.
func (d *dec) element(first bool) bool {
	c := d.peek()
	if c == ']' && first {
		d.off++
		return false
	}
	if !first {
		switch c {
		case ']':
			d.off++
			return false
		case ',':
			d.off++
		default:
			d.fail("expected , or ] after an array element")
			return false
		}
	}
	return d.err == nil
}

// str reads a string (the cursor is on its quote) and returns its
// unescaped bytes: a view of the input, or of d.scratch.
func (d *dec) str() []byte {
	d.off++
	start := d.off
	for i := start; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.off = i + 1
			return d.b[start:i]
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return d.strSlow(start, i)
		}
	}
	d.off = len(d.b)
	d.fail("unterminated string")
	return nil
}

func (d *dec) strSlow(start, i int) []byte {
	b := d.b
	out := append(d.scratch[:0], b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.off = i + 1
			d.scratch = out
			return out
		case c < 0x20:
			d.off = i
			d.fail("control character in string")
			return nil
		case c == '\\':
			if i+1 >= len(b) {
				i++
				break
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(b[i+2:])
				if r < 0 {
					d.off = i
					d.fail("invalid \\u escape in string")
					return nil
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2 = hex4(b[i+2:])
					}
					if pair := utf16.DecodeRune(r, r2); pair != unicode.ReplacementChar {
						r = pair
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				d.off = i
				d.fail("invalid escape in string")
				return nil
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, b[i:i+n]...)
			}
			i += n
		}
	}
	d.off = len(b)
	d.fail("unterminated string")
	return nil
}

// hex4 decodes four hex digits, -1 if b does not start with them.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads a number literal with JSON's grammar and returns its text.
func (d *dec) number() []byte {
	b, i := d.b, d.off
	digits := func() bool {
		n := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		d.off = i
		d.fail("invalid number")
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			d.off = i
			d.fail("invalid number")
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			d.off = i
			d.fail("invalid number")
			return nil
		}
	}
	lit := b[d.off:i]
	d.off = i
	return lit
}

// isNumber reports whether c starts a number.
func isNumber(c byte) bool { return c == '-' || '0' <= c && c <= '9' }

// setString decodes a string or null (which leaves *p as it is).
func (d *dec) setString(p *string, field string) {
	switch d.peek() {
	case '"':
		*p = string(d.str())
	case 'n':
		d.null()
	default:
		d.want(field, "a string")
	}
}

// setInt decodes an integer or null (which leaves *p as it is).
func (d *dec) setInt(p *int64, field string) {
	switch c := d.peek(); {
	case isNumber(c):
		lit := d.number()
		if d.err != nil {
			return
		}
		n, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			d.fail(field + " must be an integer that fits 64 bits")
			return
		}
		*p = n
	case c == 'n':
		d.null()
	default:
		d.want(field, "an integer")
	}
}

// setIntPtr decodes an integer, or null into nil.
func (d *dec) setIntPtr(p **int64, field string) {
	if d.peek() == 'n' {
		d.null()
		*p = nil
		return
	}
	v := int64(0)
	if *p != nil {
		v = **p
	}
	d.setInt(&v, field)
	if d.err == nil {
		if *p == nil {
			*p = new(int64)
		}
		**p = v
	}
}

// setFloatPtr decodes a number, or null into nil.
func (d *dec) setFloatPtr(p **float64, field string) {
	switch c := d.peek(); {
	case c == 'n':
		d.null()
		*p = nil
	case isNumber(c):
		lit := d.number()
		if d.err != nil {
			return
		}
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			d.fail(field + " must be a number that fits a float64")
			return
		}
		if *p == nil {
			*p = new(float64)
		}
		**p = f
	default:
		d.want(field, "a number")
	}
}

// setStrings decodes an array of strings, or null into nil.
func (d *dec) setStrings(p *[]string, field string) {
	switch d.peek() {
	case 'n':
		d.null()
		*p = nil
	case '[':
		d.off++
		s := (*p)[:0]
		i := 0
		for ; d.element(i == 0); i++ {
			s = grow(s, i)
			d.setString(&s[i], field)
		}
		if i == 0 {
			s = []string{}
		}
		*p = s
	default:
		d.want(field, "an array of strings")
	}
}

// grow makes s[i] addressable the way encoding/json does: an element past
// the length but within the capacity keeps what it held.
func grow[T any](s []T, i int) []T {
	if i < cap(s) {
		return s[:i+1]
	}
	if cap(s) == 0 {
		s = make([]T, 0, 4)
		return s[:1]
	}
	var zero T
	return append(s, zero)
}

// field returns the index of key in names, matched exactly, else as
// encoding/json folds names; -1 for none.
func field(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		if foldEqual(key, n) {
			return i
		}
	}
	return -1
}

// foldEqual reports whether key equals the lowercase ASCII name under
// encoding/json's folding (bytes.EqualFold): ASCII letters upper-cased,
// other runes mapped to the smallest rune of their fold set (so the Kelvin
// sign is a K).
func foldEqual(key []byte, name string) bool {
	j := 0
	for i := 0; i < len(key); {
		r := rune(key[i])
		if r < utf8.RuneSelf {
			i++
		} else {
			var n int
			r, n = utf8.DecodeRune(key[i:])
			i += n
			r = foldRune(r)
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		if j >= len(name) {
			return false
		}
		want := rune(name[j])
		if 'a' <= want && want <= 'z' {
			want -= 'a' - 'A'
		}
		if r != want {
			return false
		}
		j++
	}
	return j == len(name)
}

// foldRune returns the smallest rune of r's fold set.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

var (
	outputFields = []string{"targets", "reason", "params", "tags", "reject", "error"}
	targetFields = []string{"provider", "model"}
	paramFields  = []string{"max_tokens", "temperature", "top_p", "stop", "reasoning_effort"}
	rejectFields = []string{"status", "message"}
	verdictField = []string{"verdict", "reason", "error"}
)

// decodeOutput decodes a sy_route output into o (see the top of the file).
func decodeOutput(b []byte, cands []abi.Candidate, o *rawOutput) error {
	d := dec{b: b, cands: cands}
	switch c := d.peek(); c {
	case 'n':
		d.null()
	case '{':
		d.off++
		d.output(o)
	case 0:
		d.fail("empty output")
	default:
		d.want("the output", "an object")
	}
	return d.end()
}

// end requires nothing but whitespace after the value.
func (d *dec) end() error {
	if d.err == nil {
		if d.peek(); d.off < len(d.b) {
			d.fail("data after the JSON value")
		}
	}
	return d.err
}

func (d *dec) output(o *rawOutput) {
	for first := true; ; first = false {
		key, ok := d.member(first)
		if !ok {
			return
		}
		switch field(key, outputFields) {
		case 0:
			d.targets(&o.Targets)
		case 1:
			d.setString(&o.Reason, "reason")
		case 2:
			d.params(&o.Params)
		case 3:
			d.setStrings(&o.Tags, "tags")
		case 4:
			d.reject(&o.Reject)
		case 5:
			switch d.peek() {
			case 'n':
				d.null()
				o.Error = nil
			case '"':
				s := string(d.str())
				o.Error = &s
			default:
				d.want("error", "a string")
			}
		default:
			d.fail("unknown field " + quoteKey(key))
		}
	}
}

func (d *dec) targets(p *[]abi.Target) {
	switch d.peek() {
	case 'n':
		d.null()
		*p = nil
		return
	case '[':
		d.off++
	default:
		d.want("targets", "an array of objects")
		return
	}
	s := (*p)[:0]
	i := 0
	for ; d.element(i == 0); i++ {
		s = grow(s, i)
		switch d.peek() {
		case 'n':
			d.null() // leaves the element as it is
		case '{':
			d.off++
			d.target(&s[i])
		default:
			d.want("a target", "an object")
		}
	}
	if i == 0 {
		s = []abi.Target{}
	}
	*p = s
}

func (d *dec) target(t *abi.Target) {
	for first := true; ; first = false {
		key, ok := d.member(first)
		if !ok {
			return
		}
		switch field(key, targetFields) {
		case 0:
			d.candidateString(&t.Provider, true)
		case 1:
			d.candidateString(&t.Model, false)
		default:
			d.fail("targets: unknown field " + quoteKey(key))
		}
	}
}

// candidateString is setString for a target's provider or model, taking
// the string of an equal candidate field instead of allocating one.
func (d *dec) candidateString(p *string, provider bool) {
	name := "model"
	if provider {
		name = "provider"
	}
	if d.peek() != '"' {
		d.setString(p, name)
		return
	}
	b := d.str()
	for i := range d.cands {
		c := &d.cands[i]
		if provider && string(b) == c.Provider {
			*p = c.Provider
			return
		}
		if !provider && string(b) == c.Model {
			*p = c.Model
			return
		}
	}
	*p = string(b)
}

// openObject reads the '{' of an optional object member and returns *pp,
// allocated when nil, to fill; null sets *pp to nil. It returns nil when
// there is nothing to fill.
func openObject[T any](d *dec, pp **T, name string) *T {
	switch d.peek() {
	case 'n':
		d.null()
		*pp = nil
		return nil
	case '{':
		d.off++
	default:
		d.want(name, "an object")
		return nil
	}
	if *pp == nil {
		*pp = new(T)
	}
	return *pp
}

func (d *dec) params(pp **abi.Params) {
	p := openObject(d, pp, "params")
	if p == nil {
		return
	}
	for first := true; ; first = false {
		key, ok := d.member(first)
		if !ok {
			return
		}
		switch field(key, paramFields) {
		case 0:
			d.setIntPtr(&p.MaxTokens, "params.max_tokens")
		case 1:
			d.setFloatPtr(&p.Temperature, "params.temperature")
		case 2:
			d.setFloatPtr(&p.TopP, "params.top_p")
		case 3:
			d.setStrings(&p.Stop, "params.stop")
		case 4:
			d.setString(&p.ReasoningEffort, "params.reasoning_effort")
		default:
			d.fail("params: unknown field " + quoteKey(key))
		}
	}
}

func (d *dec) reject(pr **abi.Reject) {
	r := openObject(d, pr, "reject")
	if r == nil {
		return
	}
	for first := true; ; first = false {
		key, ok := d.member(first)
		if !ok {
			return
		}
		switch field(key, rejectFields) {
		case 0:
			status := int64(r.Status)
			d.setInt(&status, "reject.status")
			r.Status = int(status)
		case 1:
			d.setString(&r.Message, "reject.message")
		default:
			d.fail("reject: unknown field " + quoteKey(key))
		}
	}
}

// quoteKey quotes an unknown key for an error message, truncated.
func quoteKey(key []byte) string { return strconv.Quote(truncate(string(key), 64)) }

// verdicts are the known verdicts, so that decoding one allocates nothing.
var verdicts = []string{abi.VerdictAccept, abi.VerdictRetry, abi.VerdictFallback, abi.VerdictFail}

// decodeVerdict decodes a sy_validate output into v, with the rules of
// decodeOutput.
func decodeVerdict(b []byte, v *rawVerdict) error {
	d := dec{b: b}
	switch d.peek() {
	case 'n':
		d.null()
	case '{':
		d.off++
		for first := true; ; first = false {
			key, ok := d.member(first)
			if !ok {
				break
			}
			switch field(key, verdictField) {
			case 0:
				switch d.peek() {
				case 'n':
					d.null()
					v.Verdict = nil
				case '"':
					s := d.str()
					known := -1
					for i, k := range verdicts {
						if string(s) == k {
							known = i
						}
					}
					if known >= 0 {
						v.Verdict = &verdicts[known]
					} else {
						str := string(s)
						v.Verdict = &str
					}
				default:
					d.want("verdict", "a string")
				}
			case 1:
				d.setString(&v.Reason, "reason")
			case 2:
				switch d.peek() {
				case 'n':
					d.null()
					v.Error = nil
				case '"':
					s := string(d.str())
					v.Error = &s
				default:
					d.want("error", "a string")
				}
			default:
				d.fail("unknown field " + quoteKey(key))
			}
		}
	case 0:
		d.fail("empty output")
	default:
		d.want("the output", "an object")
	}
	return d.end()
}
