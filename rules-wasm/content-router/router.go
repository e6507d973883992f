package main

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// languages are the values of request.content.language_hint; "" is a text where no
// script dominates (or that has no letters).
var languages = []string{"", "latin", "cyrillic", "greek", "arabic", "hebrew", "han", "japanese", "korean", "devanagari", "thai"}

// when is a route's conditions: all that are set must hold.
type when struct {
	keywords       []string       // lowercased; any one, as a substring of the lowercased last_user
	regex          *regexp.Regexp // on last_user as it is
	hasCodeFence   *bool
	hasImage       *bool
	hasToolResults *bool
	languages      []string // any one
	minSystemBytes int      // 0: no condition
}

// route is one entry of the config's routes.
type route struct {
	when       when
	models     []string // "model" or "provider/model", in order; or
	capability string   // every candidate that lists it, in input order
	reason     string
	tag        string // "content:<name>"
}

// config is the rule's configuration; see README.md.
type config struct {
	routes          []route
	skipUnavailable bool
	keywords        bool // some route has keywords: lowercase last_user once per call
}

var cfg config

var initRule = rule.ConfigInit(&cfg, parseConfig)

func parseConfig(data []byte) (config, error) {
	c, err := parse(data)
	if err != nil {
		return config{}, errors.New("content-router: " + err.Error())
	}
	return c, nil
}

func parse(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "routes", "skip_unavailable")
	if err != nil {
		return config{}, err
	}
	c := config{}
	rs := v.Get("routes")
	if rs.Kind() != rule.Array || rs.Len() == 0 {
		return config{}, errors.New(`"routes" must be a non-empty array`)
	}
	for i := range rs.Len() {
		r, err := parseRoute(rs.Index(i), i)
		if err != nil {
			return config{}, err
		}
		c.keywords = c.keywords || len(r.when.keywords) > 0
		c.routes = append(c.routes, r)
	}
	if c.skipUnavailable, err = v.BoolKey("skip_unavailable", true); err != nil {
		return config{}, err
	}
	return c, nil
}

func parseRoute(v rule.Value, i int) (route, error) {
	where := "routes[" + strconv.Itoa(i) + "]"
	fail := func(msg string) (route, error) { return route{}, errors.New(where + ": " + msg) }
	if v.Kind() != rule.Object {
		return fail("must be an object")
	}
	if err := v.CheckKeys(where+".", "when", "models", "capability", "reason", "name"); err != nil {
		return route{}, err
	}
	var r route
	w := v.Get("when")
	if w.Kind() != rule.Object {
		return fail(`"when" is required: an object of conditions ({} always holds)`)
	}
	var err error
	if r.when, err = parseWhen(w, where+".when"); err != nil {
		return route{}, err
	}
	models, capability := v.Get("models"), v.Get("capability")
	switch {
	case models.Kind() != rule.Missing && capability.Kind() != rule.Missing:
		return fail(`has both "models" and "capability"`)
	case models.Kind() != rule.Missing:
		r.models = models.Strings(nil)
		if models.Kind() != rule.Array || len(r.models) == 0 || len(r.models) != models.Len() || slices.Contains(r.models, "") {
			return fail(`"models" must be a non-empty array of model names (or "provider/model")`)
		}
	case capability.Kind() != rule.Missing:
		if r.capability = capability.String(""); r.capability == "" {
			return fail(`"capability" must be a non-empty string`)
		}
	default:
		return fail(`needs "models" or "capability": the class of model the route sends to`)
	}
	name := strconv.Itoa(i)
	if x := v.Get("name"); x.Kind() != rule.Missing {
		if name = x.String(""); name == "" {
			return fail(`"name" must be a non-empty string`)
		}
	}
	r.tag = "content:" + name
	r.reason = "route " + name + " matched"
	if x := v.Get("reason"); x.Kind() != rule.Missing {
		if r.reason = x.String(""); r.reason == "" {
			return fail(`"reason" must be a non-empty string`)
		}
	}
	return r, nil
}

