package main

import (
	"errors"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// route is one entry of the config's routes.
type route struct {
	when   node
	then   []string // "model" or "provider/model", in order; empty when rejecting
	reject rule.Reject
	reason string
	tag    string // "route:<name>"
}

// config is the rule's configuration; see README.md.
type config struct {
	routes          []route
	def             []string // default models; nil: no opinion
	skipUnavailable bool
}

var cfg config

func parseConfig(data []byte) (config, error) {
	c, err := parse(data)
	if err != nil {
		return config{}, errors.New("conditional: " + err.Error())
	}
	return c, nil
}

func parse(data []byte) (config, error) {
	v, err := rule.ParseConfigObject(data, "routes", "default", "skip_unavailable")
	if err != nil {
		return config{}, err
	}
	c := config{skipUnavailable: true}
	rs := v.Get("routes")
	if rs.Kind() != rule.Array || rs.Len() == 0 {
		return config{}, errors.New(`"routes" must be a non-empty array`)
	}
	var comp compiler
	for i := range rs.Len() {
		r, err := parseRoute(&comp, rs.Index(i), i)
		if err != nil {
			return config{}, err
		}
		c.routes = append(c.routes, r)
	}
	switch d := v.Get("default"); d.Kind() {
	case rule.Missing, rule.Null:
	default:
		if c.def, err = models(d); err != nil {
			return config{}, errors.New(`"default" must be null or ` + err.Error())
		}
	}
	switch x := v.Get("skip_unavailable"); x.Kind() {
	case rule.Missing:
	case rule.Bool:
		c.skipUnavailable = x.Bool(true)
	default:
		return config{}, errors.New(`"skip_unavailable" must be true or false`)
	}
	return c, nil
}

func parseRoute(comp *compiler, v rule.Value, i int) (route, error) {
	where := "routes[" + strconv.Itoa(i) + "]"
	fail := func(msg string) (route, error) { return route{}, errors.New(where + ": " + msg) }
	if v.Kind() != rule.Object {
		return fail("must be an object")
	}
	if err := v.CheckKeys(where+".", "when", "then", "reject", "reason", "name"); err != nil {
		return route{}, err
	}
	var r route
	w := v.Get("when")
	if w.Kind() == rule.Missing {
		return fail(`"when" is required`)
	}
	var err error
	if r.when, err = comp.cond(w, where+".when"); err != nil {
		return route{}, err
	}
	then, rej := v.Get("then"), v.Get("reject")
	switch {
	case then.Kind() != rule.Missing && rej.Kind() != rule.Missing:
		return fail(`has both "then" and "reject"`)
	case then.Kind() != rule.Missing:
		if r.then, err = models(then); err != nil {
			return fail(`"then" must be ` + err.Error())
		}
	case rej.Kind() != rule.Missing:
		if rej.Kind() != rule.Object {
			return fail(`"reject" must be an object {"status": 403, "message": "..."}`)
		}
		if err := rej.CheckKeys(where+".reject.", "status", "message"); err != nil {
			return route{}, err
		}
		st := rej.Get("status")
		r.reject.Status = int(st.Int(0))
		switch {
		case st.Kind() != rule.Number:
			return fail(`"reject.status" is required: 400, 403, 429 or 503`)
		case r.reject.Status != 400 && r.reject.Status != 403 && r.reject.Status != 429 && r.reject.Status != 503,
			float64(r.reject.Status) != st.Float(0):
			return fail(`"reject.status" must be 400, 403, 429 or 503`)
		}
		if r.reject.Message = rej.Get("message").String(""); r.reject.Message == "" {
			return fail(`"reject.message" must be a non-empty string`)
		}
	default:
		return fail(`needs "then" (models) or "reject"`)
	}
	name := strconv.Itoa(i)
	if x := v.Get("name"); x.Kind() != rule.Missing {
		if name = x.String(""); name == "" {
			return fail(`"name" must be a non-empty string`)
		}
	}
	r.tag = "route:" + name
	r.reason = "route " + name + " matched"
	if x := v.Get("reason"); x.Kind() != rule.Missing {
		if r.reason = x.String(""); r.reason == "" {
			return fail(`"reason" must be a non-empty string`)
		}
	}
	return r, nil
}

// models reads a non-empty array of model names (or "provider/model").
func models(v rule.Value) ([]string, error) {
	ms := v.Strings(nil)
	if v.Kind() != rule.Array || len(ms) == 0 || len(ms) != v.Len() {
		return nil, errors.New(`a non-empty array of model names (or "provider/model")`)
	}
	for _, m := range ms {
		if m == "" {
			return nil, errors.New("a non-empty array of model names, without empty names")
		}
	}
	return ms, nil
}

var initRule = rule.ConfigInit(&cfg, parseConfig)

func decide(in *rule.Input, d *rule.Decision) {
	for i := range cfg.routes {
		r := &cfg.routes[i]
		if !eval(&r.when, &in.Request) {
			continue
		}
		if r.reject.Status != 0 {
			d.RejectWith(r.reject.Status, r.reject.Message)
		} else if !addModels(d, in.Candidates, r.then) {
			return // the route's models cannot serve: no opinion
		}
		d.Reason = r.reason
		d.Tags = append(d.Tags, r.tag)
		return
	}
	if cfg.def != nil && addModels(d, in.Candidates, cfg.def) {
		d.Reason = "no route matched: default"
		d.Tags = append(d.Tags, "route:default")
	}
}

// addModels adds the candidates that serve refs, in refs order, each once,
// and reports whether it added any.
func addModels(d *rule.Decision, cs []rule.Candidate, refs []string) bool {
	d.AddNamed(cs, cfg.skipUnavailable, refs...)
	return len(d.Targets) > 0
}
