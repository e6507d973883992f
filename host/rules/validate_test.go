package rules

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validateInput is an answer of mock/mock-small with the given content.
func validateInput(content string) *ValidateInput {
	return &ValidateInput{
		Request: testInput().Request,
		Target:  Target{Provider: "mock", Model: "mock-small"},
		Answer:  Answer{Content: content, FinishReason: "stop", Usage: &AnswerUsage{PromptTokens: 523, CompletionTokens: 12}},
	}
}

// TestValidateVerdicts: the active rules that export sy_validate are asked
// in chain order and the first verdict other than accept wins; rules
// without sy_validate and shadow rules are not asked.
func TestValidateVerdicts(t *testing.T) {
	rec := &recorder{}
	c := load(t, Options{Observer: rec},
		Spec{Name: "decide", Path: wat(t, "decide.wat")},
		Spec{Name: "retry", Path: wat(t, "validate_retry.wat")},
		Spec{Name: "empty", Path: wat(t, "validate_fallback.wat")},
		Spec{Name: "shadow", Path: wat(t, "validate_trap.wat"), Mode: ModeShadow, OnError: OnErrorFail},
	)
	if !c.HasValidators() {
		t.Fatal("HasValidators = false")
	}
	label := func(name string) string {
		for _, r := range c.all {
			if r.spec.Name == name {
				return r.label
			}
		}
		return ""
	}
	tests := []struct {
		name     string
		content  string
		want     Verdict
		verdicts string // what the ValidationObserver saw
	}{
		{name: "all accept", content: "hello", want: Verdict{Verdict: VerdictAccept}, verdicts: "retry:accept empty:accept"},
		{name: "second rule falls back", content: "", want: Verdict{Rule: label("empty"), Verdict: VerdictFallback, Reason: "empty content"},
			verdicts: "retry:accept empty:fallback"},
		{name: "first rule retries", content: "please RETRY", want: Verdict{Rule: label("retry"), Verdict: VerdictRetry, Reason: "asked to retry"},
			verdicts: "retry:retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.verdicts, rec.outcomes = nil, nil
			rec.mu.Unlock()
			if got := c.Validate(context.Background(), validateInput(tt.content)); got != tt.want {
				t.Fatalf("Validate = %+v, want %+v", got, tt.want)
			}
			if got := strings.Join(rec.verdicts, " "); got != tt.verdicts {
				t.Errorf("observer saw verdicts %q, want %q", got, tt.verdicts)
			}
			if len(rec.outcomes) != 0 {
				t.Errorf("observer saw outcomes %q", rec.outcomes)
			}
		})
	}
}

// TestValidateErrors: a sy_validate that traps, returns an unknown verdict
// or passes its deadline is counted as error or timeout and accepts with
// on_error: skip, fails the answer with on_error: fail.
func TestValidateErrors(t *testing.T) {
	const deadline = 20 * time.Millisecond
	tests := []struct {
		name    string
		fixture string
		content string
		onError string
		outcome string
		reason  string // in the fail verdict's Reason
	}{
		{name: "trap, skip", fixture: "validate_trap.wat", content: "x", onError: OnErrorSkip, outcome: OutcomeError},
		{name: "trap, fail", fixture: "validate_trap.wat", content: "x", onError: OnErrorFail, outcome: OutcomeError, reason: "unreachable"},
		{name: "unknown verdict, skip", fixture: "validate_retry.wat", content: "BADVERDICT", onError: OnErrorSkip, outcome: OutcomeError},
		{name: "unknown verdict, fail", fixture: "validate_retry.wat", content: "BADVERDICT", onError: OnErrorFail, outcome: OutcomeError,
			reason: `verdict "maybe" is not accept, retry, fallback or fail`},
		{name: "loop, skip", fixture: "validate_retry.wat", content: "LOOP", onError: OnErrorSkip, outcome: OutcomeTimeout},
		{name: "loop, fail", fixture: "validate_retry.wat", content: "LOOP", onError: OnErrorFail, outcome: OutcomeTimeout, reason: "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := load(t, Options{Observer: rec, QuarantineAfter: -1},
				// Two instances: a trap or a timeout discards one, and the pool
				// refills in the background.
				Spec{Name: "judge", Path: wat(t, tt.fixture), OnError: tt.onError, Limits: Limits{Deadline: deadline, Pool: 2}},
				Spec{Name: "empty", Path: wat(t, "validate_fallback.wat")},
			)
			for round := range 2 { // the pool refills after a trap or a timeout
				waitPool(t, c.all[0])
				rec.mu.Lock()
				rec.outcomes, rec.verdicts = nil, nil
				rec.mu.Unlock()
				got := c.Validate(context.Background(), validateInput(tt.content))
				if want := []string{"judge:" + tt.outcome}; !reflect.DeepEqual(rec.outcomes, want) {
					t.Errorf("round %d: observer saw %q, want %q", round, rec.outcomes, want)
				}
				if tt.onError == OnErrorSkip {
					// The next rule is asked, and accepts.
					if got != (Verdict{Verdict: VerdictAccept}) || !reflect.DeepEqual(rec.verdicts, []string{"empty:accept"}) {
						t.Fatalf("round %d: %+v, verdicts %q: want the next rule's accept", round, got, rec.verdicts)
					}
					continue
				}
				if len(rec.verdicts) != 0 {
					t.Errorf("round %d: the next rule was asked after a failure with on_error: fail", round)
				}
				if got.Verdict != VerdictFail || !strings.HasPrefix(got.Rule, "judge@") ||
					!strings.Contains(got.Reason, "rules/judge: sy_validate "+tt.outcome) || !strings.Contains(got.Reason, tt.reason) {
					t.Fatalf("round %d: %+v, want fail by judge mentioning %q", round, got, tt.reason)
				}
			}
		})
	}
}

