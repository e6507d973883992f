package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStopped: guests that never return are stopped at their deadline
// (plus slack) and count as timeouts, through the stop flag or, for a
// module the rewriter does not decode, through wazero's context check;
// the rule then serves the next request.
func TestStopped(t *testing.T) {
	const deadline = 20 * time.Millisecond
	tests := []struct {
		name         string
		fixture      string
		instrumented bool
	}{
		{name: "tight loop", fixture: "loop.wat", instrumented: true},
		{name: "loop in nested blocks", fixture: "nestedloop.wat", instrumented: true},
		{name: "recursion without loops", fixture: "fanout.wat", instrumented: true},
		{name: "cycle of Go-style dispatch jumps", fixture: "dispatch.wat", instrumented: true},
		{name: "undecoded opcode falls back", fixture: "simd.wat", instrumented: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, Options{}, Spec{Name: "fx", Path: wat(t, tt.fixture), Limits: Limits{Deadline: deadline, Pool: 1}})
			if got := c.all[0].instrumented; got != tt.instrumented {
				t.Fatalf("instrumented = %v, want %v", got, tt.instrumented)
			}
			looping := testInput()
			looping.Request.Tags = []string{"loop-forever"}
			for round := range 2 {
				waitPool(t, c.all[0])
				res := c.Evaluate(context.Background(), looping)
				if tr := res.Trace[0]; tr.Outcome != OutcomeTimeout || !strings.Contains(tr.Error, "deadline") || tr.Duration < deadline {
					t.Fatalf("round %d: outcome %q (%s) after %s, want timeout at the deadline", round, tr.Outcome, tr.Error, tr.Duration)
				}
			}
			if tt.fixture == "fanout.wat" {
				return // it never decides
			}
			waitPool(t, c.all[0])
			if res := c.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeDecided {
				t.Fatalf("after timeouts: %s: %s", res.Trace[0].Outcome, res.Trace[0].Error)
			}
		})
	}
}

// TestContextDoneBeforeCall: a request whose context is already over does
// not run the rule, and the rule is not blamed.
func TestContextDoneBeforeCall(t *testing.T) {
	c := load(t, Options{QuarantineAfter: 1}, Spec{Name: "loop", Path: wat(t, "loop.wat"), Limits: Limits{Deadline: time.Second, Pool: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	looping := testInput()
	looping.Request.Tags = []string{"loop-forever"}
	// "not run" shows the guest was never called (had it been, it would
	// have looped until its deadline and said so).
	res := c.Evaluate(ctx, looping)
	if tr := res.Trace[0]; tr.Outcome != OutcomeTimeout || !strings.Contains(tr.Error, "not run") {
		t.Fatalf("trace %+v", tr)
	}
	if res := c.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeDecided {
		t.Fatalf("next request: %+v", res.Trace[0])
	}
}

// TestLoadRefusesReservedName: the stop flag's name is the host's.
func TestLoadRefusesReservedName(t *testing.T) {
	c, err := Load(context.Background(), []Spec{{Name: "bad", Path: wat(t, "reserved.wat")}}, Options{})
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Load succeeded")
	}
	if !strings.Contains(err.Error(), "reserves") {
		t.Fatalf("error %q", err)
	}
}

// TestLoadRefusesSizeBomb: a module whose sizes would make wazero allocate
// gigabytes is refused before wazero sees it (internal/instrument's
// CheckSizes), with a message.
func TestLoadRefusesSizeBomb(t *testing.T) {
	const bomb = "\x00asm\x01\x00\x00\x00" + "\x0b\x07\x01\x01\xff\xff\xff\xff\x0f" // a 4 GB data segment
	c, err := Load(t.Context(), []Spec{{Name: "bomb", Path: writeTemp(t, bomb)}}, Options{})
	if err == nil {
		c.Close(t.Context())
		t.Fatal("Load accepted a data segment bomb")
	}
	if !strings.Contains(err.Error(), "malformed module") {
		t.Fatalf("Load: %v", err)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
