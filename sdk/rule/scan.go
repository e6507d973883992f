package rule

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting the scanner accepts, so hostile input cannot
// exhaust the guest's stack.
const maxDepth = 64

// scanner is a small pull parser over a JSON text held in a string. Strings
// without escapes are returned as substrings of s (no allocation); the first
// error sticks and turns every later call into a no-op.
type scanner struct {
	s   string
	i   int
	err error
}

func (sc *scanner) fail(msg string) {
	if sc.err == nil {
		sc.err = errors.New("rule: json: " + msg + " at offset " + strconv.Itoa(sc.i))
	}
	sc.i = len(sc.s)
}

func (sc *scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (sc *scanner) peek() byte {
	sc.ws()
	if sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

func (sc *scanner) lit(word string) bool {
	if len(sc.s)-sc.i >= len(word) && sc.s[sc.i:sc.i+len(word)] == word {
		sc.i += len(word)
		return true
	}
	return false
}

// null consumes a null literal if one comes next.
func (sc *scanner) null() bool {
	return sc.peek() == 'n' && sc.lit("null")
}

// object consumes '{' (true) or null (false). Anything else is an error.
func (sc *scanner) object() bool {
	switch sc.peek() {
	case '{':
		sc.i++
		return true
	case 'n':
		if sc.lit("null") {
			return false
		}
	}
	sc.fail("expected object")
	return false
}

// array consumes '[' (true) or null (false). Anything else is an error.
func (sc *scanner) array() bool {
	switch sc.peek() {
	case '[':
		sc.i++
		return true
	case 'n':
		if sc.lit("null") {
			return false
		}
	}
	sc.fail("expected array")
	return false
}

// next reports whether another member or element follows inside the object
// or array whose opening bracket was consumed; first is true for the first
// call. It consumes separating commas and the closing bracket.
func (sc *scanner) next(close byte, first bool) bool {
	c := sc.peek()
	if c == close {
		sc.i++
		return false
	}
	if !first {
		if c != ',' {
			sc.fail("expected ',' or '" + string(close) + "'")
			return false
		}
		sc.i++
		if sc.peek() == close {
			sc.fail("trailing comma")
			return false
		}
	}
	if sc.err != nil {
		return false
	}
	if sc.i >= len(sc.s) {
		sc.fail("unexpected end")
		return false
	}
	return true
}

// key reads a member name and the colon after it.
func (sc *scanner) key() string {
	k := sc.str()
	if sc.peek() != ':' {
		sc.fail("expected ':'")
		return ""
	}
	sc.i++
	return k
}

// str reads a string; null reads as "".
func (sc *scanner) str() string {
	c := sc.peek()
	if c == 'n' && sc.lit("null") {
		return ""
	}
	if c != '"' {
		sc.fail("expected string")
		return ""
	}
	sc.i++
	start := sc.i
	for sc.i < len(sc.s) {
		switch b := sc.s[sc.i]; {
		case b == '"':
			out := sc.s[start:sc.i]
			sc.i++
			return out
		case b == '\\':
			return sc.strSlow(start)
		case b < 0x20:
			sc.fail("control character in string")
			return ""
		default:
			sc.i++
		}
	}
	sc.fail("unterminated string")
	return ""
}

// strSlow decodes a string with escapes; sc.i is at the first backslash.
func (sc *scanner) strSlow(start int) string {
	buf := make([]byte, 0, sc.i-start+16)
	buf = append(buf, sc.s[start:sc.i]...)
	for sc.i < len(sc.s) {
		b := sc.s[sc.i]
		switch {
		case b == '"':
			sc.i++
			return string(buf)
		case b < 0x20:
			sc.fail("control character in string")
			return ""
		case b != '\\':
			buf = append(buf, b)
			sc.i++
			continue
		}
		if sc.i+1 >= len(sc.s) {
			break
		}
		e := sc.s[sc.i+1]
		sc.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := sc.hex4()
			if !ok {
				return ""
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if sc.lit(`\u`) {
					r2, ok = sc.hex4()
					if !ok {
						return ""
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			sc.fail("bad escape")
			return ""
		}
	}
	sc.fail("unterminated string")
	return ""
}

func (sc *scanner) hex4() (rune, bool) {
	if len(sc.s)-sc.i < 4 {
		sc.fail("short \\u escape")
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		c := sc.s[sc.i+k]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			sc.fail("bad \\u escape")
			return 0, false
		}
	}
	sc.i += 4
	return r, true
}

// number returns the text of the next number token, validated against the
// JSON grammar.
func (sc *scanner) number() string {
	sc.ws()
	start := sc.i
	if sc.i < len(sc.s) && sc.s[sc.i] == '-' {
		sc.i++
	}
	if !sc.digits() {
		sc.fail("expected number")
		return ""
	}
	if sc.s[start] == '0' || (sc.s[start] == '-' && sc.s[start+1] == '0') {
		if d := sc.i - start; d > 2 || (d == 2 && sc.s[start] != '-') {
			sc.fail("leading zero")
			return ""
		}
	}
	if sc.i < len(sc.s) && sc.s[sc.i] == '.' {
		sc.i++
		if !sc.digits() {
			sc.fail("bad fraction")
			return ""
		}
	}
	if sc.i < len(sc.s) && (sc.s[sc.i] == 'e' || sc.s[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.s) && (sc.s[sc.i] == '+' || sc.s[sc.i] == '-') {
			sc.i++
		}
		if !sc.digits() {
			sc.fail("bad exponent")
			return ""
		}
	}
	return sc.s[start:sc.i]
}

func (sc *scanner) digits() bool {
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		sc.i++
	}
	return sc.i > start
}

// int reads an integer; a number with a fraction or exponent is truncated;
// null reads as 0.
func (sc *scanner) int() int64 {
	if sc.null() {
		return 0
	}
	t := sc.number()
	if sc.err != nil {
		return 0
	}
	// Fast path: plain integers that fit.
	if len(t) > 0 && len(t) < 19 {
		neg := t[0] == '-'
		var n int64
		j := 0
		if neg {
			j = 1
		}
		for ; j < len(t); j++ {
			c := t[j]
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		if j == len(t) {
			if neg {
				return -n
			}
			return n
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		sc.fail("bad number")
		return 0
	}
	return saturate(f)
}

// saturate converts f to int64, truncating, with out-of-range values
// clamped (Go leaves that conversion implementation-defined).
func saturate(f float64) int64 {
	switch {
	case f >= 9.2e18:
		return 1<<63 - 1
	case f <= -9.2e18:
		return -1 << 63
	}
	return int64(f)
}

// float reads a number; null reads as 0.
func (sc *scanner) float() float64 {
	if sc.null() {
		return 0
	}
	t := sc.number()
	if sc.err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		// Out-of-range values are still valid JSON; keep the saturated value.
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f
		}
		sc.fail("bad number")
		return 0
	}
	return f
}

// bool reads true or false; null reads as false.
func (sc *scanner) bool() bool {
	switch sc.peek() {
	case 't':
		if sc.lit("true") {
			return true
		}
	case 'f':
		if sc.lit("false") {
			return false
		}
	case 'n':
		if sc.lit("null") {
			return false
		}
	}
	sc.fail("expected boolean")
	return false
}

// skip consumes one value of any kind and returns its raw text.
func (sc *scanner) skip() string {
	return sc.skipDepth(0)
}

func (sc *scanner) skipDepth(depth int) string {
	if depth > maxDepth {
		sc.fail("nesting too deep")
		return ""
	}
	c := sc.peek()
	start := sc.i
	switch c {
	case '{':
		sc.i++
		for first := true; sc.next('}', first); first = false {
			sc.key()
			sc.skipDepth(depth + 1)
		}
	case '[':
		sc.i++
		for first := true; sc.next(']', first); first = false {
			sc.skipDepth(depth + 1)
		}
	case '"':
		sc.str()
	case 't':
		if !sc.lit("true") {
			sc.fail("bad literal")
		}
	case 'f':
		if !sc.lit("false") {
			sc.fail("bad literal")
		}
	case 'n':
		if !sc.lit("null") {
			sc.fail("bad literal")
		}
	default:
		sc.number()
	}
	if sc.err != nil {
		return ""
	}
	return sc.s[start:sc.i]
}

// strings reads an array of strings into dst[:0]; null reads as empty.
func (sc *scanner) strings(dst []string) []string {
	dst = dst[:0]
	if !sc.array() {
		return dst
	}
	for first := true; sc.next(']', first); first = false {
		dst = append(dst, sc.str())
	}
	return dst
}

// stringMap reads an object into m (cleared first, allocated when nil).
// Non-string values are kept as their JSON text.
func (sc *scanner) stringMap(m map[string]string) map[string]string {
	if m != nil {
		clear(m)
	}
	if !sc.object() {
		return m
	}
	for first := true; sc.next('}', first); first = false {
		k := sc.key()
		var v string
		if sc.peek() == '"' {
			v = sc.str()
		} else {
			v = sc.skip()
		}
		if m == nil {
			m = make(map[string]string, 4)
		}
		m[k] = v
	}
	return m
}

// end checks that only white space follows the top-level value.
func (sc *scanner) end() {
	sc.ws()
	if sc.i < len(sc.s) {
		sc.fail("data after the top-level value")
	}
}
