package main

import (
	"errors"
	"math"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// arm is one weighted entry of the config.
type arm struct {
	ref    string  // "model" or "provider/model"
	weight float64 // > 0
	hash   uint64  // of ref, mixed into the request's hash
	tag    string  // "arm:<ref>"
}

// config is the rule's configuration; see README.md.
type config struct {
	arms            []arm // config order
	order           []int // arm indexes by weight, heaviest first (ties: config order)
	sticky          string
	salt            uint64 // hash of the salt, prefix of every sticky hash
	fallback        bool
	skipUnavailable bool
}

var cfg config

func parseConfig(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "weights", "sticky", "salt", "fallback", "skip_unavailable")
	if err != nil {
		return config{}, errors.New("weighted: " + err.Error())
	}
	c := config{sticky: "none", fallback: true, skipUnavailable: true}

	w := v.Get("weights")
	if w.Kind() != rule.Object || w.Len() == 0 {
		return config{}, errors.New(`weighted: "weights" must be a non-empty object of model (or "provider/model") to weight`)
	}
	seen := map[string]bool{}
	for _, ref := range w.Keys() {
		if ref == "" {
			return config{}, errors.New("weighted: weights: empty model name")
		}
		if seen[ref] {
			return config{}, errors.New("weighted: weights: " + strconv.Quote(ref) + " is listed twice")
		}
		seen[ref] = true
		x := w.Get(ref)
		f := x.Float(-1)
		if x.Kind() != rule.Number || f < 0 || math.IsInf(f, 0) {
			return config{}, errors.New("weighted: weights: " + strconv.Quote(ref) + " must be a number >= 0")
		}
		if f == 0 {
			continue // switched off
		}
		c.arms = append(c.arms, arm{ref: ref, weight: f, hash: mix(hashString(fnvOffset, ref)), tag: "arm:" + ref})
	}
	if len(c.arms) == 0 {
		return config{}, errors.New("weighted: weights: at least one weight must be above 0")
	}
	if len(c.arms) > 64 {
		return config{}, errors.New("weighted: weights: at most 64 entries")
	}
	c.order = make([]int, len(c.arms))
	for i := range c.order {
		c.order[i] = i
	}
	// Insertion sort: stable, and the list is short.
	for i := 1; i < len(c.order); i++ {
		for j := i; j > 0 && c.arms[c.order[j]].weight > c.arms[c.order[j-1]].weight; j-- {
			c.order[j], c.order[j-1] = c.order[j-1], c.order[j]
		}
	}

	if x := v.Get("sticky"); x.Kind() != rule.Missing {
		switch s := x.String(""); s {
		case "user", "key", "none":
			c.sticky = s
		default:
			return config{}, errors.New(`weighted: "sticky" must be "user", "key" or "none"`)
		}
	}
	salt := ""
	if x := v.Get("salt"); x.Kind() != rule.Missing {
		if x.Kind() != rule.String {
			return config{}, errors.New(`weighted: "salt" must be a string`)
		}
		salt = x.String("")
	}
	c.salt = hashString(fnvOffset, salt)
	c.salt = (c.salt ^ 0xff) * fnvPrime // separator: salt "a"+user "b" differs from salt "ab"+user ""
	if c.fallback, err = v.BoolKey("fallback", c.fallback); err != nil {
		return config{}, err
	}
	if c.skipUnavailable, err = v.BoolKey("skip_unavailable", c.skipUnavailable); err != nil {
		return config{}, err
	}
	return c, nil
}

func initRule(data []byte) error {
	c, err := parseConfig(data)
	if err != nil {
		return err
	}
	cfg = c
	present = make([]bool, len(c.arms))
	return nil
}

var (
	present   []bool // per arm: some candidate can serve it; reused
	reasonBuf = make([]byte, 0, 128)
)

func route(in *rule.Input, d *rule.Decision) {
	cs := in.Candidates
	if len(present) < len(cfg.arms) {
		present = make([]bool, len(cfg.arms))
	}
	var id, by string
	switch cfg.sticky {
	case "user":
		id, by = in.Request.User, "user"
	case "key":
		id, by = in.Request.Key, "key"
	}
	var h uint64
	if id != "" {
		h = mix(hashString(cfg.salt, id))
	} else {
		h = mix(in.RandomSeed + cfg.salt)
		switch by {
		case "user":
			by = "random_seed (no user)"
		case "key":
			by = "random_seed (no key)"
		default:
			by = "random_seed"
		}
	}

	// Weighted rendezvous hashing: every available arm draws u in (0,1)
	// from the request's hash and its own name; the smallest -ln(u)/weight
	// wins. An arm wins with probability weight/(sum of the available
	// weights), and removing an arm moves only its own share.
	best, bestScore, total := -1, math.Inf(1), 0.0
	for i := range cfg.arms {
		a := &cfg.arms[i]
		present[i] = false
		for j := range cs {
			if cs[j].Is(a.ref) && (!cfg.skipUnavailable || cs[j].Available()) {
				present[i] = true
				break
			}
		}
		if !present[i] {
			continue
		}
		total += a.weight
		if s := -math.Log(unit(mix(h^a.hash))) / a.weight; s < bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return // no weighted model among the candidates: no opinion
	}

	addArm(d, cs, best)
	if cfg.fallback {
		for _, i := range cfg.order {
			if i != best && present[i] {
				addArm(d, cs, i)
			}
		}
	}

	a := &cfg.arms[best]
	why := append(reasonBuf[:0], "arm "...)
	why = append(why, a.ref...)
	why = append(why, " (weight "...)
	why = strconv.AppendFloat(why, a.weight, 'g', -1, 64)
	why = append(why, " of "...)
	why = strconv.AppendFloat(why, total, 'g', -1, 64)
	why = append(why, ") by "...)
	why = append(why, by...)
	reasonBuf = why
	d.Reason = string(why)
	d.Tags = append(d.Tags, a.tag)
}

// addArm adds the candidates that serve arm i, in input order, once each.
func addArm(d *rule.Decision, cs []rule.Candidate, i int) {
	d.AddNamed(cs, cfg.skipUnavailable, cfg.arms[i].ref)
}

const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

// hashString continues an FNV-1a hash with s.
func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is the splitmix64 finaliser: it spreads every input bit over the output.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unit maps a hash to (0, 1), both ends excluded.
func unit(x uint64) float64 { return (float64(x>>11) + 0.5) / (1 << 53) }
