package rules

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// golden is one case of rules-wasm/<rule>/testdata/golden/*.json; the
// format is documented in rules-wasm/README.md.
type golden struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
	Input  json.RawMessage `json:"input"`
	Expect struct {
		Targets   []Target `json:"targets"`
		Reject    *Reject  `json:"reject"`
		NoOpinion bool     `json:"no_opinion"`
		Tags      []string `json:"tags"`
	} `json:"expect"`
}

// buildShippedRule builds rules-wasm/<name> from source: <name>.wat with
// wat2wasm, <name>.c with clang, <name>.rs with Debian's rustc, <name>.ts
// with AssemblyScript's asc, otherwise the Go package.
func buildShippedRule(tb testing.TB, name string) string {
	tb.Helper()
	dir := filepath.Join(repoRoot(tb), "rules-wasm", name)
	if _, err := os.Stat(filepath.Join(dir, name+".wat")); err == nil {
		return wat(tb, filepath.Join("rules-wasm", name, name+".wat"))
	}
	if _, err := os.Stat(filepath.Join(dir, name+".c")); err == nil {
		return cRule(tb, filepath.Join("rules-wasm", name, name+".c"))
	}
	if _, err := os.Stat(filepath.Join(dir, name+".rs")); err == nil {
		return rustRule(tb, filepath.Join("rules-wasm", name, name+".rs"))
	}
	if _, err := os.Stat(filepath.Join(dir, name+".ts")); err == nil {
		return asRule(tb, filepath.Join("rules-wasm", name, name+".ts"))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(m) > 0 {
		return goRule(tb, "rules-wasm/"+name)
	}
	tb.Fatalf("rules-wasm/%s: no source this test knows how to build", name)
	return ""
}

// rustRule compiles a Rust rule (path relative to the repo root) with
// Debian's rustc for wasm32-unknown-unknown (the rustup rustc that may come
// first on PATH has no Wasm target). A missing compiler or target fails.
func rustRule(tb testing.TB, src string) string {
	tb.Helper()
	const hint = "Rust rules need Debian's rustc with the wasm32 std: apt-get update && apt-get install -y rustc libstd-rust-dev-wasm32"
	tool := "/usr/bin/rustc"
	if _, err := os.Stat(tool); err != nil {
		tb.Fatalf("%s: %v", hint, err)
	}
	if _, err := os.Stat("/usr/lib/rustlib/wasm32-unknown-unknown"); err != nil {
		tb.Fatalf("%s: %v", hint, err)
	}
	src = filepath.Join(repoRoot(tb), src)
	return buildOnce(tb, src, func(out string) error {
		return run(exec.Command(tool, "--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "--edition", "2021",
			"-C", "opt-level=3", "-C", "lto", "-C", "panic=abort", "-C", "strip=symbols",
			"-C", "link-arg=-zstack-size=65536", "-o", out, src))
	})
}

// asRule compiles an AssemblyScript rule (path relative to the repo root)
// with the asc pinned in sdk/rule/assemblyscript (installed by npm ci).
func asRule(tb testing.TB, src string) string {
	tb.Helper()
	root := repoRoot(tb)
	asc := filepath.Join(root, "sdk", "rule", "assemblyscript", "node_modules", ".bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		tb.Fatalf("AssemblyScript rules need node, npm and the pinned asc: (cd sdk/rule/assemblyscript && npm ci), or make rules: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		tb.Fatalf("AssemblyScript rules need node: apt-get update && apt-get install -y nodejs npm: %v", err)
	}
	src = filepath.Join(root, src)
	return buildOnce(tb, src, func(out string) error {
		return run(exec.Command(asc, src, "-o", out, "-O3", "--runtime", "stub", "--use", "abort=", "--exportStart", "_initialize"))
	})
}

func shippedRules(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(tb), "rules-wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		tb.Fatal("no rules under rules-wasm")
	}
	return names
}

// TestGolden builds every shipped rule from source and runs its golden
// cases through the real engine, with the module instrumented.
func TestGolden(t *testing.T) {
	cacheDir := t.TempDir()
	for _, name := range shippedRules(t) {
		t.Run(name, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(repoRoot(t), "rules-wasm", name, "testdata", "golden", "*.json"))
			if len(files) == 0 {
				t.Fatalf("rules-wasm/%s has no golden cases in testdata/golden", name)
			}
			path := buildShippedRule(t, name)
			rt := t
			chains := map[string]*Chain{} // one chain per distinct config
			for _, f := range files {
				var g golden
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(data, &g); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
					var in Input
					if err := json.Unmarshal(g.Input, &in); err != nil {
						t.Fatalf("input: %v", err)
					}
					c, ok := chains[string(g.Config)]
					if !ok {
						c = load(rt, Options{CacheDir: cacheDir}, Spec{Name: name, Path: path, Config: g.Config,
							Limits: Limits{Deadline: time.Second, Pool: 1}})
						chains[string(g.Config)] = c
						if !c.all[0].instrumented {
							t.Fatal("loaded without the stop flag (wazero's context check)")
						}
					}
					in.Trace = true // failures show the output
					res := c.Evaluate(context.Background(), &in)
					tr := res.Trace[0]
					if tr.Outcome == OutcomeError || tr.Outcome == OutcomeTimeout {
						t.Fatalf("outcome %s: %s", tr.Outcome, tr.Error)
					}
					e := g.Expect
					switch {
					case e.NoOpinion:
						if res.Decision != nil {
							t.Fatalf("decision %s, want no opinion", tr.Output)
						}
					case e.Reject != nil:
						if res.Decision == nil || res.Decision.Reject == nil {
							t.Fatalf("decision %s, want reject", tr.Output)
						}
						got := *res.Decision.Reject
						if got.Status != e.Reject.Status || e.Reject.Message != "" && got.Message != e.Reject.Message {
							t.Fatalf("reject %+v, want %+v", got, *e.Reject)
						}
					default:
						if res.Decision == nil || !reflect.DeepEqual(res.Decision.Targets, e.Targets) {
							t.Fatalf("decision %s, want targets %+v", tr.Output, e.Targets)
						}
					}
					if e.Tags != nil && (res.Decision == nil || !reflect.DeepEqual(res.Decision.Tags, e.Tags)) {
						t.Fatalf("decision %s, want tags %v", tr.Output, e.Tags)
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
