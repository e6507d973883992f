package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

const specConfig = `{"tiers": [
	{"min_priority": 8, "models": ["mock-large"]},
	{"min_priority": 4, "models": ["mock-small", "mock-large"]},
	{"min_priority": 1, "models": ["mock-small"], "max_tokens": 256}]}`

const candidates = `"candidates":[
	{"provider":"mock","model":"mock-small","healthy":true,"circuit":"closed"},
	{"provider":"other","model":"mock-large","healthy":true,"circuit":"closed"},
	{"provider":"mock","model":"mock-large","healthy":true,"circuit":"closed"}]`

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"no tiers", `{}`, `"tiers" must be an array of 1 to 10 tiers`},
		{"empty tiers", `{"tiers": []}`, `"tiers" must be an array`},
		{"unknown key", `{"tiers": [{"min_priority": 1, "models": ["a"]}], "tier": 1}`, `unknown config key "tier"`},
		{"unknown tier key", `{"tiers": [{"min_priority": 1, "models": ["a"], "max_token": 5}]}`, `unknown config key "tiers[0].max_token"`},
		{"repeated tier key", `{"tiers": [{"min_priority": 1, "models": ["a"], "models": ["b"]}]}`, `config key "tiers[0].models" is repeated`},
		{"no min", `{"tiers": [{"models": ["a"]}]}`, `tiers[0]: "min_priority" is required`},
		{"min out of range", `{"tiers": [{"min_priority": 11, "models": ["a"]}]}`, `"min_priority" is required, an integer from 1 to 10`},
		{"no models", `{"tiers": [{"min_priority": 1}]}`, `tiers[0]: "models" is required`},
		{"models not strings", `{"tiers": [{"min_priority": 1, "models": [1]}]}`, `"models" is required`},
		{"unreachable", `{"tiers": [{"min_priority": 4, "models": ["a"]}, {"min_priority": 8, "models": ["b"]}]}`,
			"tiers[1]: min_priority 8 is not below the previous tier's 4, so it would never apply"},
		{"max tokens", `{"tiers": [{"min_priority": 1, "models": ["a"], "max_tokens": 0}]}`, `"max_tokens" must be a positive integer`},
		{"temperature", `{"tiers": [{"min_priority": 1, "models": ["a"], "temperature": 3}]}`, `"temperature" must be a number from 0 to 2`},
		{"effort", `{"tiers": [{"min_priority": 1, "models": ["a"], "reasoning_effort": "max"}]}`, `"reasoning_effort" must be`},
		{"reject below", `{"tiers": [{"min_priority": 1, "models": ["a"]}], "reject_below": 1}`, `"reject_below" must be true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		request      string
		want         string
	}{
		{"top tier", specConfig, `{"priority":9,"max_tokens":1024}`,
			`{"targets":[{"provider":"other","model":"mock-large"},{"provider":"mock","model":"mock-large"}],"reason":"tier p8+: priority >= 8","tags":["tier:p8+"]}`},
		{"middle tier keeps model order", specConfig, `{"priority":4}`,
			`{"targets":[{"provider":"mock","model":"mock-small"},{"provider":"other","model":"mock-large"},{"provider":"mock","model":"mock-large"}],"reason":"tier p4+: priority >= 4","tags":["tier:p4+"]}`},
		{"low tier lowers max_tokens", specConfig, `{"priority":1,"max_tokens":1024}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"tier p1+: priority >= 1, max_tokens <= 256","tags":["tier:p1+"]}`},
		{"low tier sets max_tokens when unset", specConfig, `{"priority":1}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"tier p1+: priority >= 1, max_tokens <= 256","tags":["tier:p1+"]}`},
		{"low tier never raises max_tokens", specConfig, `{"priority":1,"max_tokens":100}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"tier p1+: priority >= 1, max_tokens <= 256","tags":["tier:p1+"]}`},
		{"provider/model and sampling params",
			`{"tiers": [{"name": "gold", "min_priority": 5, "models": ["mock/mock-large"], "temperature": 0.5, "top_p": 0.9, "reasoning_effort": "low"}]}`,
			`{"priority":7}`,
			`{"targets":[{"provider":"mock","model":"mock-large"}],"params":{"temperature":0.5,"top_p":0.9,"reasoning_effort":"low"},"reason":"tier gold: priority >= 5","tags":["tier:gold"]}`},
		{"below every tier", `{"tiers": [{"min_priority": 5, "models": ["mock-small"]}], "reject_below": true}`, `{"priority":4}`,
			`{"reject":{"status":429,"message":"requests below priority 5 are not served"}}`},
		{"below every tier without reject", `{"tiers": [{"min_priority": 5, "models": ["mock-small"]}]}`, `{"priority":4}`, ``},
		{"tier model missing", `{"tiers": [{"min_priority": 1, "models": ["mock-medium"]}]}`, `{"priority":4}`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := initRule([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			in := `{"abi":1,"request":` + tc.request + `,` + candidates + `}`
			if got := string((&rule.Runner{}).Route(route, []byte(in))); got != tc.want {
				t.Fatalf("output\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestRouteAllocations(t *testing.T) {
	if err := initRule([]byte(specConfig)); err != nil {
		t.Fatal(err)
	}
	in := &rule.Input{Request: rule.Request{Priority: 5}, Candidates: []rule.Candidate{
		{Provider: "mock", Model: "mock-small", Healthy: true}, {Provider: "mock", Model: "mock-large", Healthy: true}}}
	var d rule.Decision
	if n := testing.AllocsPerRun(100, func() { d.Reset(); route(in, &d) }); n != 0 {
		t.Fatalf("%v allocations per route, want 0", n)
	}
}
