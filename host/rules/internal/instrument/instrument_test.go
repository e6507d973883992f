package instrument

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

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
// every section but global, export and code is kept byte for byte, and a
// fixture compiles after the rewrite exactly when it did before. That a
// shipped rule compiles rewritten is TestGolden's (host/rules), which loads
// every one and checks that it runs instrumented: compiling each Go rule
// twice more here would take ~20 s under the race detector.
func TestInstrumentRoundTrip(t *testing.T) {
	cases := map[string]string{}
	for _, f := range testkit.Fixtures(t) {
		cases["fixture/"+f] = testkit.WAT(t, f)
	}
	for _, name := range testkit.ShippedRules(t) {
		if hasSource(t, name) {
			cases["rule/"+name] = testkit.ShippedRule(t, name)
		}
	}
	fallback := map[string]string{ // fixtures the rewriter leaves alone, and why
		"fixture/simd.wat":     "opcode 0xfd",
		"fixture/reserved.wat": StopFlagExport,
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Rewrite(wasm)
			if why, ok := fallback[name]; ok {
				if err == nil || !strings.Contains(err.Error(), why) {
					t.Fatalf("instrument: %v, want an error mentioning %q", err, why)
				}
				return
			}
			if err != nil {
				t.Fatalf("instrument: %v", err)
			}
			if strings.HasPrefix(name, "fixture/") && compiles(wasm) != compiles(out) {
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
			if !bytes.Contains(out, []byte(StopFlagExport)) {
				t.Fatal("no stop flag export")
			}
		})
	}
}

func hasSource(tb testing.TB, name string) bool {
	dir := filepath.Join(testkit.RepoRoot(tb), "rules-wasm", name)
	for _, pat := range []string{name + ".wat", name + ".c", "*.go"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

// TestLEB: the reader's integers against the encoders.
func TestLEB(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, -8192, 1 << 20, -1 << 20, math.MaxInt32, math.MinInt32} {
		r := reader{b: appendS32(nil, v)}
		if got := r.s32(); got != v || r.end() != nil {
			t.Errorf("s32(%d) = %d (%v)", v, got, r.end())
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, 1 << 21, math.MaxUint32} {
		r := reader{b: appendU32(nil, v)}
		if got := r.u32(); got != v || r.end() != nil {
			t.Errorf("u32(%d) = %d (%v)", v, got, r.end())
		}
	}
	for _, bad := range [][]byte{{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, {0xff, 0xff, 0xff, 0xff, 0x1f}, {0x80}} {
		r := reader{b: bad}
		if r.u32(); r.err == nil {
			t.Errorf("u32 % x: no error", bad)
		}
	}
}

// dispatchJumps counts, over every function body of wasm, the jumps to a
// Go-style dispatch loop (jumps.go) that could be direct and those that
// go backward.
func dispatchJumps(tb testing.TB, wasm []byte) (forward, backward int) {
	tb.Helper()
	for _, sec := range sections(tb, wasm) {
		if sec[0] != secCode {
			continue
		}
		r := reader{b: sec, off: 1}
		r.u32()
		for n := r.u32(); n > 0; n-- {
			body := r.bytes(int(r.u32()))
			br := reader{b: body}
			for g := br.u32(); g > 0; g-- {
				br.u32()
				br.valType()
			}
			var d dispatch
			for br.off < len(body) && br.err == nil {
				start := br.off
				op := br.instr(1 << 30)
				act := d.observe(body, start, br.off, op)
				if act.direct {
					forward++
				}
				if act.backward {
					backward++
				}
			}
			if br.err != nil || r.err != nil {
				tb.Fatal(br.err, r.err)
			}
		}
	}
	return forward, backward
}

// TestDispatchJumps: in the Go-style fixture and in a real Go rule, every
// jump to the dispatch loop is gone from the rewritten module (forward
// ones made direct, backward ones behind the loop check), and the rewritten
// module computes the same decision (host/rules: TestStopped runs the
// fixture, which checks a sum, and TestGolden the Go rules, instrumented).
func TestDispatchJumps(t *testing.T) {
	for _, tc := range []struct {
		name        string
		path        string
		minForward  int
		minBackward int
	}{
		{"fixture", testkit.WAT(t, "dispatch.wat"), 4, 2},
		{"go rule", testkit.ShippedRule(t, "tiered"), 1000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasm, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			fw, bw := dispatchJumps(t, wasm)
			if fw < tc.minForward || bw < tc.minBackward {
				t.Fatalf("original: %d forward and %d backward dispatch jumps, want at least %d and %d (did Go's Wasm backend change?)",
					fw, bw, tc.minForward, tc.minBackward)
			}
			out, err := Rewrite(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if fw, bw := dispatchJumps(t, out); fw != 0 || bw != 0 {
				t.Fatalf("rewritten: %d forward and %d backward dispatch jumps left", fw, bw)
			}
			if tc.name == "fixture" && !compiles(out) { // the Go rule: see TestInstrumentRoundTrip
				t.Fatal("rewritten module does not compile")
			}
		})
	}
}

// FuzzInstrument: the rewriter never panics, and a module it returns
// compiles in wazero exactly when the original does.
func FuzzInstrument(f *testing.F) {
	for _, fx := range testkit.Fixtures(f) {
		if wasm, err := os.ReadFile(testkit.WAT(f, fx)); err == nil {
			f.Add(wasm)
		}
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("not wasm"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if CheckSizes(wasm) != nil {
			return // the engine refuses it before wazero (or the rewriter) sees it
		}
		out, err := Rewrite(wasm)
		if err != nil {
			return
		}
		if a, b := compiles(wasm), compiles(out); a != b {
			t.Fatalf("original compiles: %v, instrumented: %v", a, b)
		}
	})
}
