package main

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

func cand(model string, p95 float64, mod ...func(*rule.Candidate)) rule.Candidate {
	c := rule.Candidate{Provider: "mock", Model: model, P50MS: p95 / 3, P95MS: p95, Healthy: true, Circuit: "closed"}
	for _, m := range mod {
		m(&c)
	}
	return c
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
		{"unknown key", `{"metrc": "p50"}`, `unknown config key "metrc"`},
		{"repeated key", `{"metric": "p50", "metric": "p95"}`, `config key "metric" is repeated`},
		{"metric", `{"metric": "p99"}`, `"metric" must be "p95" or "p50"`},
		{"mode", `{"mode": "random"}`, `"mode" must be "latency" or "least_inflight"`},
		{"mode type", `{"mode": 1}`, `"mode" must be`},
		{"unmeasured", `{"unmeasured": "middle"}`, `"unmeasured" must be "last" or "first"`},
		{"penalty", `{"error_penalty_ms": -5}`, `"error_penalty_ms" must be a number from 0`},
		{"inflight penalty", `{"inflight_penalty_ms": "5"}`, `"inflight_penalty_ms" must be a number`},
		{"error rate", `{"max_error_rate": 1.5}`, `"max_error_rate" must be a number from 0 to 1`},
		{"targets", `{"max_targets": 0}`, `"max_targets" must be an integer from 1 to 64`},
		{"half open", `{"allow_half_open": "no"}`, `"allow_half_open" must be true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOrder(t *testing.T) {
	halfOpen := func(c *rule.Candidate) { c.Circuit = "half_open" }
	busy := func(n int64) func(*rule.Candidate) { return func(c *rule.Candidate) { c.Inflight = n } }
	failing := func(r float64) func(*rule.Candidate) { return func(c *rule.Candidate) { c.ErrorRate = r } }
	for _, tc := range []struct {
		name, config string
		cands        []rule.Candidate
		want, reason string
	}{
		{"by p95", `{}`, []rule.Candidate{cand("a", 900), cand("b", 300), cand("c", 600)}, "b,c,a", "fastest: b scores 300 ms (3 of 3 usable)"},
		{"no stats keeps input order", `{}`, []rule.Candidate{cand("a", 0, failing(0.5)), cand("b", 0), cand("c", 0, busy(9))},
			"a,b,c", "no latency stats yet: input order (3 of 3 usable)"},
		{"unmeasured last", `{}`, []rule.Candidate{cand("a", 0), cand("b", 300)}, "b,a", ""},
		{"unmeasured first", `{"unmeasured": "first"}`, []rule.Candidate{cand("b", 300), cand("a", 0)}, "a,b", ""},
		{"half open last even if fastest", `{}`, []rule.Candidate{cand("a", 100, halfOpen), cand("b", 900)}, "b,a", ""},
		{"half open last even unmeasured first", `{"unmeasured": "first"}`, []rule.Candidate{cand("a", 0, halfOpen), cand("b", 900)}, "b,a", ""},
		{"error penalty", `{"error_penalty_ms": 2000}`, []rule.Candidate{cand("a", 100, failing(0.5)), cand("b", 900)}, "b,a", ""},
		{"least inflight then latency", `{"mode": "least_inflight"}`,
			[]rule.Candidate{cand("a", 100, busy(3)), cand("b", 900, busy(1)), cand("c", 500, busy(1))}, "c,b,a", "fewest in flight: c with 1 (3 of 3 usable)"},
		{"ties keep input order", `{}`, []rule.Candidate{cand("a", 500), cand("b", 500)}, "a,b", ""},
		{"dropped", `{"max_error_rate": 0.1}`, []rule.Candidate{cand("a", 100, failing(0.2)), cand("b", 100, func(c *rule.Candidate) { c.Healthy = false })}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := initRule([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			var d rule.Decision
			route(&rule.Input{Candidates: tc.cands}, &d)
			if got := models(&d); got != tc.want {
				t.Fatalf("targets %q, want %q (reason %q)", got, tc.want, d.Reason)
			}
			if tc.reason != "" && d.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestRouteAllocations(t *testing.T) {
	if err := initRule(nil); err != nil {
		t.Fatal(err)
	}
	in := &rule.Input{Candidates: []rule.Candidate{cand("a", 900), cand("b", 300), cand("c", 600)}}
	var d rule.Decision
	if n := testing.AllocsPerRun(100, func() { d.Reset(); route(in, &d) }); n > 1 {
		t.Fatalf("%v allocations per route, want at most 1 (the reason)", n)
	}
}
