package rules

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkEvaluate measures one chain evaluation per shipped rule, built
// from source, with the deadline switch on and a ~1 KB input. The rule's
// config is taken from its first golden case.
func BenchmarkEvaluate(b *testing.B) {
	in := testInput()
	b.Logf("input: %d bytes", len(appendInput(nil, in, nil)))
	for _, name := range shippedRules(b) {
		b.Run(name, func(b *testing.B) {
			var cfg json.RawMessage
			files, _ := filepath.Glob(filepath.Join(repoRoot(b), "rules-wasm", name, "testdata", "golden", "*.json"))
			if len(files) > 0 {
				data, err := os.ReadFile(files[0])
				if err != nil {
					b.Fatal(err)
				}
				var g golden
				if err := json.Unmarshal(data, &g); err != nil {
					b.Fatal(err)
				}
				cfg = g.Config
			}
			c := load(b, Options{}, Spec{Name: name, Path: buildShippedRule(b, name), Config: cfg,
				Limits: Limits{Deadline: 50 * time.Millisecond}})
			ctx := context.Background()
			if res := c.Evaluate(ctx, in); res.Trace[0].Outcome == OutcomeError || res.Trace[0].Outcome == OutcomeTimeout {
				b.Fatalf("%s: %s", res.Trace[0].Outcome, res.Trace[0].Error)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.Evaluate(ctx, in)
			}
		})
	}
}
