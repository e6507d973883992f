package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

func cand(model string, ctx int64, in, out float64, caps ...string) rule.Candidate {
	return rule.Candidate{Provider: "mock", Model: model, ContextWindow: ctx, USDPerMTokIn: in, USDPerMTokOut: out,
		Capabilities: caps, Healthy: true, Circuit: "closed"}
}

func models(d *rule.Decision) string {
	var s []string
	for _, t := range d.Targets {
		s = append(s, t.Model)
	}
	return strings.Join(s, ",")
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"unknown key", `{"max_target": 2}`, `unknown config key "max_target"`},
		{"max_targets zero", `{"max_targets": 0}`, `"max_targets" must be an integer from 1 to 64`},
		{"max_targets fraction", `{"max_targets": 1.5}`, `"max_targets" must be an integer`},
		{"max_targets string", `{"max_targets": "2"}`, `"max_targets" must be an integer`},
		{"priority", `{"max_priority": 11}`, `"max_priority" must be an integer from 1 to 10`},
		{"cost", `{"max_cost_usd": -1}`, `"max_cost_usd" must be a number >= 0`},
		{"caps", `{"required_capabilities": ["tools", 1]}`, `"required_capabilities" must be an array of strings`},
		{"half open", `{"allow_half_open": 1}`, `"allow_half_open" must be true or false`},
		{"repeated key", `{"max_targets": 1, "max_targets": 2}`, `config key "max_targets" is repeated`},
		{"array", `[1]`, "config must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := parseConfig(nil); err != nil {
		t.Fatalf("empty config: %v", err)
	}
}

func TestOrder(t *testing.T) {
	small := cand("small", 8192, 0.1, 0.4, "tools", "json")
	bulk := cand("bulk", 32768, 3, 0.2, "json")
	big := cand("big", 128000, 2.5, 10, "tools", "json", "vision")
	noWindow := cand("unknown-window", 0, 1, 1, "tools")
	for _, tc := range []struct {
		name   string
		config string
		req    rule.Request
		cands  []rule.Candidate
		want   string
	}{
		{"cost depends on the request: long output", `{}`, rule.Request{PromptTokensEstimate: 100, MaxTokens: 4000},
			[]rule.Candidate{small, bulk, big}, "bulk,small,big"},
		{"cost depends on the request: long prompt", `{}`, rule.Request{PromptTokensEstimate: 6000, MaxTokens: 100},
			[]rule.Candidate{small, bulk, big}, "small,big,bulk"},
		{"window too small", `{}`, rule.Request{PromptTokensEstimate: 8000, MaxTokens: 500},
			[]rule.Candidate{small, bulk, big}, "bulk,big"},
		{"default output tokens", `{"default_output_tokens": 100}`, rule.Request{PromptTokensEstimate: 8000},
			[]rule.Candidate{small, big}, "small,big"},
		{"unknown window fits", `{}`, rule.Request{PromptTokensEstimate: 1e6, HasTools: true},
			[]rule.Candidate{small, noWindow}, "unknown-window"},
		{"tools", `{}`, rule.Request{HasTools: true}, []rule.Candidate{bulk, big}, "big"},
		{"json", `{}`, rule.Request{JSONMode: true}, []rule.Candidate{noWindow, bulk}, "bulk"},
		{"ties keep input order", `{}`, rule.Request{}, []rule.Candidate{cand("x", 0, 1, 1), cand("y", 0, 1, 1)}, "x,y"},
		{"max targets", `{"max_targets": 2}`, rule.Request{}, []rule.Candidate{big, bulk, small}, "bulk,small"},
		{"nothing fits", `{}`, rule.Request{HasImages: true}, []rule.Candidate{small, bulk}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := initRule([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			var d rule.Decision
			route(&rule.Input{Request: tc.req, Candidates: tc.cands}, &d)
			if got := models(&d); got != tc.want {
				t.Fatalf("targets %q, want %q (reason %q)", got, tc.want, d.Reason)
			}
		})
	}
}

func TestRunnerOutput(t *testing.T) {
	if err := initRule(nil); err != nil {
		t.Fatal(err)
	}
	in := `{"abi":1,"request":{"priority":5,"prompt_tokens_estimate":523,"max_tokens":1024},
		"candidates":[{"provider":"mock","model":"mock-large","context_window":128000,"usd_per_mtok_in":2.5,"usd_per_mtok_out":10,"healthy":true,"circuit":"closed"},
		{"provider":"mock","model":"mock-small","context_window":8192,"usd_per_mtok_in":0.1,"usd_per_mtok_out":0.4,"healthy":true,"circuit":"closed"}]}`
	got := string((&rule.Runner{}).Route(route, []byte(in)))
	want := `{"targets":[{"provider":"mock","model":"mock-small"},{"provider":"mock","model":"mock-large"}],` +
		`"reason":"cheapest of 2 fitting 1547 tokens: ~$0.000462","tags":["cheapest-fit"]}`
	if got != want {
		t.Fatalf("output\n%s\nwant\n%s", got, want)
	}
}

func TestRouteAllocations(t *testing.T) {
	if err := initRule(nil); err != nil {
		t.Fatal(err)
	}
	in := &rule.Input{Request: rule.Request{PromptTokensEstimate: 500}, Candidates: []rule.Candidate{
		cand("a", 8192, 1, 2), cand("b", 8192, 0.5, 1), cand("c", 8192, 2, 3)}}
	var d rule.Decision
	if n := testing.AllocsPerRun(100, func() { d.Reset(); route(in, &d) }); n > 1 {
		t.Fatalf("%v allocations per route, want at most 1 (the reason)", n)
	}
}
