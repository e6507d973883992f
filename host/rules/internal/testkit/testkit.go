// Package testkit builds the Wasm modules that the tests of host/rules and
// of its internal packages run (the fixtures of host/rules/testdata and the
// shipped rules of rules-wasm, each from source, once per test binary), and
// holds their standard input. Only tests import it. A missing toolchain
// fails the test, never skips it.
package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

var (
	mu       sync.Mutex
	dir      string                // set by Main
	built    = map[string]string{} // source → .wasm
	rootOnce sync.Once
	root     string
	rootErr  error
)

// Main runs a package's tests with a temporary folder for the modules they
// build and for the compilation cache, and removes it afterwards:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
func Main(m *testing.M) int {
	d, err := os.MkdirTemp("", "switchyard-rules-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Mkdir(filepath.Join(d, "cache"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir = d
	defer os.RemoveAll(d)
	return m.Run()
}

// CacheDir is a wazero compilation cache folder shared by the tests of one
// binary, so that a module compiles once per binary: a Go rule takes ~1 s
// to compile, ~10 s under the race detector.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(buildDir(tb), "cache")
}

func buildDir(tb testing.TB) string {
	tb.Helper()
	if dir == "" {
		tb.Fatal("testkit: the package's TestMain must call testkit.Main")
	}
	return dir
}

// RepoRoot is the module root: the nearest folder above the working
// directory (the package's) that holds go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	rootOnce.Do(func() {
		d, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				return
			}
			up := filepath.Dir(d)
			if up == d {
				rootErr = fmt.Errorf("no go.mod above %s", d)
				return
			}
			d = up
		}
	})
	if rootErr != nil {
		tb.Fatal(rootErr)
	}
	return root
}

// Fixtures lists the fixture names (*.wat) of host/rules/testdata.
func Fixtures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(RepoRoot(tb), "host", "rules", "testdata", "*.wat"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no fixtures in host/rules/testdata (%v)", err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// once runs build for key once per test binary and returns the .wasm path.
func once(tb testing.TB, key string, build func(out string) error) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[key]; ok {
		return p
	}
	out := filepath.Join(buildDir(tb), fmt.Sprintf("%d.wasm", len(built)))
	if err := build(out); err != nil {
		tb.Fatalf("build %s: %v", key, err)
	}
	built[key] = out
	return out
}

// WAT compiles a WAT file with wabt's wat2wasm: a fixture of
// host/rules/testdata when src has no slash, else a path relative to the
// repository root.
func WAT(tb testing.TB, src string) string {
	tb.Helper()
	if filepath.Base(src) == src {
		src = filepath.Join(RepoRoot(tb), "host", "rules", "testdata", src)
	} else {
		src = filepath.Join(RepoRoot(tb), src)
	}
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm not found: install wabt (apt-get update && apt-get install -y wabt): %v", err)
	}
	return once(tb, src, func(out string) error {
		return run(exec.Command(tool, src, "-o", out))
	})
}

// C compiles a C rule (path relative to the repository root) with clang
// for wasm32, without libc.
func C(tb testing.TB, src string) string {
	tb.Helper()
	tool, err := exec.LookPath("clang")
	if err == nil {
		_, err = exec.LookPath("wasm-ld")
	}
	if err != nil {
		tb.Fatalf("clang and wasm-ld are needed for C rules: apt-get update && apt-get install -y clang lld: %v", err)
	}
	src = filepath.Join(RepoRoot(tb), src)
	return once(tb, src, func(out string) error {
		return run(exec.Command(tool, "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", "-o", out, src))
	})
}

// Rust compiles a Rust rule (path relative to the repository root) with
// Debian's rustc for wasm32-unknown-unknown (the rustup rustc that may
// come first on PATH has no Wasm target).
func Rust(tb testing.TB, src string) string {
	tb.Helper()
	const hint = "Rust rules need Debian's rustc with the wasm32 std: apt-get update && apt-get install -y rustc libstd-rust-dev-wasm32"
	tool := "/usr/bin/rustc"
	if _, err := os.Stat(tool); err != nil {
		tb.Fatalf("%s: %v", hint, err)
	}
	if _, err := os.Stat("/usr/lib/rustlib/wasm32-unknown-unknown"); err != nil {
		tb.Fatalf("%s: %v", hint, err)
	}
	src = filepath.Join(RepoRoot(tb), src)
	return once(tb, src, func(out string) error {
		return run(exec.Command(tool, "--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "--edition", "2021",
			"-C", "opt-level=3", "-C", "lto", "-C", "panic=abort", "-C", "strip=symbols",
			"-C", "link-arg=-zstack-size=65536", "-o", out, src))
	})
}

