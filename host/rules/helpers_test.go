package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Wasm built by the tests goes to one directory per test binary.
var (
	buildDir  string
	buildMu   sync.Mutex
	buildDone = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-rules-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root, two levels up from host/rules.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// buildOnce runs build for key once per test binary and returns the .wasm path.
func buildOnce(tb testing.TB, key string, build func(out string) error) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildDone[key]; ok {
		return p
	}
	out := filepath.Join(buildDir, fmt.Sprintf("%d.wasm", len(buildDone)))
	if err := build(out); err != nil {
		tb.Fatalf("build %s: %v", key, err)
	}
	buildDone[key] = out
	return out
}

// wat compiles a WAT file (path relative to the repo root, or to
// host/rules/testdata when it has no slash) with wabt's wat2wasm. A missing
// wat2wasm fails the test: it is a required tool.
func wat(tb testing.TB, src string) string {
	tb.Helper()
	if filepath.Base(src) == src {
		src = filepath.Join("testdata", src)
	} else {
		src = filepath.Join(repoRoot(tb), src)
	}
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm not found: install wabt (apt-get update && apt-get install -y wabt): %v", err)
	}
	return buildOnce(tb, src, func(out string) error {
		return run(exec.Command(tool, src, "-o", out))
	})
}

// cRule compiles a C rule (path relative to the repo root) with clang for
// wasm32, without libc. A missing clang or wasm-ld fails the test.
func cRule(tb testing.TB, src string) string {
	tb.Helper()
	tool, err := exec.LookPath("clang")
	if err == nil {
		_, err = exec.LookPath("wasm-ld")
	}
	if err != nil {
		tb.Fatalf("clang and wasm-ld are needed for C rules: apt-get update && apt-get install -y clang lld: %v", err)
	}
	src = filepath.Join(repoRoot(tb), src)
	return buildOnce(tb, src, func(out string) error {
		return run(exec.Command(tool, "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", "-o", out, src))
	})
}

// goRule builds a Go rule (a package dir relative to the repo root) with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
func goRule(tb testing.TB, pkg string) string {
	tb.Helper()
	tool, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("go not found on PATH (needed to build Go rules): %v", err)
	}
	return buildOnce(tb, pkg, func(out string) error {
		cmd := exec.Command(tool, "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
		cmd.Dir = repoRoot(tb)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return run(cmd)
	})
}

func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", cmd, err, stderr.String())
	}
	return nil
}

// testInput is a request of about 1 KB with three candidates.
func testInput() *Input {
	return &Input{
		NowUnixMS:  1764000000000,
		RandomSeed: 8812,
		Request: RequestView{
			ID: "req_1", Endpoint: "chat.completions", Model: "auto", Priority: 5,
			PromptTokensEstimate: 523, MaxTokens: 1024, Messages: 4, Chars: 2100,
			Key: "team-a", User: "u1", Tags: []string{"batch"},
			Metadata: map[string]json.RawMessage{"tier": json.RawMessage(`"free"`), "budget": json.RawMessage(`12.5`)},
			Headers:  map[string]string{"x-tenant": "acme", "x-secret": "nope"},
		},
		Candidates: []Candidate{
			{Provider: "mock", Model: "mock-small", ContextWindow: 8192, USDPerMTokIn: 0.1, USDPerMTokOut: 0.4,
				Capabilities: []string{"tools", "json", "stream"}, Healthy: true, Circuit: "closed", P50MS: 120, P95MS: 400, ErrorRate: 0.01, Inflight: 2},
			{Provider: "mock", Model: "mock-medium", ContextWindow: 32768, USDPerMTokIn: 0.5, USDPerMTokOut: 1.5,
				Capabilities: []string{"tools", "json", "stream"}, Healthy: true, Circuit: "closed", P50MS: 300, P95MS: 900, ErrorRate: 0.02, Inflight: 1},
			{Provider: "mock", Model: "mock-large", ContextWindow: 128000, USDPerMTokIn: 2.5, USDPerMTokOut: 10,
				Capabilities: []string{"tools", "json", "vision", "stream"}, Healthy: true, Circuit: "closed", P50MS: 700, P95MS: 2100, ErrorRate: 0.005, Inflight: 0},
		},
	}
}

// load loads a chain and closes it when the test ends.
func load(tb testing.TB, opts Options, specs ...Spec) *Chain {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Load(ctx, specs, opts)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return c
}

// recorder is an Observer that records outcomes.
type recorder struct {
	mu          sync.Mutex
	outcomes    []string
	verdicts    []string
	quarantined []string
}

func (r *recorder) RuleEvaluated(rule, outcome string, _ time.Duration) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, rule+":"+outcome)
	r.mu.Unlock()
}

func (r *recorder) RuleValidated(rule, verdict string, _ time.Duration) {
	r.mu.Lock()
	r.verdicts = append(r.verdicts, rule+":"+verdict)
	r.mu.Unlock()
}

func (r *recorder) RuleQuarantined(rule string) {
	r.mu.Lock()
	r.quarantined = append(r.quarantined, rule)
	r.mu.Unlock()
}

var (
	_ Observer           = (*recorder)(nil)
	_ QuarantineObserver = (*recorder)(nil)
	_ ValidationObserver = (*recorder)(nil)
)
