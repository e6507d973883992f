package main

import (
	"errors"
	"math"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// config is the rule's configuration; see README.md.
type config struct {
	UseP50            bool    // metric: p50 instead of p95
	LeastInflight     bool    // mode: fewest in-flight requests first
	ErrorPenaltyMS    float64 // added per unit of error_rate
	InflightPenaltyMS float64 // added per in-flight request
	MaxErrorRate      float64 // candidates above it are dropped
	UnmeasuredFirst   bool    // candidates without stats before measured ones
	AllowHalfOpen     bool
	MaxTargets        int
	tag               string
}

func defaultConfig() config {
	return config{ErrorPenaltyMS: 1000, MaxErrorRate: 1, AllowHalfOpen: true, MaxTargets: 64, tag: "latency:p95"}
}

var cfg = defaultConfig()

func parseConfig(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "metric", "mode", "error_penalty_ms", "inflight_penalty_ms", "max_error_rate",
		"unmeasured", "allow_half_open", "max_targets")
	if err != nil {
		return config{}, prefixed("latency: ", err)
	}
	c := defaultConfig()
	var s string
	if s, err = enumKey(v, "metric", "p95", "p95", "p50"); err != nil {
		return config{}, err
	}
	c.UseP50 = s == "p50"
	if s, err = enumKey(v, "mode", "latency", "latency", "least_inflight"); err != nil {
		return config{}, err
	}
	c.LeastInflight = s == "least_inflight"
	if s, err = enumKey(v, "unmeasured", "last", "last", "first"); err != nil {
		return config{}, err
	}
	c.UnmeasuredFirst = s == "first"
	if c.ErrorPenaltyMS, err = numKey(v, "error_penalty_ms", c.ErrorPenaltyMS, 0, 1e9); err != nil {
		return config{}, err
	}
	if c.InflightPenaltyMS, err = numKey(v, "inflight_penalty_ms", c.InflightPenaltyMS, 0, 1e9); err != nil {
		return config{}, err
	}
	if c.MaxErrorRate, err = numKey(v, "max_error_rate", c.MaxErrorRate, 0, 1); err != nil {
		return config{}, err
	}
	if x := v.Get("allow_half_open"); x.Kind() != rule.Missing {
		if x.Kind() != rule.Bool {
			return config{}, errors.New(`latency: "allow_half_open" must be true or false`)
		}
		c.AllowHalfOpen = x.Bool(true)
	}
	if x := v.Get("max_targets"); x.Kind() != rule.Missing {
		n := x.Int(0)
		if x.Kind() != rule.Number || float64(n) != x.Float(0) || n < 1 || n > 64 {
			return config{}, errors.New(`latency: "max_targets" must be an integer from 1 to 64`)
		}
		c.MaxTargets = int(n)
	}
	switch {
	case c.LeastInflight:
		c.tag = "latency:least_inflight"
	case c.UseP50:
		c.tag = "latency:p50"
	}
	return c, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

// entry is one usable candidate with its sort keys.
type entry struct {
	i        int
	halfOpen bool
	inflight int64
	measured bool
	score    float64 // latency plus penalties, in ms; 0 when unmeasured
}

// less orders half_open last; in least_inflight mode fewer in-flight
// requests first; then measured before unmeasured (or after, with
// unmeasured: first); then the lower score. Ties keep the input order
// (the sort is stable).
func less(a, b *entry) bool {
	if a.halfOpen != b.halfOpen {
		return b.halfOpen
	}
	if cfg.LeastInflight && a.inflight != b.inflight {
		return a.inflight < b.inflight
	}
	if a.measured != b.measured {
		return a.measured != cfg.UnmeasuredFirst
	}
	return a.score < b.score
}

var (
	entries   []entry // reused
	reasonBuf = make([]byte, 0, 128)
)

func route(in *rule.Input, d *rule.Decision) {
	cs := in.Candidates
	entries = entries[:0]
	measured := 0
	for i := range cs {
		c := &cs[i]
		switch {
		case !c.Healthy, c.Circuit == "open", c.Circuit == "half_open" && !cfg.AllowHalfOpen,
			c.ErrorRate > cfg.MaxErrorRate:
			continue
		}
		lat := c.P95MS
		if cfg.UseP50 {
			lat = c.P50MS
		}
		e := entry{i: i, halfOpen: c.Circuit == "half_open", inflight: c.Inflight}
		if lat > 0 && !math.IsNaN(lat) {
			e.measured = true
			e.score = lat + c.ErrorRate*cfg.ErrorPenaltyMS + float64(c.Inflight)*cfg.InflightPenaltyMS
			measured++
		}
		// Insertion sort as we go: stable, no allocation, few candidates.
		entries = append(entries, e)
		for j := len(entries) - 1; j > 0 && less(&entries[j], &entries[j-1]); j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
	if len(entries) == 0 {
		return // no opinion: the model's default route applies
	}
	for _, e := range entries[:min(len(entries), cfg.MaxTargets)] {
		d.Add(cs[e.i].Provider, cs[e.i].Model)
	}
	why := reasonBuf[:0]
	switch {
	case cfg.LeastInflight:
		why = append(why, "fewest in flight: "...)
		why = append(why, cs[entries[0].i].Model...)
		why = append(why, " with "...)
		why = strconv.AppendInt(why, entries[0].inflight, 10)
	case measured == 0:
		why = append(why, "no latency stats yet: input order"...)
	default:
		why = append(why, "fastest: "...)
		why = append(why, cs[entries[0].i].Model...)
		why = append(why, " scores "...)
		why = strconv.AppendFloat(why, entries[0].score, 'f', 0, 64)
		why = append(why, " ms"...)
	}
	why = append(why, " ("...)
	why = strconv.AppendInt(why, int64(len(entries)), 10)
	why = append(why, " of "...)
	why = strconv.AppendInt(why, int64(len(cs)), 10)
	why = append(why, " usable)"...)
	reasonBuf = why
	d.Reason = string(why)
	d.Tags = append(d.Tags, cfg.tag)
}

// enumKey reads an optional string that must be one of allowed.
func enumKey(v rule.Value, key, def string, allowed ...string) (string, error) {
	x := v.Get(key)
	if x.Kind() == rule.Missing {
		return def, nil
	}
	s := x.String("")
	for _, a := range allowed {
		if s == a && x.Kind() == rule.String {
			return s, nil
		}
	}
	msg := "latency: " + strconv.Quote(key) + " must be "
	for i, a := range allowed {
		if i > 0 {
			msg += " or "
		}
		msg += strconv.Quote(a)
	}
	return def, errors.New(msg)
}

// numKey reads an optional number in [lo, hi].
func numKey(v rule.Value, key string, def, lo, hi float64) (float64, error) {
	x := v.Get(key)
	if x.Kind() == rule.Missing {
		return def, nil
	}
	f := x.Float(math.NaN())
	if x.Kind() != rule.Number || !(f >= lo && f <= hi) {
		return def, errors.New("latency: " + strconv.Quote(key) + " must be a number from " +
			strconv.FormatFloat(lo, 'g', -1, 64) + " to " + strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return f, nil
}

// prefixed adds the rule's name to an error.
func prefixed(p string, err error) error {
	if err == nil {
		return nil
	}
	return errors.New(p + err.Error())
}
