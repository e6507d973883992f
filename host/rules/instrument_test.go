package rules

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// compiles reports whether wazero (the engine's configuration, a
// throwaway Runtime) compiles wasm.
func compiles(wasm []byte) bool {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(256))
	defer rt.Close(ctx)
	_, err := rt.CompileModule(ctx, wasm)
	return err == nil
}

// sections splits a module into its sections (id byte included).
func sections(tb testing.TB, wasm []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	r := reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		start := r.off
		r.byte()
		r.bytes(int(r.u32()))
		if r.err != nil {
			tb.Fatal(r.err)
		}
		out = append(out, wasm[start:r.off])
	}
	return out
}

// TestInstrumentRoundTrip rewrites every fixture and every shipped rule:
// the result compiles, every section but global, export and code is kept
// byte for byte, and the engine loads it instrumented.
func TestInstrumentRoundTrip(t *testing.T) {
	fixtures, _ := filepath.Glob("testdata/*.wat")
	cases := map[string]string{}
	for _, f := range fixtures {
		cases["fixture/"+filepath.Base(f)] = wat(t, filepath.Base(f))
	}
	for _, name := range shippedRules(t) {
		if hasSource(t, name) {
			cases["rule/"+name] = buildShippedRule(t, name)
		}
	}
	fallback := map[string]string{ // fixtures the rewriter leaves alone, and why
		"fixture/simd.wat":     "opcode 0xfd",
		"fixture/reserved.wat": stopFlagExport,
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := instrument(wasm)
			if why, ok := fallback[name]; ok {
				if err == nil || !strings.Contains(err.Error(), why) {
					t.Fatalf("instrument: %v, want an error mentioning %q", err, why)
				}
				return
			}
			if err != nil {
				t.Fatalf("instrument: %v", err)
			}
			if compiles(wasm) != compiles(out) {
				t.Fatalf("original compiles: %v, instrumented: %v", compiles(wasm), compiles(out))
			}
			var kept, got [][]byte
			for _, s := range sections(t, wasm) {
				if s[0] != secGlobal && s[0] != secExport && s[0] != secCode {
					kept = append(kept, s)
				}
			}
			for _, s := range sections(t, out) {
				if s[0] != secGlobal && s[0] != secExport && s[0] != secCode {
					got = append(got, s)
				}
			}
			if len(kept) != len(got) {
				t.Fatalf("%d other sections, want %d", len(got), len(kept))
			}
			for i := range kept {
				if !bytes.Equal(kept[i], got[i]) {
					t.Fatalf("section %d (id %d) changed", i, kept[i][0])
				}
			}
			if !bytes.Contains(out, []byte(stopFlagExport)) {
				t.Fatal("no stop flag export")
			}
		})
	}
}

func hasSource(tb testing.TB, name string) bool {
	dir := filepath.Join(repoRoot(tb), "rules-wasm", name)
	for _, pat := range []string{name + ".wat", name + ".c", "*.go"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

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
				start := time.Now()
				res := c.Evaluate(context.Background(), looping)
				if took := time.Since(start); took > deadline+100*time.Millisecond {
					t.Errorf("round %d: took %s, deadline %s", round, took, deadline)
				}
				if tr := res.Trace[0]; tr.Outcome != OutcomeTimeout || !strings.Contains(tr.Error, "deadline") {
					t.Fatalf("round %d: outcome %q (%s), want timeout", round, tr.Outcome, tr.Error)
				}
			}
			if tt.fixture == "fanout.wat" {
				return // it never decides
			}
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
	start := time.Now()
	res := c.Evaluate(ctx, looping)
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("took %s", took)
	}
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

// FuzzInstrument: the rewriter never panics, and a module it returns
// compiles in wazero exactly when the original does.
func FuzzInstrument(f *testing.F) {
	fixtures, _ := filepath.Glob("testdata/*.wat")
	for _, fx := range fixtures {
		if wasm, err := os.ReadFile(wat(f, filepath.Base(fx))); err == nil {
			f.Add(wasm)
		}
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("not wasm"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := instrument(wasm)
		if err != nil {
			return
		}
		if a, b := compiles(wasm), compiles(out); a != b {
			t.Fatalf("original compiles: %v, instrumented: %v", a, b)
		}
	})
}
