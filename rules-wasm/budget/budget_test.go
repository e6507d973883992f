package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

const specConfig = `{"tiers": {"free": {"models": ["mock-small"], "max_tokens": 512}, "pro": {"models": ["mock-large", "mock-small"]}},
	"tier_from": "metadata.tier", "key_tiers": null, "default_tier": "free", "reject_unknown": false, "max_prompt_tokens": {"free": 4000}}`

func TestConfigErrors(t *testing.T) {
	const tiers = `"tiers": {"free": {"models": ["a"]}}`
	for _, tc := range []struct{ name, config, want string }{
		{"no tiers", `{}`, `"tiers" must be a non-empty object`},
		{"unknown key", `{` + tiers + `, "tier": "free"}`, `unknown config key "tier"`},
		{"unknown tier key", `{"tiers": {"free": {"models": ["a"], "max_token": 1}}}`, `unknown config key "tiers.free.max_token"`},
		{"repeated key", `{` + tiers + `, "default_tier": "free", "default_tier": "free"}`, `config key "default_tier" is repeated`},
		{"no models", `{"tiers": {"free": {}}}`, `tiers.free: "models" is required`},
		{"tier not object", `{"tiers": {"free": ["a"]}}`, `tiers.free: must be an object`},
		{"duplicate", `{"tiers": {"free": {"models": ["a"]}, "free": {"models": ["b"]}}}`, `"free" is empty or listed twice`},
		{"max tokens", `{"tiers": {"free": {"models": ["a"], "max_tokens": -1}}}`, `"max_tokens" must be a positive integer`},
		{"tier_from", `{` + tiers + `, "tier_from": "user"}`, `"tier_from" must be "key", "metadata.<name>" or "headers.<name>"`},
		{"key without key_tiers", `{` + tiers + `, "tier_from": "key"}`, `"tier_from": "key" needs "key_tiers"`},
		{"key_tiers without key", `{` + tiers + `, "key_tiers": {"team-a": "free"}}`, `"key_tiers" applies only with "tier_from": "key"`},
		{"key_tiers unknown tier", `{` + tiers + `, "tier_from": "key", "key_tiers": {"team-a": "pro"}}`, `key_tiers: "team-a" names no tier`},
		{"default", `{` + tiers + `, "default_tier": "pro"}`, `"default_tier" names no tier`},
		{"reject_unknown", `{` + tiers + `, "reject_unknown": "yes"}`, `"reject_unknown" must be true or false`},
		{"prompt tier", `{` + tiers + `, "max_prompt_tokens": {"pro": 10}}`, `max_prompt_tokens: "pro" is not a tier`},
		{"prompt value", `{` + tiers + `, "max_prompt_tokens": {"free": 0}}`, `max_prompt_tokens: "free" must be a positive integer`},
		{"status", `{` + tiers + `, "prompt_reject_status": 413}`, `"prompt_reject_status" must be 400 or 429`},
		{"no_model", `{` + tiers + `, "no_model": "skip"}`, `"no_model" must be "reject" or "pass"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "budget: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	cands := `"candidates":[
		{"provider":"mock","model":"mock-small","healthy":true,"circuit":"closed"},
		{"provider":"mock","model":"mock-large","healthy":true,"circuit":"closed"}]`
	for _, tc := range []struct{ name, config, request, want string }{
		{"free lowers max_tokens", specConfig, `{"max_tokens":1024,"metadata":{"tier":"free"}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":512},"reason":"tier free: max_tokens <= 512","tags":["tier:free"]}`},
		{"free keeps a lower max_tokens", specConfig, `{"max_tokens":100,"metadata":{"tier":"free"}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"tier free: max_tokens <= 512","tags":["tier:free"]}`},
		{"default tier", specConfig, `{}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":512},"reason":"tier free: max_tokens <= 512 (default tier)","tags":["tier:free"]}`},
		{"pro", specConfig, `{"max_tokens":1024,"metadata":{"tier":"pro"}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"},{"provider":"mock","model":"mock-small"}],"reason":"tier pro","tags":["tier:pro"]}`},
		{"prompt over", specConfig, `{"prompt_tokens_estimate":4001,"metadata":{"tier":"free"}}`,
			`{"reject":{"status":400,"message":"the free tier allows prompts of at most 4000 tokens; this one has about 4001"},"tags":["tier:free"]}`},
		{"prompt at the limit", specConfig, `{"prompt_tokens_estimate":4000,"max_tokens":10,"metadata":{"tier":"free"}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"tier free: max_tokens <= 512","tags":["tier:free"]}`},
		{"header source", `{"tiers": {"gold": {"models": ["mock-large"]}}, "tier_from": "headers.X-Plan", "reject_unknown": true}`,
			`{"headers":{"x-plan":"gold"}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"}],"reason":"tier gold","tags":["tier:gold"]}`},
		{"header unknown", `{"tiers": {"gold": {"models": ["mock-large"]}}, "tier_from": "headers.X-Plan", "reject_unknown": true}`,
			`{"headers":{"x-plan":"` + strings.Repeat("x", 100) + `"}}`,
			`{"reject":{"status":403,"message":"unknown tier \"` + strings.Repeat("x", 64) + `\""},"tags":["tier:unknown"]}`},
		{"other metadata member", `{"tiers": {"gold": {"models": ["mock-large"]}}, "tier_from": "metadata.plan"}`,
			`{"metadata":{"tier":"free","plan":"gold"}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"}],"reason":"tier gold","tags":["tier:gold"]}`},
		{"no tier", `{"tiers": {"gold": {"models": ["mock-large"]}}}`, `{"metadata":{"tier":"free"}}`, ``},
		{"model missing passes", `{"tiers": {"gold": {"models": ["mock-medium"]}}, "default_tier": "gold", "no_model": "pass"}`, `{}`, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := initRule([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			in := `{"abi":1,"request":` + tc.request + `,` + cands + `}`
			if got := string((&rule.Runner{}).Route(route, []byte(in))); got != tc.want {
				t.Fatalf("output\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestRouteDoesNotAllocate(t *testing.T) {
	if err := initRule([]byte(specConfig)); err != nil {
		t.Fatal(err)
	}
	in := &rule.Input{Request: rule.Request{MaxTokens: 1024, Metadata: map[string]string{"tier": "free"}},
		Candidates: []rule.Candidate{{Provider: "mock", Model: "mock-small", Healthy: true}}}
	var d rule.Decision
	if n := testing.AllocsPerRun(100, func() { d.Reset(); route(in, &d) }); n != 0 {
		t.Fatalf("%v allocations per route, want 0", n)
	}
}
