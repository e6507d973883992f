package wire

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// The chat decoder reads a body in one pass with the strict scanner below, which finds each
// top-level field's value (and each message's) without building anything, then decodes the
// values routing needs straight from the body. Anything unusual (escaped strings, wrong
// types, invalid JSON) goes to encoding/json, so errors and edge cases read exactly as
// encoding/json has them; the scanner only has to accept what encoding/json accepts.

// errScan is any syntax error; the caller then asks encoding/json for the message.
var errScan = errors.New("wire: invalid JSON")

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// member is one field of a JSON object: its key (decoded) and its value's bytes.
type member struct {
	key []byte
	val json.RawMessage
	// start is the offset of the value in the scanned body.
	start int
}

// object is a JSON object's fields in order.
type object []member

// get returns the value of the last field named k.
func (o object) get(k string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].key) == k {
			return o[i].val, true
		}
	}
	return nil, false
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads an object whose '{' is at s.i, appending its fields to dst unless skip.
func (s *scanner) object(dst object, depth int, skip bool) (object, error) {
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return dst, nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return nil, errScan
		}
		ks := s.i
		plain, err := s.str()
		if err != nil {
			return nil, err
		}
		key := s.b[ks+1 : s.i-1]
		if !plain && !skip {
			var k string
			if json.Unmarshal(s.b[ks:s.i], &k) != nil {
				return nil, errScan
			}
			key = []byte(k)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, errScan
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(depth); err != nil {
			return nil, err
		}
		if !skip {
			dst = append(dst, member{key: key, val: s.b[vs:s.i:s.i], start: vs})
		}
		s.ws()
		if s.i >= len(s.b) {
			return nil, errScan
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return dst, nil
		default:
			return nil, errScan
		}
	}
}

// value skips one value starting at s.i (no leading space), checking its syntax.
func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return errScan
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		if depth >= maxDepth {
			return errScan
		}
		_, err := s.object(nil, depth+1, true)
		return err
	case c == '[':
		if depth >= maxDepth {
			return errScan
		}
		return s.array(depth+1, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return errScan
}

// array skips an array whose '[' is at s.i; each calls elem with the offset of every
// element once it has been skipped (nil: none).
func (s *scanner) array(depth int, each func(start int)) error {
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		start := s.i
		if err := s.value(depth); err != nil {
			return err
		}
		if each != nil {
			each(start)
		}
		s.ws()
		if s.i >= len(s.b) {
			return errScan
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return nil
		default:
			return errScan
		}
	}
}

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return errScan
	}
	s.i += len(w)
	return nil
}

// number skips a number, following JSON's grammar.
func (s *scanner) number() error {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > st
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return errScan
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return errScan
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return errScan
		}
	}
	s.i = i
	return nil
}

// str skips a string whose '"' is at s.i. plain reports that its bytes are its value (no
// escapes, valid UTF-8), so string(b[start+1:end-1]) decodes it.
func (s *scanner) str() (plain bool, err error) {
	b := s.b
	i := s.i + 1
	plain = true
	high := false
	for {
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return false, errScan
		}
		c := b[i]
		switch {
		case c == '"':
			if high && plain && !utf8.Valid(b[s.i+1:i]) {
				plain = false
			}
			s.i = i + 1
			return plain, nil
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return false, errScan
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 5 {
					return false, errScan
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false, errScan
					}
				}
				i += 5
			default:
				return false, errScan
			}
		case c < 0x20:
			return false, errScan
		default:
			if c >= 0x80 {
				high = true
			}
			i++
		}
	}
}

// plainByte holds the bytes a string holds as themselves: ASCII, no control character,
// quote or backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanObject reads body as one JSON object (spaces around it allowed).
func scanObject(body []byte, dst object) (object, error) {
	s := scanner{b: body}
	s.ws()
	if s.i >= len(body) || body[s.i] != '{' {
		return nil, errScan
	}
	o, err := s.object(dst, 1, false)
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(body) {
		return nil, errScan
	}
	return o, nil
}

// decodeString decodes a JSON value the scanner has checked into dst: the body's bytes
// when it is a plain string, encoding/json otherwise. ok is false for a value that is not
// a string (null included: callers check for null first).
func decodeString(raw json.RawMessage, dst *string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	s := scanner{b: raw}
	if plain, err := s.str(); err == nil && plain && s.i == len(raw) {
		*dst = string(raw[1 : len(raw)-1])
		return true
	}
	return json.Unmarshal(raw, dst) == nil
}

// decodeFloat decodes a number.
func decodeFloat(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}
