package rules

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// BenchmarkEvaluate measures one chain evaluation per shipped rule, built
// from source, with the deadline switch on and a ~1 KB input. The rule's
// config is taken from its first golden case, and so is its content size and
// request.content for a rule that needs them (content-router, guard).
func BenchmarkEvaluate(b *testing.B) {
	b.Logf("input: %d bytes", len(abi.AppendInput(nil, testInput(), nil)))
	for _, name := range shippedRules(b) {
		b.Run(name, func(b *testing.B) {
			in := testInput()
			spec := Spec{Name: name, Path: buildShippedRule(b, name), Limits: Limits{Deadline: 50 * time.Millisecond}}
			if cases, err := ReadGolden(filepath.Join(repoRoot(b), "rules-wasm", name, "testdata", "golden")); err == nil {
				spec.Config = cases[0].Config
				if gc := cases[0].Content; gc != nil {
					var rec Input
					if err := json.Unmarshal(cases[0].Input, &rec); err != nil {
						b.Fatal(err)
					}
					spec.ContentBytes, in.Request.Content = gc.MaxBytes, rec.Request.Content
				}
			}
			c := load(b, Options{}, spec)
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

// BenchmarkContent measures a chain evaluation of one WAT rule that has no
// opinion, "without" request.content (no rule opted in: the pipeline
// computes none, the encoder writes none), and "content" when the rule opted
// in (4 KiB), the input carrying content: the cost of content to the engine,
// apart from the rule's own reading.
func BenchmarkContent(b *testing.B) {
	for _, tc := range []struct {
		name    string
		in      *Input
		content int
	}{
		{"without", testInput(), 0},
		{"content", testkit.InputWithContent(), testkit.ContentBytes},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := load(b, Options{}, Spec{Name: "n", Path: wat(b, "noopinion.wat"), ContentBytes: tc.content})
			ctx := context.Background()
			if res := c.Evaluate(ctx, tc.in); res.Trace[0].Outcome != OutcomeNoOpinion {
				b.Fatalf("%s: %s", res.Trace[0].Outcome, res.Trace[0].Error)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Evaluate(ctx, tc.in)
			}
		})
	}
}
