package rule

import (
	"errors"
	"slices"
	"strconv"
)

// Is reports whether ref names this candidate: its model ("gpt-4o-mini") or
// "provider/model" ("openai/gpt-4o-mini"), the two ways rule configs name targets.
func (c *Candidate) Is(ref string) bool {
	if ref == c.Model {
		return true
	}
	p := len(c.Provider)
	return len(ref) == p+1+len(c.Model) && ref[p] == '/' && ref[:p] == c.Provider && ref[p+1:] == c.Model
}

// CheckKeys refuses an object with a key outside known, or a key given twice (Get
// would silently read the last one). where prefixes key names in the message
// ("routes[1].").
func (v Value) CheckKeys(where string, known ...string) error {
	keys := v.Keys()
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			return errors.New("config key " + strconv.Quote(where+k) + " is repeated")
		}
		if !slices.Contains(known, k) {
			return errors.New("unknown config key " + strconv.Quote(where+k))
		}
	}
	return nil
}

// BoolKey reads an optional boolean member: def when it is missing, an error when it
// is not a boolean.
func (v Value) BoolKey(key string, def bool) (bool, error) {
	x := v.Get(key)
	switch x.Kind() {
	case Missing:
		return def, nil
	case Bool:
		return x.Bool(def), nil
	}
	return def, errors.New(strconv.Quote(key) + " must be true or false")
}
