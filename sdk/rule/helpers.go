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

// ParseConfigObject parses a rule's config (ParseConfig), which must be an
// object whose keys are among known (CheckKeys). The errors read
// "config: ...", "config must be an object" and "unknown config key ...":
// prefix them with the rule's name.
func ParseConfigObject(data []byte, known ...string) (Value, error) {
	v, err := ParseConfig(data)
	if err != nil {
		return Value{}, errors.New("config: " + err.Error())
	}
	if v.Kind() != Object {
		return Value{}, errors.New("config must be an object")
	}
	return v, v.CheckKeys("", known...)
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

// Available reports whether the candidate can take a request now: its plugin is up and
// its circuit is not open.
func (c *Candidate) Available() bool { return c.Healthy && c.Circuit != "open" }

// AddNamed adds as targets, in refs order, the candidates each ref names (see Is) that
// are not targets yet; with onlyAvailable it skips candidates that are not Available.
// It returns how many it added.
func (d *Decision) AddNamed(cands []Candidate, onlyAvailable bool, refs ...string) int {
	n := 0
	for _, ref := range refs {
		for i := range cands {
			c := &cands[i]
			if !c.Is(ref) || onlyAvailable && !c.Available() || d.hasTarget(c) {
				continue
			}
			d.Add(c.Provider, c.Model)
			n++
		}
	}
	return n
}

func (d *Decision) hasTarget(c *Candidate) bool {
	for _, t := range d.Targets {
		if t.Provider == c.Provider && t.Model == c.Model {
			return true
		}
	}
	return false
}
