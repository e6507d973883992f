package main

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// tier is one entry of the config's tiers.
type tier struct {
	name            string
	models          []string // "model" or "provider/model", in order
	maxTokens       int64    // 0: unchanged
	maxPromptTokens int64    // 0: no limit
	tag             string   // "tier:<name>"
	reasonFrom      string   // the tier came from the request
	reasonDefault   string   // the tier is default_tier
	overMessage     string   // prefix of the prompt-limit reject message
	noModelMessage  string
}

// source says where the tier name comes from.
type source uint8

const (
	fromMetadata source = iota
	fromHeader
	fromKey
)

// config is the rule's configuration; see README.md.
type config struct {
	tiers           []tier
	byName          map[string]int
	from            source
	fromName        string         // metadata member or lowercased header name
	keyTiers        map[string]int // key name -> tier index
	defaultTier     int            // -1: none
	rejectUnknown   bool
	promptStatus    int
	rejectNoModel   bool
	skipUnavailable bool
}

var cfg = config{defaultTier: -1}

func parseConfig(data []byte) (config, error) {
	c, err := parse(data)
	if err != nil {
		return config{}, errors.New("budget: " + err.Error())
	}
	return c, nil
}

func parse(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "tiers", "tier_from", "key_tiers", "default_tier", "reject_unknown",
		"max_prompt_tokens", "prompt_reject_status", "no_model", "skip_unavailable")
	if err != nil {
		return config{}, err
	}
	c := config{byName: map[string]int{}, defaultTier: -1, promptStatus: 400, rejectNoModel: true, skipUnavailable: true}

	ts := v.Get("tiers")
	if ts.Kind() != rule.Object || ts.Len() == 0 {
		return config{}, errors.New(`"tiers" must be a non-empty object of tier name to {"models": [...], "max_tokens": n}`)
	}
	for _, name := range ts.Keys() {
		if _, dup := c.byName[name]; dup || name == "" {
			return config{}, errors.New("tiers: " + strconv.Quote(name) + " is empty or listed twice")
		}
		t, err := parseTier(name, ts.Get(name))
		if err != nil {
			return config{}, err
		}
		c.byName[name] = len(c.tiers)
		c.tiers = append(c.tiers, t)
	}

	from := "metadata.tier"
	if x := v.Get("tier_from"); x.Kind() != rule.Missing {
		from = x.String("")
	}
	switch name, ok := strings.CutPrefix(from, "metadata."); {
	case from == "key":
		c.from = fromKey
	case ok && name != "":
		c.from, c.fromName = fromMetadata, name
	default:
		name, ok = strings.CutPrefix(from, "headers.")
		if !ok || name == "" {
			return config{}, errors.New(`"tier_from" must be "key", "metadata.<name>" or "headers.<name>"`)
		}
		c.from, c.fromName = fromHeader, strings.ToLower(name)
	}

	if x := v.Get("key_tiers"); x.Kind() != rule.Missing && x.Kind() != rule.Null {
		if c.from != fromKey {
			return config{}, errors.New(`"key_tiers" applies only with "tier_from": "key"`)
		}
		if x.Kind() != rule.Object {
			return config{}, errors.New(`"key_tiers" must be an object of key name to tier name`)
		}
		c.keyTiers = map[string]int{}
		keys := x.Keys()
		for j, k := range keys {
			if slices.Contains(keys[:j], k) {
				return config{}, errors.New("key_tiers: " + strconv.Quote(k) + " is listed twice")
			}
			i, ok := c.byName[x.Get(k).String("")]
			if !ok {
				return config{}, errors.New("key_tiers: " + strconv.Quote(k) + " names no tier in \"tiers\"")
			}
			c.keyTiers[k] = i
		}
	} else if c.from == fromKey {
		return config{}, errors.New(`"tier_from": "key" needs "key_tiers"`)
	}

	if x := v.Get("default_tier"); x.Kind() != rule.Missing && x.Kind() != rule.Null {
		i, ok := c.byName[x.String("")]
		if !ok {
			return config{}, errors.New(`"default_tier" names no tier in "tiers"`)
		}
		c.defaultTier = i
	}
	if c.rejectUnknown, err = v.BoolKey("reject_unknown", false); err != nil {
		return config{}, err
	}
	if c.skipUnavailable, err = v.BoolKey("skip_unavailable", true); err != nil {
		return config{}, err
	}

	if x := v.Get("max_prompt_tokens"); x.Kind() != rule.Missing {
		if x.Kind() != rule.Object {
			return config{}, errors.New(`"max_prompt_tokens" must be an object of tier name to token count`)
		}
		names := x.Keys()
		for j, name := range names {
			if slices.Contains(names[:j], name) {
				return config{}, errors.New("max_prompt_tokens: " + strconv.Quote(name) + " is listed twice")
			}
			i, ok := c.byName[name]
			if !ok {
				return config{}, errors.New("max_prompt_tokens: " + strconv.Quote(name) + " is not a tier in \"tiers\"")
			}
			n := x.Get(name)
			if c.tiers[i].maxPromptTokens = n.Int(0); n.Kind() != rule.Number || c.tiers[i].maxPromptTokens < 1 ||
				float64(c.tiers[i].maxPromptTokens) != n.Float(0) {
				return config{}, errors.New("max_prompt_tokens: " + strconv.Quote(name) + " must be a positive integer")
			}
		}
	}
	if x := v.Get("prompt_reject_status"); x.Kind() != rule.Missing {
		if c.promptStatus = int(x.Int(0)); x.Kind() != rule.Number || c.promptStatus != 400 && c.promptStatus != 429 ||
			float64(c.promptStatus) != x.Float(0) {
			return config{}, errors.New(`"prompt_reject_status" must be 400 or 429`)
		}
	}
	if x := v.Get("no_model"); x.Kind() != rule.Missing {
		switch x.String("") {
		case "reject":
		case "pass":
			c.rejectNoModel = false
		default:
			return config{}, errors.New(`"no_model" must be "reject" or "pass"`)
		}
	}
	return c, nil
}

