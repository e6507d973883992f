package rules

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// TestGolden builds every shipped rule from source and runs its golden
// cases with RunGolden, as the router's load path and `switchyard rules
// test` do, with the module instrumented.
func TestGolden(t *testing.T) {
	for _, name := range shippedRules(t) {
		t.Run(name, func(t *testing.T) {
			cases, err := ReadGolden(filepath.Join(repoRoot(t), "rules-wasm", name, "testdata", "golden"))
			if err != nil {
				t.Fatalf("rules-wasm/%s: %v", name, err)
			}
			spec := Spec{Name: name, Path: buildShippedRule(t, name), Limits: Limits{Deadline: time.Second, Pool: 1}}
			opts := Options{CacheDir: testkit.CacheDir(t)}
			check := spec
			check.Config, check.Headers = cases[0].Config, cases[0].Headers
			if c := load(t, opts, check); !c.all[0].instrumented {
				t.Fatal("loaded without the stop flag (wazero's context check)")
			}
			results, err := RunGolden(context.Background(), spec, cases, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != len(cases) {
				t.Fatalf("%d results for %d cases", len(results), len(cases))
			}
			for _, r := range results {
				t.Run(strings.TrimSuffix(filepath.Base(r.Case.File), ".json"), func(t *testing.T) {
					if r.Problem != "" {
						t.Errorf("%s: %s; got %s", r.Case.File, r.Problem, orNone(r.Output))
					}
				})
			}
		})
	}
}

// TestGoRuleSmallMemory runs a Go rule under the smallest memory limit the
// docs allow (8 MiB) for long enough to cycle its garbage collector.
func TestGoRuleSmallMemory(t *testing.T) {
	c := load(t, Options{}, Spec{Name: "tiered", Path: buildShippedRule(t, "tiered"),
		Limits: Limits{MemoryMiB: 8, Pool: 1, Deadline: time.Second}})
	in := testInput()
	for i := range 3000 {
		res := c.Evaluate(context.Background(), in)
		if res.Trace[0].Outcome != OutcomeDecided {
			t.Fatalf("evaluation %d: %s: %s", i, res.Trace[0].Outcome, res.Trace[0].Error)
		}
	}
}
