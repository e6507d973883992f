package main

import (
	"errors"
	"math"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// tier is one entry of the config's tiers.
type tier struct {
	minPriority     int64
	models          []string // "model" or "provider/model", in order
	maxTokens       int64    // 0: unchanged
	temperature     *float64
	topP            *float64
	reasoningEffort string
	tag             string // "tier:<name>"
	reason          string
}

// config is the rule's configuration; see README.md.
type config struct {
	tiers           []tier // min_priority strictly decreasing
	skipUnavailable bool
	rejectBelow     bool
	belowMessage    string
}

var cfg config

func parseConfig(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "tiers", "skip_unavailable", "reject_below")
	if err != nil {
		return config{}, errors.New("priority-tiers: " + err.Error())
	}
	c := config{skipUnavailable: true}
	ts := v.Get("tiers")
	if ts.Kind() != rule.Array || ts.Len() == 0 || ts.Len() > 10 {
		return config{}, errors.New(`priority-tiers: "tiers" must be an array of 1 to 10 tiers`)
	}
	for i := range ts.Len() {
		t, err := parseTier(ts.Index(i), i)
		if err != nil {
			return config{}, err
		}
		if i > 0 && t.minPriority >= c.tiers[i-1].minPriority {
			return config{}, errors.New("priority-tiers: tiers[" + strconv.Itoa(i) + "]: min_priority " +
				strconv.FormatInt(t.minPriority, 10) + " is not below the previous tier's " +
				strconv.FormatInt(c.tiers[i-1].minPriority, 10) + ", so it would never apply (list tiers from the highest min_priority down)")
		}
		c.tiers = append(c.tiers, t)
	}
	if c.skipUnavailable, err = v.BoolKey("skip_unavailable", true); err != nil {
		return config{}, err
	}
	if c.rejectBelow, err = v.BoolKey("reject_below", false); err != nil {
		return config{}, err
	}
	lowest := c.tiers[len(c.tiers)-1].minPriority
	c.belowMessage = "requests below priority " + strconv.FormatInt(lowest, 10) + " are not served"
	return c, nil
}

func parseTier(v rule.Value, i int) (tier, error) {
	where := "tiers[" + strconv.Itoa(i) + "]"
	fail := func(msg string) (tier, error) { return tier{}, errors.New("priority-tiers: " + where + ": " + msg) }
	if v.Kind() != rule.Object {
		return fail("must be an object")
	}
	if err := v.CheckKeys(where+".", "name", "min_priority", "models", "max_tokens", "temperature", "top_p", "reasoning_effort"); err != nil {
		return tier{}, err
	}
	var t tier
	mp := v.Get("min_priority")
	t.minPriority = mp.Int(0)
	if mp.Kind() != rule.Number || float64(t.minPriority) != mp.Float(0) || t.minPriority < 1 || t.minPriority > 10 {
		return fail(`"min_priority" is required, an integer from 1 to 10`)
	}
	ms := v.Get("models")
	t.models = ms.Strings(nil)
	if ms.Kind() != rule.Array || len(t.models) == 0 || len(t.models) != ms.Len() {
		return fail(`"models" is required, a non-empty array of model names (or "provider/model")`)
	}
	for _, m := range t.models {
		if m == "" {
			return fail(`"models": empty model name`)
		}
	}
	name := "p" + strconv.FormatInt(t.minPriority, 10) + "+"
	if x := v.Get("name"); x.Kind() != rule.Missing {
		if name = x.String(""); name == "" {
			return fail(`"name" must be a non-empty string`)
		}
	}
	t.tag = "tier:" + name
	t.reason = "tier " + name + ": priority >= " + strconv.FormatInt(t.minPriority, 10)
	if x := v.Get("max_tokens"); x.Kind() != rule.Missing {
		t.maxTokens = x.Int(0)
		if x.Kind() != rule.Number || float64(t.maxTokens) != x.Float(0) || t.maxTokens < 1 {
			return fail(`"max_tokens" must be a positive integer`)
		}
		t.reason += ", max_tokens <= " + strconv.FormatInt(t.maxTokens, 10)
	}
	var err error
	if t.temperature, err = floatKey(v, "temperature", 0, 2); err != nil {
		return fail(err.Error())
	}
	if t.topP, err = floatKey(v, "top_p", 0, 1); err != nil {
		return fail(err.Error())
	}
	if x := v.Get("reasoning_effort"); x.Kind() != rule.Missing {
		switch t.reasoningEffort = x.String(""); t.reasoningEffort {
		case "minimal", "low", "medium", "high":
		default:
			return fail(`"reasoning_effort" must be "minimal", "low", "medium" or "high"`)
		}
	}
	return t, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

func route(in *rule.Input, d *rule.Decision) {
	r := &in.Request
	var t *tier
	for i := range cfg.tiers {
		if cfg.tiers[i].minPriority <= r.Priority {
			t = &cfg.tiers[i]
			break
		}
	}
	if t == nil {
		if cfg.rejectBelow {
			d.RejectWith(429, cfg.belowMessage)
		}
		return
	}
	d.AddNamed(in.Candidates, cfg.skipUnavailable, t.models...)
	if len(d.Targets) == 0 {
		return // none of the tier's models can serve: no opinion
	}
	if t.maxTokens > 0 && (r.MaxTokens == 0 || r.MaxTokens > t.maxTokens) {
		d.Params.MaxTokens = t.maxTokens // lowered, never raised
	}
	d.Params.Temperature = t.temperature
	d.Params.TopP = t.topP
	d.Params.ReasoningEffort = t.reasoningEffort
	d.Reason = t.reason
	d.Tags = append(d.Tags, t.tag)
}

// floatKey reads an optional number in [lo, hi]; nil when absent.
func floatKey(v rule.Value, key string, lo, hi float64) (*float64, error) {
	x := v.Get(key)
	if x.Kind() == rule.Missing {
		return nil, nil
	}
	f := x.Float(math.NaN())
	if x.Kind() != rule.Number || !(f >= lo && f <= hi) {
		return nil, errors.New(strconv.Quote(key) + " must be a number from " +
			strconv.FormatFloat(lo, 'g', -1, 64) + " to " + strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return &f, nil
}
