package rule

import "strconv"

// Kind is the JSON type of a Value.
type Kind uint8

// The kinds of JSON values.
const (
	Missing Kind = iota // the key or index was not there
	Null
	Bool
	Number
	String
	Array
	Object
)

// Value is a parsed JSON value, meant for rule configs (read once, at
// sy_init). The zero Value is Missing; accessors on a Missing or mistyped
// value return their default, so lookups chain:
//
//	min := cfg.Get("limits").Get("min_priority").Int(3)
type Value struct {
	kind    Kind
	b       bool
	text    string // string value, or number text
	items   []Value
	members []member
}

type member struct {
	key string
	val Value
}

// ParseConfig parses a JSON document. An empty document parses as an empty
// object, so a rule configured without config sees defaults.
func ParseConfig(data []byte) (Value, error) {
	sc := scanner{s: string(data)}
	if sc.ws(); sc.i >= len(sc.s) {
		return Value{kind: Object}, nil
	}
	v := parseValue(&sc, 0)
	sc.end()
	if sc.err != nil {
		return Value{}, sc.err
	}
	return v, nil
}

func parseValue(sc *scanner, depth int) Value {
	if depth > maxDepth {
		sc.fail("nesting too deep")
		return Value{}
	}
	switch sc.peek() {
	case '{':
		sc.i++
		v := Value{kind: Object}
		for first := true; sc.next('}', first); first = false {
			k := sc.key()
			v.members = append(v.members, member{key: k, val: parseValue(sc, depth+1)})
		}
		return v
	case '[':
		sc.i++
		v := Value{kind: Array}
		for first := true; sc.next(']', first); first = false {
			v.items = append(v.items, parseValue(sc, depth+1))
		}
		return v
	case '"':
		return Value{kind: String, text: sc.str()}
	case 't', 'f':
		return Value{kind: Bool, b: sc.bool()}
	case 'n':
		if sc.lit("null") {
			return Value{kind: Null}
		}
		sc.fail("bad literal")
		return Value{}
	default:
		return Value{kind: Number, text: sc.number()}
	}
}

// Kind returns the value's JSON type.
func (v Value) Kind() Kind { return v.kind }

// Get returns the member of an object (the last one if repeated), or a
// Missing value.
func (v Value) Get(key string) Value {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].key == key {
			return v.members[i].val
		}
	}
	return Value{}
}

// Has reports whether an object has the key.
func (v Value) Has(key string) bool { return v.Get(key).kind != Missing }

// Keys returns the member names of an object in document order.
func (v Value) Keys() []string {
	keys := make([]string, 0, len(v.members))
	for _, m := range v.members {
		keys = append(keys, m.key)
	}
	return keys
}

// Len returns the number of array items or object members.
func (v Value) Len() int { return len(v.items) + len(v.members) }

// Index returns an array item, or a Missing value.
func (v Value) Index(i int) Value {
	if i < 0 || i >= len(v.items) {
		return Value{}
	}
	return v.items[i]
}

// String returns a string value, or def.
func (v Value) String(def string) string {
	if v.kind != String {
		return def
	}
	return v.text
}

// Bool returns a boolean value, or def.
func (v Value) Bool(def bool) bool {
	if v.kind != Bool {
		return def
	}
	return v.b
}

// Float returns a number, or def.
func (v Value) Float(def float64) float64 {
	if v.kind != Number {
		return def
	}
	f, err := strconv.ParseFloat(v.text, 64)
	if err != nil {
		return def
	}
	return f
}

// Int returns a number truncated to an integer, or def.
func (v Value) Int(def int64) int64 {
	if v.kind != Number {
		return def
	}
	if n, err := strconv.ParseInt(v.text, 10, 64); err == nil {
		return n
	}
	return int64(v.Float(float64(def)))
}

// Strings returns the string items of an array (other items are skipped),
// or def when v is not an array.
func (v Value) Strings(def []string) []string {
	if v.kind != Array {
		return def
	}
	out := make([]string, 0, len(v.items))
	for _, it := range v.items {
		if it.kind == String {
			out = append(out, it.text)
		}
	}
	return out
}
