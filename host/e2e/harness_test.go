package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// root is the repository root: the folder holding go.mod.
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// built returns the path of a built artefact under bin/, failing when it is missing.
func built(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(root(t), "bin", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make build` (make test does) before these tests", p)
	}
	return p
}

// baseConfig is a config with the mock plugin under two provider names, so that one can
// be made to fail while the other answers, and the routes the tests use. %s is the rules
// section.
func baseConfig(t testing.TB, rules string) string {
	mock := built(t, "plugins/switchyard-provider-mock")
	return fmt.Sprintf(`
providers:
  - name: mock
    plugin: %[1]s
    settings: {chunk_delay_ms: 2}
  - name: backup
    plugin: %[1]s
    settings: {chunk_delay_ms: 2}
models:
  - {name: mock-small, provider: mock, context_window: 8192, usd_per_mtok_in: 1, usd_per_mtok_out: 2, capabilities: [stream]}
  - {name: mock-large, provider: mock, context_window: 128000, usd_per_mtok_in: 3, usd_per_mtok_out: 6, capabilities: [stream]}
  - {name: backup-small, provider: backup, model: mock-small, context_window: 8192, capabilities: [stream]}
routes:
  - {name: default, targets: [mock-small, backup-small]}
  - {name: chain, targets: [mock-small, mock-large, backup-small]}
plugins:
  health_interval: 200ms
  health_timeout: 500ms
retry: {max_attempts: 2, backoff_base: 10ms, backoff_max: 50ms}
%s`, mock, rules)
}

// router is a running bin/switchyard.
type router struct {
	t    testing.TB
	base string
	cmd  *exec.Cmd
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRouter writes cfg to a temporary file and starts the router on it, waiting until
// it is ready. The router is stopped (SIGTERM) when the test ends.
func startRouter(t testing.TB, cfg string) *router {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRouterAt(t, path)
}

// startRouterAt starts the router on the config file at path, which the test may rewrite
// and reload.
func startRouterAt(t testing.TB, path string) *router {
	t.Helper()
	addr := freePort(t)
	r := &router{t: t, base: "http://" + addr, log: &syncBuffer{}}
	r.cmd = exec.Command(built(t, "switchyard"), "--config", path, "--listen", addr)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.Env = append(os.Environ(), "SWITCHYARD_CACHE_DIR="+filepath.Join(os.TempDir(), "switchyard-test-cache"))
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("router log:\n%s", r.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("router exited during start:\n%s", r.log.String())
		default:
		}
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("router not ready after 60 s:\n%s", r.log.String())
	return nil
}

// client is the official OpenAI Go client pointed at the router, without its own retries
// so that what a test sees is what the router did.
func (r *router) client() *openai.Client {
	c := openai.NewClient(option.WithBaseURL(r.base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	return &c
}

// post sends a raw JSON body and returns the status, headers and body.
func (r *router) post(path, body string, header ...string) (int, http.Header, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// metric returns the value of one series in /metrics, and false if it is absent.
func (r *router) metric(series string) (float64, bool) {
	r.t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(series):]), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// pluginPIDs lists the router's child processes that are provider plugins.
func (r *router) pluginPIDs() []int {
	r.t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == r.cmd.Process.Pid && strings.Contains(s[:i], "switchyard-pro") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

func waitFor(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// execOut runs a command and returns its combined output.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