func TestHasValidators(t *testing.T) {
	decide, trap := wat(t, "decide.wat"), wat(t, "validate_trap.wat")
	if c := load(t, Options{}, Spec{Name: "decide", Path: decide}); c.HasValidators() {
		t.Error("a chain without sy_validate has validators")
	}
	if c := load(t, Options{}, Spec{Name: "decide", Path: decide}, Spec{Name: "s", Path: trap, Mode: ModeShadow}); c.HasValidators() {
		t.Error("a shadow rule counts as a validator")
	}
	c := load(t, Options{QuarantineAfter: 2}, Spec{Name: "trap", Path: trap, Limits: Limits{Deadline: time.Second}})
	if !c.HasValidators() {
		t.Fatal("HasValidators = false")
	}
	for range 2 {
		waitPool(t, c.all[0])
		if v := c.Validate(context.Background(), validateInput("x")); v.Verdict != VerdictAccept {
			t.Fatalf("%+v", v)
		}
	}
	if c.HasValidators() {
		t.Error("a quarantined rule counts as a validator")
	}
	if info := c.Rules(); !info[0].Quarantined {
		t.Error("sy_validate failures do not count towards quarantine")
	}
}

// TestValidateGoRule runs the Go SDK's sy_validate end to end
// (testdata/govalidate).
func TestValidateGoRule(t *testing.T) {
	c := load(t, Options{}, Spec{Name: "gov", Path: goRule(t, "host/rules/testdata/govalidate"), Limits: Limits{Deadline: time.Second, Pool: 1}})
	if !c.HasValidators() {
		t.Fatal("HasValidators = false")
	}
	if res := c.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeNoOpinion {
		t.Fatalf("sy_route: %+v", res.Trace[0])
	}
	withCalls := func(usage bool) *ValidateInput {
		in := validateInput("")
		in.Answer.FinishReason = "tool_calls"
		in.Answer.ToolCalls = []AnswerToolCall{{ID: "call_1", Name: "lookup", Arguments: `{"q":"x"}`}}
		if !usage {
			in.Answer.Usage = nil
		}
		return in
	}
	tests := []struct {
		name    string
		in      *ValidateInput
		verdict string
		reason  string
	}{
		{name: "accept", in: validateInput("fine"), verdict: VerdictAccept},
		{name: "retry", in: validateInput("RETRY please"), verdict: VerdictRetry, reason: "asked to retry"},
		{name: "fallback names target and finish reason", in: validateInput(""), verdict: VerdictFallback, reason: "empty answer from mock/mock-small (stop)"},
		{name: "tool call with usage", in: withCalls(true), verdict: VerdictAccept},
		{name: "tool call without usage", in: withCalls(false), verdict: VerdictFail, reason: "tool call without usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.Validate(context.Background(), tt.in)
			if v.Verdict != tt.verdict || v.Reason != tt.reason || (tt.verdict == VerdictAccept) != (v.Rule == "") {
				t.Fatalf("Validate = %+v, want %s %q", v, tt.verdict, tt.reason)
			}
		})
	}
}
