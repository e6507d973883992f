package main

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// builtins are the built-in detectors and what their reject message says was found.
var builtins = map[string]struct {
	find func(string) bool
	what string
}{
	"card_number": {hasCardNumber, "a payment card number"},
	"api_key":     {hasAPIKey, "an API key"},
	"email":       {hasEmail, "an e-mail address"},
}

// detector is one entry of the config's detectors.
type detector struct {
	name  string
	find  func(string) bool // a built-in; or
	words []string          // lowercased; any one, as a substring of the lowercased text; or
	regex *regexp.Regexp

	route      bool // the action: route to models allowed to see it; reject otherwise
	status     int
	message    string
	models     []string // route: "model" or "provider/model"; or
	capability string   // route: every candidate that lists it
}

// config is the rule's configuration; see README.md.
type config struct {
	detectors       []detector
	lastUser        bool // scan last_user
	system          bool // scan system
	words           bool // some detector has words: lowercase the texts once per call
	skipUnavailable bool
}

var cfg config

var initRule = rule.ConfigInit(&cfg, parseConfig)

func parseConfig(data []byte) (config, error) {
	c, err := parse(data)
	if err != nil {
		return config{}, errors.New("guard: " + err.Error())
	}
	return c, nil
}

func parse(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "detectors", "scan", "skip_unavailable")
	if err != nil {
		return config{}, err
	}
	c := config{lastUser: true, system: true}
	ds := v.Get("detectors")
	if ds.Kind() != rule.Array || ds.Len() == 0 {
		return config{}, errors.New(`"detectors" must be a non-empty array`)
	}
	seen := map[string]bool{}
	for i := range ds.Len() {
		d, err := parseDetector(ds.Index(i), i)
		if err != nil {
			return config{}, err
		}
		if seen[d.name] {
			return config{}, errors.New("detectors[" + strconv.Itoa(i) + "]: the name " + strconv.Quote(d.name) + " is used twice")
		}
		seen[d.name] = true
		c.words = c.words || len(d.words) > 0
		c.detectors = append(c.detectors, d)
	}
	if x := v.Get("scan"); x.Kind() != rule.Missing {
		scan := x.Strings(nil)
		c.lastUser, c.system = slices.Contains(scan, "last_user"), slices.Contains(scan, "system")
		bad := slices.ContainsFunc(scan, func(s string) bool { return s != "last_user" && s != "system" })
		if x.Kind() != rule.Array || len(scan) == 0 || len(scan) != x.Len() || bad {
			return config{}, errors.New(`"scan" must be a non-empty array of "last_user" and "system"`)
		}
	}
	if c.skipUnavailable, err = v.BoolKey("skip_unavailable", true); err != nil {
		return config{}, err
	}
	return c, nil
}

func parseDetector(v rule.Value, i int) (detector, error) {
	where := "detectors[" + strconv.Itoa(i) + "]"
	fail := func(msg string) (detector, error) { return detector{}, errors.New(where + ": " + msg) }
	if v.Kind() != rule.Object {
		return fail("must be an object")
	}
	if err := v.CheckKeys(where+".", "detector", "words", "regex", "name", "action", "status", "message",
		"models", "capability"); err != nil {
		return detector{}, err
	}
	var d detector
	kinds := 0
	for _, k := range []string{"detector", "words", "regex"} {
		if v.Has(k) {
			kinds++
		}
	}
	if kinds != 1 {
		return fail(`needs exactly one of "detector" (card_number, api_key, email), "words" or "regex"`)
	}
	d.name = v.Get("name").String("")
	if n := v.Get("name"); n.Kind() != rule.Missing && (n.Kind() != rule.String || d.name == "") {
		return fail(`"name" must be a non-empty string`)
	}
	switch {
	case v.Has("detector"):
		b := v.Get("detector").String("")
		bi, ok := builtins[b]
		if !ok {
			return fail(`"detector" must be card_number, api_key or email`)
		}
		d.find = bi.find
		if d.name == "" {
			d.name = b
		}
		d.message = "the prompt contains " + bi.what + " (guard detector " + d.name + ")"
	case v.Has("words"):
		x := v.Get("words")
		words := x.Strings(nil)
		if x.Kind() != rule.Array || len(words) == 0 || len(words) != x.Len() || slices.Contains(words, "") {
			return fail(`"words" must be a non-empty array of non-empty strings`)
		}
		for _, w := range words {
			d.words = append(d.words, strings.ToLower(w))
		}
	default:
		src := v.Get("regex").String("")
		if v.Get("regex").Kind() != rule.String || src == "" {
			return fail(`"regex" must be a non-empty string (Go RE2 syntax)`)
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return fail(`"regex": ` + err.Error())
		}
		d.regex = re
	}
	if d.name == "" {
		return fail(`"name" is required for "words" and "regex": the reject message and the tag name it`)
	}
	if d.message == "" {
		d.message = "the prompt contains text the guard's " + d.name + " detector refuses"
	}
	switch a := v.Get("action"); a.String("") {
	case "reject":
	case "route":
		d.route = true
	default:
		if a.Kind() != rule.Missing {
			return fail(`"action" must be "reject" or "route"`)
		}
	}
	models, capability := v.Get("models"), v.Get("capability")
	if !d.route {
		if models.Kind() != rule.Missing || capability.Kind() != rule.Missing {
			return fail(`"models" and "capability" are for "action": "route"`)
		}
		d.status = 400
		if st := v.Get("status"); st.Kind() != rule.Missing {
			if d.status = int(st.Int(0)); st.Kind() != rule.Number || d.status != 400 && d.status != 403 || float64(d.status) != st.Float(0) {
				return fail(`"status" must be 400 or 403`)
			}
		}
		if m := v.Get("message"); m.Kind() != rule.Missing {
			if d.message = m.String(""); m.Kind() != rule.String || d.message == "" {
				return fail(`"message" must be a non-empty string`)
			}
		}
		return d, nil
	}
	if v.Has("status") || v.Has("message") {
		return fail(`"status" and "message" are for "action": "reject"`)
	}
	switch {
	case models.Kind() != rule.Missing && capability.Kind() != rule.Missing:
		return fail(`has both "models" and "capability"`)
	case models.Kind() != rule.Missing:
		d.models = models.Strings(nil)
		if models.Kind() != rule.Array || len(d.models) == 0 || len(d.models) != models.Len() || slices.Contains(d.models, "") {
			return fail(`"models" must be a non-empty array of model names (or "provider/model")`)
		}
	case capability.Kind() != rule.Missing:
		if d.capability = capability.String(""); d.capability == "" {
			return fail(`"capability" must be a non-empty string`)
		}
	default:
		return fail(`"action": "route" needs "models" or "capability": the models allowed to see it`)
	}
	return d, nil
}

