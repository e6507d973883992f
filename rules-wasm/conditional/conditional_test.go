package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// request is the request every condition below is evaluated against.
const request = `{"model":"auto","endpoint":"chat.completions","priority":3,"prompt_tokens_estimate":523,
	"max_tokens":0,"messages":4,"chars":2100,"stream":true,"has_tools":false,"has_images":false,"json_mode":false,
	"key":"team-a","user":"","tags":["batch","eu"],
	"metadata":{"tier":"free","seats":12,"beta":true,"region":null},"headers":{"x-tenant":"acme-corp"}}`

func readRequest(t *testing.T) *rule.Input {
	t.Helper()
	var in rule.Input
	if err := rule.ReadInput([]byte(`{"abi":1,"request":`+request+`,"candidates":[]}`), &in); err != nil {
		t.Fatal(err)
	}
	return &in
}

func TestConditions(t *testing.T) {
	in := readRequest(t)
	for _, tc := range []struct {
		when string
		want bool
	}{
		{`{}`, true},
		{`{"metadata.tier": "free"}`, true},
		{`{"metadata.tier": {"$eq": "pro"}}`, false},
		{`{"metadata.tier": {"$ne": "pro"}}`, true},
		{`{"metadata.plan": {"$ne": "pro"}}`, true}, // missing: not equal
		{`{"metadata.plan": {"$eq": null}}`, true},
		{`{"metadata.region": {"$eq": null}}`, true}, // JSON null
		{`{"metadata.region": {"$exists": true}}`, true},
		{`{"metadata.plan": {"$exists": true}}`, false},
		{`{"metadata.plan": {"$exists": false}}`, true},
		{`{"metadata.seats": {"$gt": 10}}`, true},
		{`{"metadata.seats": {"$gte": 12, "$lt": 13}}`, true},
		{`{"metadata.seats": 12}`, true},
		{`{"metadata.seats": {"$in": [1, 12]}}`, true},
		{`{"metadata.tier": {"$gt": 1}}`, false}, // not a number
		{`{"metadata.beta": true}`, true},
		{`{"metadata.beta": {"$ne": true}}`, false},
		{`{"metadata.tier": {"$in": ["free", "trial"]}}`, true},
		{`{"metadata.tier": {"$nin": ["free", "trial"]}}`, false},
		{`{"metadata.plan": {"$nin": ["free"]}}`, true},
		{`{"metadata.plan": {"$in": ["free"]}}`, false},
		{`{"metadata.tier": {"$regex": "^fr"}}`, true},
		{`{"metadata.plan": {"$regex": ".*"}}`, false},
		{`{"priority": {"$lt": 5}}`, true},
		{`{"priority": {"$lte": 3}}`, true},
		{`{"priority": {"$gt": 3}}`, false},
		{`{"priority": {"$gte": 3}}`, true},
		{`{"priority": 3}`, true},
		{`{"priority": {"$in": [1, 2]}}`, false},
		{`{"priority": {"$nin": [1, 2]}}`, true},
		{`{"max_tokens": {"$exists": false}}`, true},
		{`{"prompt_tokens_estimate": {"$gte": 500}, "messages": {"$lt": 10}, "chars": {"$gt": 2000}}`, true},
		{`{"stream": true}`, true},
		{`{"has_tools": {"$ne": false}}`, false},
		{`{"json_mode": {"$in": [true]}}`, false},
		{`{"has_images": {"$exists": true}}`, true},
		{`{"tags": "batch"}`, true},
		{`{"tags": {"$ne": "batch"}}`, false},
		{`{"tags": {"$in": ["interactive", "eu"]}}`, true},
		{`{"tags": {"$nin": ["interactive", "eu"]}}`, false},
		{`{"tags": {"$regex": "^e"}}`, true},
		{`{"tags": {"$exists": true}}`, true},
		{`{"headers.x-tenant": {"$regex": "^acme"}}`, true},
		{`{"headers.X-Tenant": {"$regex": "^acme$"}}`, false},
		{`{"headers.x-region": {"$exists": false}}`, true},
		{`{"key": "team-a"}`, true},
		{`{"user": {"$exists": true}}`, false}, // empty user
		{`{"model": {"$in": ["auto", "gpt-4o"]}}`, true},
		{`{"endpoint": "embeddings"}`, false},
		{`{"$and": [{"metadata.tier": {"$eq": "free"}}, {"priority": {"$lt": 5}}]}`, true},
		{`{"$and": [{"metadata.tier": "free"}, {"priority": {"$gt": 5}}]}`, false},
		{`{"$or": [{"metadata.tier": "pro"}, {"tags": {"$in": ["batch"]}}]}`, true},
		{`{"$or": [{"metadata.tier": "pro"}, {"key": "team-b"}]}`, false},
		{`{"$not": {"metadata.tier": "free"}}`, false},
		{`{"$not": {"$or": [{"key": "team-b"}, {"$and": [{"priority": 3}, {"tags": "nope"}]}]}}`, true},
		{`{"metadata.tier": "free", "key": "team-b"}`, false},
	} {
		t.Run(tc.when, func(t *testing.T) {
			var comp compiler
			v, err := rule.ParseConfig([]byte(tc.when))
			if err != nil {
				t.Fatal(err)
			}
			n, err := comp.cond(v, "when")
			if err != nil {
				t.Fatal(err)
			}
			if got := eval(&n, &in.Request); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	route := func(when string) string { return `{"routes": [{"when": ` + when + `, "then": ["a"]}]}` }
	for _, tc := range []struct{ name, config, want string }{
		{"no routes", `{}`, `"routes" must be a non-empty array`},
		{"unknown key", `{"routes": [], "defaults": null}`, `unknown config key "defaults"`},
		{"unknown route key", `{"routes": [{"when": {}, "then": ["a"], "than": 1}]}`, `unknown config key "routes[0].than"`},
		{"no when", `{"routes": [{"then": ["a"]}]}`, `routes[0]: "when" is required`},
		{"no action", `{"routes": [{"when": {}}]}`, `routes[0]: needs "then" (models) or "reject"`},
		{"both", `{"routes": [{"when": {}, "then": ["a"], "reject": {"status": 403, "message": "x"}}]}`, `has both "then" and "reject"`},
		{"empty then", `{"routes": [{"when": {}, "then": []}]}`, `"then" must be a non-empty array`},
		{"bad status", `{"routes": [{"when": {}, "reject": {"status": 404, "message": "x"}}]}`, `"reject.status" must be 400, 403, 429 or 503`},
		{"no message", `{"routes": [{"when": {}, "reject": {"status": 403}}]}`, `"reject.message" must be a non-empty string`},
		{"reject key", `{"routes": [{"when": {}, "reject": {"status": 403, "message": "x", "code": 1}}]}`, `unknown config key "routes[0].reject.code"`},
		{"bad default", `{"routes": [{"when": {}, "then": ["a"]}], "default": "a"}`, `"default" must be null or a non-empty array`},
		{"unknown field", route(`{"metdata.tier": "free"}`), `routes[0].when.metdata.tier: unknown field "metdata.tier"`},
		{"empty metadata name", route(`{"metadata.": "free"}`), `unknown field "metadata."`},
		{"unknown operator", route(`{"priority": {"$between": [1, 2]}}`), `unknown operator "$between"`},
		{"top-level operator", route(`{"$eq": 1}`), `unknown operator "$eq" (a field path or $and, $or, $not expected here)`},
		{"no operator", route(`{"priority": {}}`), `routes[0].when.priority: no operator`},
		{"and not array", route(`{"$and": {"priority": 1}}`), `$and takes a non-empty array of conditions`},
		{"empty or", route(`{"$or": []}`), `$or takes a non-empty array`},
		{"and item", route(`{"$and": [1]}`), `routes[0].when.$and[0]: a condition must be an object`},
		{"not", route(`{"$not": []}`), `a condition must be an object`},
		{"priority string", route(`{"priority": "5"}`), `priority is a number`},
		{"flag number", route(`{"stream": 1}`), `stream is true or false`},
		{"tags number", route(`{"tags": {"$in": [1]}}`), `tags are strings`},
		{"key number", route(`{"key": 5}`), `key is a string`},
		{"list shorthand", route(`{"tags": ["a"]}`), `use $in for lists`},
		{"gt string", route(`{"priority": {"$gt": "5"}}`), `$gt takes a number`},
		{"gt tags", route(`{"tags": {"$gt": 5}}`), `$gt does not apply to tags`},
		{"regex number", route(`{"priority": {"$regex": "5"}}`), `$regex applies to strings, not to priority`},
		{"bad regex", route(`{"user": {"$regex": "("}}`), "bad $regex: error parsing regexp"},
		{"in not array", route(`{"user": {"$in": "a"}}`), `$in takes an array`},
		{"exists", route(`{"user": {"$exists": 1}}`), `$exists takes true or false`},
		{"repeated field", route(`{"priority": 1, "priority": 2}`), `routes[0].when: "priority" is repeated (use $and)`},
		{"repeated operator", route(`{"priority": {"$gt": 1, "$gt": 2}}`), `routes[0].when.priority: "$gt" is repeated`},
		{"repeated key", `{"routes": [{"when": {}, "then": ["a"], "then": ["b"]}]}`, `config key "routes[0].then" is repeated`},
		{"skip", `{"routes": [{"when": {}, "then": ["a"]}], "skip_unavailable": null}`, `"skip_unavailable" must be true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "conditional: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"routes": [{"when": {"$or": [`)
	for i := range 300 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"priority": 1}`)
	}
	b.WriteString(`]}, "then": ["a"]}]}`)
	if _, err := parseConfig([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "condition too large") {
		t.Fatalf("err = %v", err)
	}
}

const specConfig = `{"routes": [
	{"when": {"$and": [{"metadata.tier": {"$eq": "free"}}, {"priority": {"$lt": 5}}]}, "then": ["mock-small"]},
	{"when": {"tags": {"$in": ["batch"]}}, "then": ["mock-large"], "reason": "batch jobs"},
	{"name": "acme", "when": {"headers.x-tenant": {"$regex": "^acme"}}, "reject": {"status": 403, "message": "acme is suspended"}}],
	"default": ["mock-medium", "mock/mock-small"]}`

func TestDecisions(t *testing.T) {
	cands := `"candidates":[
		{"provider":"mock","model":"mock-small","healthy":true,"circuit":"closed"},
		{"provider":"mock","model":"mock-medium","healthy":true,"circuit":"open"},
		{"provider":"mock","model":"mock-large","healthy":true,"circuit":"closed"}]`
	for _, tc := range []struct{ name, config, request, want string }{
		{"first route", specConfig, `{"priority":3,"metadata":{"tier":"free"},"tags":["batch"]}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"route 0 matched","tags":["route:0"]}`},
		{"second route", specConfig, `{"priority":7,"metadata":{"tier":"free"},"tags":["batch"]}`,
			`{"targets":[{"provider":"mock","model":"mock-large"}],"reason":"batch jobs","tags":["route:1"]}`},
		{"reject", specConfig, `{"priority":7,"headers":{"x-tenant":"acme-eu"}}`,
			`{"reject":{"status":403,"message":"acme is suspended"},"reason":"route acme matched","tags":["route:acme"]}`},
		{"default skips the open circuit", specConfig, `{"priority":7}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"no route matched: default","tags":["route:default"]}`},
		{"no default", `{"routes": [{"when": {"key": "x"}, "then": ["mock-small"]}], "default": null}`, `{"key":"y"}`, ``},
		{"matched route cannot serve", `{"routes": [{"when": {}, "then": ["mock-medium"]}], "default": ["mock-small"]}`, `{}`, ``},
		{"skip_unavailable off", `{"routes": [{"when": {}, "then": ["mock-medium"]}], "skip_unavailable": false}`, `{}`,
			`{"targets":[{"provider":"mock","model":"mock-medium"}],"reason":"route 0 matched","tags":["route:0"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := initRule([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			in := `{"abi":1,"request":` + tc.request + `,` + cands + `}`
			if got := string((&rule.Runner{}).Route(decide, []byte(in))); got != tc.want {
				t.Fatalf("output\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	if err := initRule([]byte(`{"routes": [
		{"when": {"$and": [{"metadata.tier": {"$eq": "pro"}}, {"priority": {"$lt": 5}}]}, "then": ["mock-small"]},
		{"when": {"$or": [{"tags": {"$in": ["x", "y"]}}, {"metadata.seats": {"$gt": 100}}, {"metadata.tier": {"$gt": 100}}]}, "then": ["mock-small"]},
		{"when": {"$not": {"metadata.tier": {"$in": ["free", "pro"]}}}, "then": ["mock-small"]},
		{"when": {"headers.x-tenant": {"$regex": "^acme"}}, "then": ["mock-small"]}]}`)); err != nil {
		t.Fatal(err)
	}
	in := readRequest(t)
	in.Candidates = []rule.Candidate{{Provider: "mock", Model: "mock-small", Healthy: true}}
	var d rule.Decision
	if n := testing.AllocsPerRun(100, func() { d.Reset(); decide(in, &d) }); n != 0 {
		t.Fatalf("%v allocations per decision, want 0", n)
	}
	if len(d.Targets) != 1 || d.Tags[0] != "route:3" {
		t.Fatalf("decision %+v, want route 3", d)
	}
}
