package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

func cand(provider, model string) rule.Candidate {
	return rule.Candidate{Provider: provider, Model: model, Healthy: true, Circuit: "closed"}
}

func mustInit(t *testing.T, config string) {
	t.Helper()
	if err := initRule([]byte(config)); err != nil {
		t.Fatalf("init %s: %v", config, err)
	}
}

func decide(in *rule.Input) *rule.Decision {
	var d rule.Decision
	route(in, &d)
	return &d
}

func models(d *rule.Decision) string {
	var s []string
	for _, t := range d.Targets {
		s = append(s, t.Provider+"/"+t.Model)
	}
	return strings.Join(s, ",")
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"no weights", `{}`, `"weights" must be a non-empty object`},
		{"weights not object", `{"weights": ["a"]}`, `"weights" must be a non-empty object`},
		{"negative", `{"weights": {"a": -1}}`, `"a" must be a number >= 0`},
		{"string weight", `{"weights": {"a": "1"}}`, `"a" must be a number >= 0`},
		{"all zero", `{"weights": {"a": 0}}`, "at least one weight must be above 0"},
		{"duplicate", `{"weights": {"a": 1, "a": 2}}`, `"a" is listed twice`},
		{"unknown key", `{"weights": {"a": 1}, "stiky": "user"}`, `unknown config key "stiky"`},
		{"bad sticky", `{"weights": {"a": 1}, "sticky": "session"}`, `"sticky" must be`},
		{"bad salt", `{"weights": {"a": 1}, "salt": 3}`, `"salt" must be a string`},
		{"bad fallback", `{"weights": {"a": 1}, "fallback": "yes"}`, `"fallback" must be true or false`},
		{"repeated key", `{"weights": {"a": 1}, "salt": "x", "salt": "y"}`, `weighted: config key "salt" is repeated`},
		{"not an object", `[]`, "config must be an object"},
		{"bad json", `{"weights": `, "weighted: config:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSplitFollowsWeights(t *testing.T) {
	mustInit(t, `{"weights": {"mock-small": 90, "mock-large": 10}}`)
	in := &rule.Input{Candidates: []rule.Candidate{cand("mock", "mock-small"), cand("mock", "mock-large")}}
	large := 0
	const n = 20000
	for seed := range uint64(n) {
		in.RandomSeed = seed
		d := decide(in)
		if len(d.Targets) != 2 {
			t.Fatalf("seed %d: targets %s, want both (fallback)", seed, models(d))
		}
		if d.Targets[0].Model == "mock-large" {
			large++
		}
	}
	if share := float64(large) / n; share < 0.09 || share > 0.11 {
		t.Fatalf("mock-large got %.3f of the traffic, want ~0.10", share)
	}
}

func TestRenormalisedWhenArmMissing(t *testing.T) {
	mustInit(t, `{"weights": {"a": 50, "b": 25, "c": 25}, "fallback": false}`)
	in := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b")}}
	counts := map[string]int{}
	const n = 20000
	for seed := range uint64(n) {
		in.RandomSeed = seed
		counts[models(decide(in))]++
	}
	if len(counts) != 2 {
		t.Fatalf("arms chosen: %v, want only a and b", counts)
	}
	if share := float64(counts["p/a"]) / n; share < 0.64 || share > 0.69 {
		t.Fatalf("a got %.3f, want ~2/3 once c is missing", share)
	}
}

func TestStickyUser(t *testing.T) {
	mustInit(t, `{"weights": {"a": 1, "b": 1, "c": 1}, "sticky": "user", "salt": "exp-1", "fallback": false}`)
	all := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b"), cand("p", "c")}}
	noC := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b")}}
	moved := 0
	for u := range 3000 {
		user := "user-" + strconv.Itoa(u)
		all.Request.User, noC.Request.User = user, user
		all.RandomSeed = 1
		first := models(decide(all))
		all.RandomSeed = 999
		if again := models(decide(all)); again != first {
			t.Fatalf("%s: %s then %s: not sticky", user, first, again)
		}
		without := models(decide(noC))
		if first != "p/c" && without != first {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d users not on c changed arm when c went away", moved)
	}
}

func TestStickySaltChangesAssignment(t *testing.T) {
	in := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b")}}
	assign := func(salt string) string {
		mustInit(t, `{"weights": {"a": 1, "b": 1}, "sticky": "key", "salt": "`+salt+`", "fallback": false}`)
		var s strings.Builder
		for k := range 64 {
			in.Request.Key = "team-" + strconv.Itoa(k)
			s.WriteString(models(decide(in)))
		}
		return s.String()
	}
	if assign("one") == assign("two") {
		t.Fatal("64 keys got the same arms under two salts")
	}
}

func TestStickyWithoutUserUsesSeed(t *testing.T) {
	mustInit(t, `{"weights": {"a": 1, "b": 1}, "sticky": "user"}`)
	in := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b")}}
	d := decide(in)
	if !strings.Contains(d.Reason, "random_seed (no user)") {
		t.Fatalf("reason %q", d.Reason)
	}
}

func TestFallbackOrderAndDedup(t *testing.T) {
	mustInit(t, `{"weights": {"c": 5, "a": 20, "p/b": 20, "b": 1}}`)
	in := &rule.Input{Candidates: []rule.Candidate{cand("p", "a"), cand("p", "b"), cand("p", "c"), cand("q", "b")}}
	for seed := range uint64(200) {
		in.RandomSeed = seed
		d := decide(in)
		got := models(d)
		switch d.Targets[0].Model {
		case "a":
			if got != "p/a,p/b,p/c,q/b" {
				t.Fatalf("seed %d: %s", seed, got)
			}
		case "b":
			if got != "p/b,p/a,p/c,q/b" && got != "p/b,q/b,p/a,p/c" {
				t.Fatalf("seed %d: %s", seed, got)
			}
		case "c":
			if got != "p/c,p/a,p/b,q/b" {
				t.Fatalf("seed %d: %s", seed, got)
			}
		}
	}
}

func TestUnavailableSkipped(t *testing.T) {
	mustInit(t, `{"weights": {"a": 99, "b": 1}}`)
	a := cand("p", "a")
	a.Circuit = "open"
	b := cand("p", "b")
	in := &rule.Input{Candidates: []rule.Candidate{a, b}}
	if got := models(decide(in)); got != "p/b" {
		t.Fatalf("targets %s, want p/b", got)
	}
	mustInit(t, `{"weights": {"a": 99, "b": 1}, "skip_unavailable": false}`)
	in.RandomSeed = 1
	if got := models(decide(in)); got != "p/a,p/b" {
		t.Fatalf("targets %s, want p/a,p/b", got)
	}
	b.Healthy = false
	mustInit(t, `{"weights": {"b": 1}}`)
	in.Candidates = []rule.Candidate{a, b}
	if d := decide(in); !d.NoOpinion() {
		t.Fatalf("targets %s, want no opinion", models(d))
	}
}

func TestRouteDoesNotAllocateMuch(t *testing.T) {
	mustInit(t, `{"weights": {"mock-small": 90, "mock-large": 10}, "sticky": "user"}`)
	in := &rule.Input{Candidates: []rule.Candidate{cand("mock", "mock-small"), cand("mock", "mock-large")}}
	in.Request.User = "u1"
	var d rule.Decision
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset()
		route(in, &d)
	})
	if allocs > 1 { // the reason string
		t.Fatalf("%v allocations per route", allocs)
	}
}