// noContent is the failure of a rule whose entry did not opt in to request.content.
const noContent = "guard: the input has no request.content, so nothing can be checked; give this " +
	"rule's entry content: {max_bytes: N} in the router config"

// text is one text the guard scans, lowercased only when a detector has words.
type text struct {
	s, lower string
}

func (d *detector) matches(ts []text) bool {
	for i := range ts {
		t := &ts[i]
		switch {
		case d.find != nil && d.find(t.s),
			d.regex != nil && d.regex.MatchString(t.s),
			d.words != nil && slices.ContainsFunc(d.words, func(w string) bool { return strings.Contains(t.lower, w) }):
			return true
		}
	}
	return false
}

func (d *detector) allows(c *rule.Candidate) bool {
	if d.capability != "" {
		return c.Has(d.capability)
	}
	return slices.ContainsFunc(d.models, c.Is)
}

func decide(in *rule.Input, d *rule.Decision) {
	c := in.Request.Content
	if c == nil {
		d.Fail(noContent)
		return
	}
	var buf [2]text
	ts := buf[:0]
	if cfg.lastUser {
		ts = append(ts, text{s: c.LastUser})
	}
	if cfg.system {
		ts = append(ts, text{s: c.System})
	}
	if cfg.words {
		for i := range ts {
			ts[i].lower = strings.ToLower(ts[i].s)
		}
	}
	// Every detector runs: a reject wins over any route, whatever the order, so a
	// secret is never routed just because a detector listed earlier allows a model.
	var routed []*detector
	for i := range cfg.detectors {
		g := &cfg.detectors[i]
		if !g.matches(ts) {
			continue
		}
		if !g.route {
			d.RejectWith(g.status, g.message)
			d.Tags = append(d.Tags, "guard:"+g.name)
			return
		}
		routed = append(routed, g)
	}
	if len(routed) == 0 {
		return // nothing found: no opinion
	}
	// The targets are the models every matching detector allows, in the order the first
	// one lists them (its models, or the candidates for a capability).
	first := routed[0]
	add := func(x *rule.Candidate) {
		if cfg.skipUnavailable && !x.Available() {
			return
		}
		for _, g := range routed[1:] {
			if !g.allows(x) {
				return
			}
		}
		for _, t := range d.Targets {
			if t.Provider == x.Provider && t.Model == x.Model {
				return
			}
		}
		d.Add(x.Provider, x.Model)
	}
	if first.capability != "" {
		for i := range in.Candidates {
			if x := &in.Candidates[i]; x.Has(first.capability) {
				add(x)
			}
		}
	} else {
		for _, ref := range first.models {
			for i := range in.Candidates {
				if x := &in.Candidates[i]; x.Is(ref) {
					add(x)
				}
			}
		}
	}
	names := make([]string, len(routed))
	for i, g := range routed {
		names[i] = g.name
		d.Tags = append(d.Tags, "guard:"+g.name)
	}
	if len(d.Targets) == 0 {
		// Never leave it to the default route, which could send the text anywhere.
		d.RejectWith(503, "no model allowed to see what the prompt contains is available (guard "+strings.Join(names, ", ")+")")
		return
	}
	d.Reason = "guard: " + strings.Join(names, ", ") + " found; only models allowed to see it"
}
