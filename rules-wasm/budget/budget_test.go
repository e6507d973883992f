package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

const specConfig = `{"tiers": {"free": {"models": ["mock-small"], "max_tokens": 512}, "pro": {"models": ["mock-large", "mock-small"]}},
	"tier_from": "metadata.tier", "key_tiers": null, "default_tier": "free", "reject_unknown": false, "max_prompt_tokens": {"free": 4000}}`

// downConfig adds a cheap tier and a downgrade to it to specConfig.
const downConfig = `{"tiers": {"free": {"models": ["mock-small"], "max_tokens": 512}, "cheap": {"models": ["mock-medium", "mock-small"], "max_tokens": 256},
	"pro": {"models": ["mock-large", "mock-small"]}},
	"tier_from": "metadata.tier", "default_tier": "free", "max_prompt_tokens": {"cheap": 4000},
	"downgrade": {"to_tier": "cheap", "below_remaining_fraction": 0.2, "below_rpm_fraction": 0.1, "below_tpm_fraction": 0.1, "from_tiers": ["pro"]}}`

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
		{"downgrade not object", `{` + tiers + `, "downgrade": 0.2}`, `"downgrade" must be an object`},
		{"downgrade unknown key", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_fraction": 0.2}}`, `unknown config key "downgrade.below_fraction"`},
		{"downgrade no tier", `{` + tiers + `, "downgrade": {"below_remaining_fraction": 0.2}}`, `downgrade: "to_tier" is required`},
		{"downgrade unknown tier", `{` + tiers + `, "downgrade": {"to_tier": "cheap", "below_remaining_fraction": 0.2}}`, `must name a tier in "tiers"`},
		{"downgrade no trigger", `{` + tiers + `, "downgrade": {"to_tier": "free"}}`, `downgrade: set at least one of`},
		{"downgrade fraction 0", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_remaining_fraction": 0}}`, `"below_remaining_fraction" must be a number above 0 and at most 1`},
		{"downgrade percent", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_rpm_fraction": 20}}`, `"below_rpm_fraction" must be a number above 0 and at most 1`},
		{"downgrade fraction string", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_tpm_fraction": "0.1"}}`, `"below_tpm_fraction" must be a number`},
		{"downgrade from_tiers", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_rpm_fraction": 0.1, "from_tiers": ["pro"]}}`, `from_tiers: "pro" is not a tier`},
		{"downgrade from_tiers empty", `{` + tiers + `, "downgrade": {"to_tier": "free", "below_rpm_fraction": 0.1, "from_tiers": []}}`, `"from_tiers" must be a non-empty array`},
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
	// No mock-medium: the cheap tier of downConfig is left with mock-small.
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

		// downgrade, by request.budget and request.limits
		{"plenty left", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":10,"period":"day","spent_usd":2.5,"remaining_usd":7.5,"resets_unix_ms":1},"limits":{"rpm":30,"rpm_remaining":12,"tpm":100000,"tpm_remaining":50000}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"},{"provider":"mock","model":"mock-small"}],"reason":"tier pro","tags":["tier:pro"]}`},
		{"budget low", downConfig, `{"max_tokens":1024,"metadata":{"tier":"pro"},"budget":{"usd":10,"period":"day","spent_usd":8.5,"remaining_usd":1.5,"resets_unix_ms":1}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"budget 15% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:budget"]}`},
		{"budget spent", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":10,"period":"total","spent_usd":10.2,"remaining_usd":0,"resets_unix_ms":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"budget 0% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:budget"]}`},
		{"budget at the fraction", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":10,"period":"day","spent_usd":8,"remaining_usd":2}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"},{"provider":"mock","model":"mock-small"}],"reason":"tier pro","tags":["tier:pro"]}`},
		{"rpm low", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":10,"remaining_usd":9},"limits":{"rpm":30,"rpm_remaining":2,"tpm":0,"tpm_remaining":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"rpm 6% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:rpm"]}`},
		{"percent past float noise", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":10,"remaining_usd":1.4},"limits":null}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"budget 14% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:budget"]}`},
		{"tpm low", downConfig, `{"metadata":{"tier":"pro"},"limits":{"rpm":0,"rpm_remaining":0,"tpm":100000,"tpm_remaining":5000}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"tpm 5% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:tpm"]}`},
		{"budget checked first", downConfig, `{"metadata":{"tier":"pro"},"budget":{"usd":4,"remaining_usd":0.5},"limits":{"rpm":30,"rpm_remaining":0,"tpm":100,"tpm_remaining":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":256},"reason":"budget 12% left: downgraded to cheap, max_tokens <= 256","tags":["tier:cheap","downgrade:budget"]}`},
		{"no limit is no trigger", downConfig, `{"metadata":{"tier":"pro"},"limits":{"rpm":0,"rpm_remaining":0,"tpm":0,"tpm_remaining":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"},{"provider":"mock","model":"mock-small"}],"reason":"tier pro","tags":["tier:pro"]}`},
		{"no budget, no limits", downConfig, `{"metadata":{"tier":"pro"}}`,
			`{"targets":[{"provider":"mock","model":"mock-large"},{"provider":"mock","model":"mock-small"}],"reason":"tier pro","tags":["tier:pro"]}`},
		{"tier not in from_tiers", downConfig, `{"metadata":{"tier":"free"},"budget":{"usd":10,"remaining_usd":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":512},"reason":"tier free: max_tokens <= 512","tags":["tier:free"]}`},
		{"downgraded prompt over the cheap limit", downConfig, `{"prompt_tokens_estimate":5000,"metadata":{"tier":"pro"},"budget":{"usd":10,"remaining_usd":1}}`,
			`{"reject":{"status":400,"message":"the cheap tier allows prompts of at most 4000 tokens; this one has about 5000"},"tags":["tier:cheap","downgrade:budget"]}`},
		{"no tier, downgraded", `{"tiers": {"cheap": {"models": ["mock-small"]}}, "downgrade": {"to_tier": "cheap", "below_rpm_fraction": 0.5}}`,
			`{"limits":{"rpm":10,"rpm_remaining":4,"tpm":0,"tpm_remaining":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"rpm 40% left: downgraded to cheap","tags":["tier:cheap","downgrade:rpm"]}`},
		{"no tier, plenty left", `{"tiers": {"cheap": {"models": ["mock-small"]}}, "downgrade": {"to_tier": "cheap", "below_rpm_fraction": 0.5}}`,
			`{"limits":{"rpm":10,"rpm_remaining":6,"tpm":0,"tpm_remaining":0}}`, ``},
		{"already in the cheap tier", `{"tiers": {"cheap": {"models": ["mock-small"]}}, "default_tier": "cheap", "downgrade": {"to_tier": "cheap", "below_remaining_fraction": 0.5}}`,
			`{"budget":{"usd":1,"remaining_usd":0}}`,
			`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"tier cheap (default tier)","tags":["tier:cheap"]}`},
		{"unknown tier still rejected", `{"tiers": {"cheap": {"models": ["mock-small"]}}, "reject_unknown": true, "downgrade": {"to_tier": "cheap", "below_remaining_fraction": 0.5}}`,
			`{"metadata":{"tier":"gold"},"budget":{"usd":1,"remaining_usd":0}}`,
			`{"reject":{"status":403,"message":"unknown tier \"gold\""},"tags":["tier:unknown"]}`},
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
	// A downgrade builds its reason once per trigger and percent.
	if err := initRule([]byte(downConfig)); err != nil {
		t.Fatal(err)
	}
	in.Request.Metadata["tier"] = "pro"
	in.Request.Budget = &rule.Budget{USD: 10, RemainingUSD: 1.5}
	in.Candidates = append(in.Candidates, rule.Candidate{Provider: "mock", Model: "mock-medium", Healthy: true})
	if n := testing.AllocsPerRun(100, func() { d.Reset(); route(in, &d) }); n != 0 || d.Reason != "budget 15% left: downgraded to cheap, max_tokens <= 256" {
		t.Fatalf("%v allocations per downgraded route (reason %q), want 0", n, d.Reason)
	}
}