func parseTier(name string, v rule.Value) (tier, error) {
	where := "tiers." + name
	if v.Kind() != rule.Object {
		return tier{}, errors.New(where + ": must be an object")
	}
	if err := v.CheckKeys(where+".", "models", "max_tokens"); err != nil {
		return tier{}, err
	}
	t := tier{name: name, tag: "tier:" + name}
	ms := v.Get("models")
	t.models = ms.Strings(nil)
	if ms.Kind() != rule.Array || len(t.models) == 0 || len(t.models) != ms.Len() {
		return tier{}, errors.New(where + `: "models" is required, a non-empty array of model names (or "provider/model")`)
	}
	for _, m := range t.models {
		if m == "" {
			return tier{}, errors.New(where + `: "models": empty model name`)
		}
	}
	t.reasonFrom = "tier " + name
	if x := v.Get("max_tokens"); x.Kind() != rule.Missing {
		t.maxTokens = x.Int(0)
		if x.Kind() != rule.Number || t.maxTokens < 1 || float64(t.maxTokens) != x.Float(0) {
			return tier{}, errors.New(where + `: "max_tokens" must be a positive integer`)
		}
		t.reasonFrom += ": max_tokens <= " + strconv.FormatInt(t.maxTokens, 10)
	}
	t.reasonDefault = t.reasonFrom + " (default tier)"
	t.overMessage = "the " + name + " tier allows prompts of at most "
	t.noModelMessage = "no model of the " + name + " tier is available"
	return t, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

func route(in *rule.Input, d *rule.Decision) {
	r := &in.Request
	var name string
	var present bool
	ti := -1
	switch cfg.from {
	case fromKey:
		name, present = r.Key, r.Key != ""
		if i, ok := cfg.keyTiers[name]; ok {
			ti = i
		}
	case fromMetadata:
		name, present = r.Metadata[cfg.fromName]
	case fromHeader:
		name, present = r.Headers[cfg.fromName]
	}
	if present && ti < 0 && cfg.from != fromKey {
		if i, ok := cfg.byName[name]; ok {
			ti = i
		}
	}
	byDefault := false
	if ti < 0 {
		if present && cfg.rejectUnknown {
			d.RejectWith(403, unknownMessage(name))
			d.Tags = append(d.Tags, "tier:unknown")
			return
		}
		if ti, byDefault = cfg.defaultTier, true; ti < 0 {
			return // no tier: no opinion
		}
	}
	t := &cfg.tiers[ti]
	d.Tags = append(d.Tags, t.tag)
	if t.maxPromptTokens > 0 && r.PromptTokensEstimate > t.maxPromptTokens {
		msg := append(msgBuf[:0], t.overMessage...)
		msg = strconv.AppendInt(msg, t.maxPromptTokens, 10)
		msg = append(msg, " tokens; this one has about "...)
		msg = strconv.AppendInt(msg, r.PromptTokensEstimate, 10)
		msgBuf = msg
		d.RejectWith(cfg.promptStatus, string(msg))
		return
	}

	d.AddNamed(in.Candidates, cfg.skipUnavailable, t.models...)
	if len(d.Targets) == 0 {
		if cfg.rejectNoModel {
			d.RejectWith(503, t.noModelMessage)
		} else {
			d.Tags = d.Tags[:0] // no opinion
		}
		return
	}
	if t.maxTokens > 0 && (r.MaxTokens == 0 || r.MaxTokens > t.maxTokens) {
		d.Params.MaxTokens = t.maxTokens // lowered, never raised
	}
	if byDefault {
		d.Reason = t.reasonDefault
	} else {
		d.Reason = t.reasonFrom
	}
}

var msgBuf = make([]byte, 0, 128)

// unknownMessage names the unknown tier (or key), cut to a sane length.
func unknownMessage(name string) string {
	if len(name) > 64 {
		name = name[:64]
	}
	if cfg.from == fromKey {
		return "key " + strconv.Quote(name) + " has no tier"
	}
	return "unknown tier " + strconv.Quote(name)
}
