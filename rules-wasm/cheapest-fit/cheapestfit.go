package main

import (
	"errors"
	"math"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// config is the rule's configuration; see README.md.
type config struct {
	MaxTargets          int
	DefaultOutputTokens int64
	MaxPriority         int64
	MaxCostUSD          float64 // 0: no cap
	RequiredCaps        []string
	AllowHalfOpen       bool
}

func defaultConfig() config {
	return config{MaxTargets: 3, DefaultOutputTokens: 1024, MaxPriority: 10, AllowHalfOpen: true}
}

var cfg = defaultConfig()

func parseConfig(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "max_targets", "default_output_tokens", "max_priority", "max_cost_usd",
		"required_capabilities", "allow_half_open")
	if err != nil {
		return config{}, prefixed("cheapest-fit: ", err)
	}
	c := defaultConfig()
	var n int64
	if n, err = intKey(v, "max_targets", int64(c.MaxTargets), 1, 64); err != nil {
		return config{}, err
	}
	c.MaxTargets = int(n)
	if c.DefaultOutputTokens, err = intKey(v, "default_output_tokens", c.DefaultOutputTokens, 1, 1<<30); err != nil {
		return config{}, err
	}
	if c.MaxPriority, err = intKey(v, "max_priority", c.MaxPriority, 1, 10); err != nil {
		return config{}, err
	}
	if x := v.Get("max_cost_usd"); x.Kind() != rule.Missing {
		f := x.Float(-1)
		if x.Kind() != rule.Number || f < 0 || math.IsInf(f, 0) {
			return config{}, errors.New(`cheapest-fit: "max_cost_usd" must be a number >= 0 (0: no cap)`)
		}
		c.MaxCostUSD = f
	}
	if x := v.Get("required_capabilities"); x.Kind() != rule.Missing {
		if x.Kind() != rule.Array || len(x.Strings(nil)) != x.Len() {
			return config{}, errors.New(`cheapest-fit: "required_capabilities" must be an array of strings`)
		}
		c.RequiredCaps = x.Strings(nil)
	}
	if x := v.Get("allow_half_open"); x.Kind() != rule.Missing {
		if x.Kind() != rule.Bool {
			return config{}, errors.New(`cheapest-fit: "allow_half_open" must be true or false`)
		}
		c.AllowHalfOpen = x.Bool(true)
	}
	return c, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

var (
	fits      []int     // indexes of the candidates that fit, reused
	costs     []float64 // estimated cost per candidate index, reused
	reasonBuf = make([]byte, 0, 128)
)

func route(in *rule.Input, d *rule.Decision) {
	r := &in.Request
	if r.Priority > cfg.MaxPriority {
		return
	}
	out := r.MaxTokens
	if out <= 0 {
		out = cfg.DefaultOutputTokens
	}
	need := r.PromptTokensEstimate + out
	cs := in.Candidates
	if cap(costs) < len(cs) {
		costs = make([]float64, len(cs))
	}
	costs = costs[:len(cs)]
	fits = fits[:0]
	for i := range cs {
		c := &cs[i]
		if !fit(r, c, need) {
			continue
		}
		cost := (float64(r.PromptTokensEstimate)*c.USDPerMTokIn + float64(out)*c.USDPerMTokOut) / 1e6
		if cfg.MaxCostUSD > 0 && cost > cfg.MaxCostUSD {
			continue
		}
		costs[i] = cost
		// Insertion sort as we go: stable (ties keep input order), no allocation.
		fits = append(fits, i)
		for j := len(fits) - 1; j > 0 && costs[fits[j]] < costs[fits[j-1]]; j-- {
			fits[j], fits[j-1] = fits[j-1], fits[j]
		}
	}
	if len(fits) == 0 {
		return // no opinion: the model's default route applies
	}
	for _, i := range fits[:min(len(fits), cfg.MaxTargets)] {
		d.Add(cs[i].Provider, cs[i].Model)
	}
	why := append(reasonBuf[:0], "cheapest of "...)
	why = strconv.AppendInt(why, int64(len(fits)), 10)
	why = append(why, " fitting "...)
	why = strconv.AppendInt(why, need, 10)
	why = append(why, " tokens: ~$"...)
	why = strconv.AppendFloat(why, costs[fits[0]], 'g', 3, 64)
	reasonBuf = why
	d.Reason = string(why)
	d.Tags = append(d.Tags, "cheapest-fit")
}

// fit reports whether c can serve the request: available, a context window
// of at least need tokens (0 means unknown and fits) and every capability
// the request needs.
func fit(r *rule.Request, c *rule.Candidate, need int64) bool {
	switch {
	case !c.Healthy, c.Circuit == "open", c.Circuit == "half_open" && !cfg.AllowHalfOpen:
		return false
	case c.ContextWindow > 0 && c.ContextWindow < need:
		return false
	case r.HasTools && !c.Has("tools"), r.HasImages && !c.Has("vision"), r.JSONMode && !c.Has("json"):
		return false
	}
	for _, capability := range cfg.RequiredCaps {
		if !c.Has(capability) {
			return false
		}
	}
	return true
}

// intKey reads an optional integer in [lo, hi].
func intKey(v rule.Value, key string, def, lo, hi int64) (int64, error) {
	x := v.Get(key)
	if x.Kind() == rule.Missing {
		return def, nil
	}
	n := x.Int(lo - 1)
	if x.Kind() != rule.Number || float64(n) != x.Float(0) || n < lo || n > hi {
		return def, errors.New("cheapest-fit: " + strconv.Quote(key) + " must be an integer from " +
			strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10))
	}
	return n, nil
}

// prefixed adds the rule's name to an error.
func prefixed(p string, err error) error {
	if err == nil {
		return nil
	}
	return errors.New(p + err.Error())
}
