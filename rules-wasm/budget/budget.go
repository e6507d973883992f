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

// Downgrade triggers, in the order they are checked: the first below its fraction decides.
const (
	byBudget = iota // request.budget: remaining_usd / usd
	byRPM           // request.limits: rpm_remaining / rpm
	byTPM           // request.limits: tpm_remaining / tpm
	nTriggers
)

var triggerNames = [nTriggers]string{"budget", "rpm", "tpm"}

// downgrade is the config's downgrade: the tier a request moves to while the calling key
// has little left of its budget or of its rate limits, before the router's hard stop.
type downgrade struct {
	to    int                // tier index
	below [nTriggers]float64 // 0: the trigger is off
	from  []bool             // by tier index: the tiers downgraded; nil: every tier and no tier
	tags  [nTriggers]string  // "downgrade:budget", ...
	// reasons caches "budget 15% left: downgraded to cheap" by trigger and percent,
	// so a downgrade allocates only the first time a reason is needed.
	reasons [nTriggers][101]string
}

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
	down            *downgrade // nil: no downgrade
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
		"max_prompt_tokens", "prompt_reject_status", "no_model", "skip_unavailable", "downgrade")
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
	if x := v.Get("downgrade"); x.Kind() != rule.Missing && x.Kind() != rule.Null {
		if c.down, err = parseDowngrade(x, &c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// belowKeys are the config keys of the downgrade triggers, by trigger.
var belowKeys = [nTriggers]string{"below_remaining_fraction", "below_rpm_fraction", "below_tpm_fraction"}

func parseDowngrade(v rule.Value, c *config) (*downgrade, error) {
	if v.Kind() != rule.Object {
		return nil, errors.New(`"downgrade" must be an object: {"to_tier": name, "below_remaining_fraction": 0.2, ...}`)
	}
	if err := v.CheckKeys("downgrade.", "to_tier", belowKeys[byBudget], belowKeys[byRPM], belowKeys[byTPM], "from_tiers"); err != nil {
		return nil, err
	}
	d := &downgrade{}
	to, ok := c.byName[v.Get("to_tier").String("")]
	if !ok {
		return nil, errors.New(`downgrade: "to_tier" is required and must name a tier in "tiers"`)
	}
	d.to = to
	set := false
	for k, key := range belowKeys {
		x := v.Get(key)
		if x.Kind() == rule.Missing || x.Kind() == rule.Null {
			continue
		}
		f := x.Float(0)
		if x.Kind() != rule.Number || !(f > 0 && f <= 1) {
			return nil, errors.New("downgrade: " + strconv.Quote(key) + " must be a number above 0 and at most 1 (0.2: below 20% left)")
		}
		d.below[k], d.tags[k], set = f, "downgrade:"+triggerNames[k], true
	}
	if !set {
		return nil, errors.New(`downgrade: set at least one of "below_remaining_fraction", "below_rpm_fraction" and "below_tpm_fraction"`)
	}
	if x := v.Get("from_tiers"); x.Kind() != rule.Missing && x.Kind() != rule.Null {
		names := x.Strings(nil)
		if x.Kind() != rule.Array || len(names) == 0 || len(names) != x.Len() {
			return nil, errors.New(`downgrade: "from_tiers" must be a non-empty array of tier names`)
		}
		d.from = make([]bool, len(c.tiers))
		for _, name := range names {
			i, ok := c.byName[name]
			if !ok {
				return nil, errors.New("downgrade: from_tiers: " + strconv.Quote(name) + " is not a tier in \"tiers\"")
			}
			d.from[i] = true
		}
	}
	return d, nil
}

// check returns the first trigger whose share left is below its fraction, and that
// share; -1 when none is (or the key has neither a budget nor limits).
func (d *downgrade) check(r *rule.Request) (int, float64) {
	if b := r.Budget; b != nil && d.below[byBudget] > 0 {
		if f := b.RemainingFraction(); f < d.below[byBudget] {
			return byBudget, f
		}
	}
	if l := r.Limits; l != nil {
		if f := l.RPMFraction(); d.below[byRPM] > 0 && l.RPM > 0 && f < d.below[byRPM] {
			return byRPM, f
		}
		if f := l.TPMFraction(); d.below[byTPM] > 0 && l.TPM > 0 && f < d.below[byTPM] {
			return byTPM, f
		}
	}
	return -1, 0
}

// reason returns "budget 15% left: downgraded to cheap" (plus the tier's max_tokens), the
// percent rounded down (past float noise: 1.4 of 10 is 14%), built once per trigger and percent.
func (d *downgrade) reason(k int, share float64, t *tier) string {
	pct := min(max(int(share*100+1e-9), 0), 100)
	if s := d.reasons[k][pct]; s != "" {
		return s
	}
	s := triggerNames[k] + " " + strconv.Itoa(pct) + "% left: downgraded to " + t.name
	if t.maxTokens > 0 {
		s += ", max_tokens <= " + strconv.FormatInt(t.maxTokens, 10)
	}
	d.reasons[k][pct] = s
	return s
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
		ti, byDefault = cfg.defaultTier, true
	}
	// Little left of the key's budget or rate limits: the cheaper tier, before the
	// router's hard stop. Without request.budget and request.limits nothing changes.
	trigger, share := -1, 0.0
	if dg := cfg.down; dg != nil && ti != dg.to && (dg.from == nil || ti >= 0 && dg.from[ti]) {
		if trigger, share = dg.check(r); trigger >= 0 {
			ti = dg.to
		}
	}
	if ti < 0 {
		return // no tier: no opinion
	}
	t := &cfg.tiers[ti]
	d.Tags = append(d.Tags, t.tag)
	if trigger >= 0 {
		d.Tags = append(d.Tags, cfg.down.tags[trigger])
	}
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
	switch {
	case trigger >= 0:
		d.Reason = cfg.down.reason(trigger, share, t)
	case byDefault:
		d.Reason = t.reasonDefault
	default:
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