func parseWhen(v rule.Value, where string) (when, error) {
	var w when
	fail := func(msg string) (when, error) { return when{}, errors.New(where + ": " + msg) }
	if err := v.CheckKeys(where+".", "keywords", "regex", "has_code_fence", "has_image", "has_tool_results",
		"language", "min_system_bytes"); err != nil {
		return when{}, err
	}
	if k := v.Get("keywords"); k.Kind() != rule.Missing {
		words := k.Strings(nil)
		if k.Kind() != rule.Array || len(words) == 0 || len(words) != k.Len() || slices.Contains(words, "") {
			return fail(`"keywords" must be a non-empty array of non-empty strings`)
		}
		for _, kw := range words {
			w.keywords = append(w.keywords, strings.ToLower(kw))
		}
	}
	if x := v.Get("regex"); x.Kind() != rule.Missing {
		src := x.String("")
		if x.Kind() != rule.String || src == "" {
			return fail(`"regex" must be a non-empty string (Go RE2 syntax)`)
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return fail(`"regex": ` + err.Error())
		}
		w.regex = re
	}
	for _, f := range []struct {
		key string
		dst **bool
	}{{"has_code_fence", &w.hasCodeFence}, {"has_image", &w.hasImage}, {"has_tool_results", &w.hasToolResults}} {
		if x := v.Get(f.key); x.Kind() != rule.Missing {
			if x.Kind() != rule.Bool {
				return fail(strconv.Quote(f.key) + " must be true or false")
			}
			b := x.Bool(false)
			*f.dst = &b
		}
	}
	switch x := v.Get("language"); x.Kind() {
	case rule.Missing:
	case rule.String:
		w.languages = []string{x.String("")}
	case rule.Array:
		if w.languages = x.Strings(nil); len(w.languages) == 0 || len(w.languages) != x.Len() {
			return fail(`"language" must be a language hint or a non-empty array of them`)
		}
	default:
		return fail(`"language" must be a language hint or a non-empty array of them`)
	}
	for _, l := range w.languages {
		if !slices.Contains(languages, l) {
			return fail(`"language": ` + strconv.Quote(l) + ` is not a language hint (latin, cyrillic, greek, arabic, hebrew, han, japanese, korean, devanagari, thai, or "" for none)`)
		}
	}
	if x := v.Get("min_system_bytes"); x.Kind() != rule.Missing {
		n := x.Int(0)
		if x.Kind() != rule.Number || n < 1 || float64(n) != x.Float(0) || n > 1<<16 {
			return fail(`"min_system_bytes" must be an integer 1..65536 (at most the rule's content max_bytes)`)
		}
		w.minSystemBytes = int(n)
	}
	return w, nil
}

// noContent is the failure of a rule whose entry did not opt in to request.content.
const noContent = "content-router: the input has no request.content; give this rule's entry " +
	"content: {max_bytes: N} in the router config"

func decide(in *rule.Input, d *rule.Decision) {
	c := in.Request.Content
	if c == nil {
		d.Fail(noContent)
		return
	}
	lower := ""
	if cfg.keywords {
		lower = strings.ToLower(c.LastUser)
	}
	for i := range cfg.routes {
		r := &cfg.routes[i]
		if !r.when.holds(c, lower) {
			continue
		}
		if r.capability != "" {
			for j := range in.Candidates {
				x := &in.Candidates[j]
				if x.Has(r.capability) && (!cfg.skipUnavailable || x.Available()) {
					d.Add(x.Provider, x.Model)
				}
			}
		} else {
			d.AddNamed(in.Candidates, cfg.skipUnavailable, r.models...)
		}
		if len(d.Targets) == 0 {
			return // the route's class of model cannot serve: no opinion
		}
		d.Reason = r.reason
		d.Tags = append(d.Tags, r.tag)
		return
	}
}

// holds reports whether every condition of w holds; lower is last_user lowercased (only
// when some route has keywords).
func (w *when) holds(c *rule.Content, lower string) bool {
	if w.hasCodeFence != nil && *w.hasCodeFence != c.HasCodeFence ||
		w.hasImage != nil && *w.hasImage != c.HasImage ||
		w.hasToolResults != nil && *w.hasToolResults != c.HasToolResults ||
		w.minSystemBytes > 0 && len(c.System) < w.minSystemBytes ||
		w.languages != nil && !slices.Contains(w.languages, c.LanguageHint) {
		return false
	}
	if w.keywords != nil && !slices.ContainsFunc(w.keywords, func(k string) bool { return strings.Contains(lower, k) }) {
		return false
	}
	return w.regex == nil || w.regex.MatchString(c.LastUser)
}