// AS compiles an AssemblyScript rule (path relative to the repository
// root) with the asc pinned in sdk/rule/assemblyscript (npm ci installs it).
func AS(tb testing.TB, src string) string {
	tb.Helper()
	r := RepoRoot(tb)
	asc := filepath.Join(r, "sdk", "rule", "assemblyscript", "node_modules", ".bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		tb.Fatalf("AssemblyScript rules need node, npm and the pinned asc: (cd sdk/rule/assemblyscript && npm ci), or make rules: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		tb.Fatalf("AssemblyScript rules need node: apt-get update && apt-get install -y nodejs npm: %v", err)
	}
	src = filepath.Join(r, src)
	return once(tb, src, func(out string) error {
		return run(exec.Command(asc, src, "-o", out, "-O3", "--runtime", "stub", "--use", "abort=", "--exportStart", "_initialize"))
	})
}

// Go builds a Go rule (a package folder relative to the repository root)
// with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
func Go(tb testing.TB, pkg string) string {
	tb.Helper()
	tool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("go not found on PATH (needed to build Go rules): %v", err)
	}
	r := RepoRoot(tb)
	return once(tb, pkg, func(out string) error {
		cmd := exec.Command(tool, "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
		cmd.Dir = r
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return run(cmd)
	})
}

// ShippedRules lists the rules of rules-wasm.
func ShippedRules(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(RepoRoot(tb), "rules-wasm"))
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

// ShippedRule builds rules-wasm/<name> from source: <name>.wat with
// wat2wasm, <name>.c with clang, <name>.rs with rustc, <name>.ts with asc,
// otherwise the Go package.
func ShippedRule(tb testing.TB, name string) string {
	tb.Helper()
	d := filepath.Join("rules-wasm", name)
	abs := filepath.Join(RepoRoot(tb), d)
	for _, b := range []struct {
		ext   string
		build func(testing.TB, string) string
	}{{".wat", WAT}, {".c", C}, {".rs", Rust}, {".ts", AS}} {
		if _, err := os.Stat(filepath.Join(abs, name+b.ext)); err == nil {
			return b.build(tb, filepath.Join(d, name+b.ext))
		}
	}
	if m, _ := filepath.Glob(filepath.Join(abs, "*.go")); len(m) > 0 {
		return Go(tb, d)
	}
	tb.Fatalf("rules-wasm/%s: no source this test knows how to build", name)
	return ""
}

func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", cmd, err, stderr.String())
	}
	return nil
}

// Input is a request of about 1 KB with three candidates (its encoding is
// sdk/rule/testdata/router-input.json, which the Go SDK's fast path is
// tested on).
func Input() *abi.Input {
	return &abi.Input{
		NowUnixMS:  1764000000000,
		RandomSeed: 8812,
		Request: abi.RequestView{
			ID: "req_1", Endpoint: "chat.completions", Model: "auto", Priority: 5,
			PromptTokensEstimate: 523, MaxTokens: 1024, Messages: 4, Chars: 2100,
			Key: "team-a", User: "u1", Tags: []string{"batch"},
			Metadata: map[string]json.RawMessage{"tier": json.RawMessage(`"free"`), "budget": json.RawMessage(`12.5`)},
			Headers:  map[string]string{"x-tenant": "acme", "x-secret": "nope"},
		},
		Candidates: []abi.Candidate{
			{Provider: "mock", Model: "mock-small", ContextWindow: 8192, USDPerMTokIn: 0.1, USDPerMTokOut: 0.4,
				Capabilities: []string{"tools", "json", "stream"}, Healthy: true, Circuit: "closed", P50MS: 120, P95MS: 400, ErrorRate: 0.01, Inflight: 2},
			{Provider: "mock", Model: "mock-medium", ContextWindow: 32768, USDPerMTokIn: 0.5, USDPerMTokOut: 1.5,
				Capabilities: []string{"tools", "json", "stream"}, Healthy: true, Circuit: "closed", P50MS: 300, P95MS: 900, ErrorRate: 0.02, Inflight: 1},
			{Provider: "mock", Model: "mock-large", ContextWindow: 128000, USDPerMTokIn: 2.5, USDPerMTokOut: 10,
				Capabilities: []string{"tools", "json", "vision", "stream"}, Healthy: true, Circuit: "closed", P50MS: 700, P95MS: 2100, ErrorRate: 0.005, Inflight: 0},
		},
	}
}

// ContentBytes is the content size of the rule whose view of InputWithContent is
// sdk/rule/testdata/router-input-content.json.
const ContentBytes = 4096

// InputWithContent is Input with request.content, as the pipeline fills it when a rule
// of the chain opted in (its encoding for a rule with ContentBytes is
// sdk/rule/testdata/router-input-content.json).
func InputWithContent() *abi.Input {
	in := Input()
	in.Request.Content = &abi.Content{
		LastUser:     "Why does this fail?\n```go\nvar m map[string]int\nm[\"a\"]++\n```\nIt says \"assignment to entry in nil map\".",
		System:       "You are a careful Go reviewer.\nAnswer in short sentences.",
		HasCodeFence: true, HasToolResults: true, LanguageHint: "latin",
	}
	return in
}
