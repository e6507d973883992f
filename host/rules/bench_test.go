package rules

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// BenchmarkEvaluate measures one chain evaluation per shipped rule, built
// from source, with the deadline switch on and a ~1 KB input. The rule's
// config is taken from its first golden case.
func BenchmarkEvaluate(b *testing.B) {
	in := testInput()
	b.Logf("input: %d bytes", len(abi.AppendInput(nil, in, nil)))
	for _, name := range shippedRules(b) {
		b.Run(name, func(b *testing.B) {
			var cfg json.RawMessage
			if cases, err := ReadGolden(filepath.Join(repoRoot(b), "rules-wasm", name, "testdata", "golden")); err == nil {
				cfg = cases[0].Config
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

// BenchmarkValidate measures one Validate call: a WAT validator, the Go
// fixture with a validate function, and a shipped Go rule without one
// (it does not export sy_validate: the chain has no validator to ask).
func BenchmarkValidate(b *testing.B) {
	for _, tc := range []struct {
		name string
		path func(b *testing.B) string
	}{
		{"wat", func(b *testing.B) string { return wat(b, "validate_retry.wat") }},
		{"go", func(b *testing.B) string { return goRule(b, "host/rules/testdata/govalidate") }},
		{"go-without-validate", func(b *testing.B) string { return buildShippedRule(b, "tiered") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := load(b, Options{}, Spec{Name: "v", Path: tc.path(b), Limits: Limits{Deadline: 50 * time.Millisecond}})
			ctx := context.Background()
			in := validateInput("a short answer")
			if v := c.Validate(ctx, in); v.Verdict != VerdictAccept {
				b.Fatalf("%+v", v)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.Validate(ctx, in)
			}
		})
	}
}
