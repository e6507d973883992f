package loadtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Router is a running bin/switchyard subprocess. Stop ends it and its plugins.
type Router struct {
	Name string
	URL  string // http://127.0.0.1:<port>
	cmd  *exec.Cmd
	log  string // the file its stderr and stdout go to
	exit chan struct{}
	err  error // the process's exit, once exit is closed
}

// StartRouter runs bin --config config --listen 127.0.0.1:<free port>
// --log-level warn in its own process group and waits until /readyz answers
// 200, the process exits, or ready passes. Its output goes to logPath.
func StartRouter(ctx context.Context, name, bin, config, logPath string, ready time.Duration) (*Router, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("loadtest/%s: %w", name, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--config", config, "--listen", addr, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("loadtest/%s: start %s: %w", name, bin, err)
	}
	r := &Router{Name: name, URL: "http://" + addr, cmd: cmd, log: logPath, exit: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		logf.Close()
		close(r.exit)
	}()
	if err := r.waitReady(ctx, ready); err != nil {
		r.Stop()
		return nil, fmt.Errorf("loadtest/%s: %w\n%s", name, err, r.LogTail(2000))
	}
	return r, nil
}

// PID is the router's process id.
func (r *Router) PID() int { return r.cmd.Process.Pid }

// Procs samples the router and its plugin processes.
func (r *Router) Procs() []Proc { return SampleTree(r.PID()) }

func (r *Router) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exit:
			return fmt.Errorf("exited before it was ready: %v", r.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", within)
		}
	}
}

// Stop sends SIGTERM and waits up to 10 s for the router to stop its
// plugins and exit; then it kills the whole process group. It is safe to
// call twice.
func (r *Router) Stop() { stopGroup(r.cmd, r.exit, 10*time.Second) }

// stopGroup sends cmd SIGTERM unless it has exited, waits up to grace for exit to close,
// then kills whatever is left of its process group (a plugin that did not stop).
func stopGroup(cmd *exec.Cmd, exit <-chan struct{}, grace time.Duration) {
	select {
	case <-exit:
	default:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exit:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exit
}

// LogTail returns the last n bytes of the router's output.
func (r *Router) LogTail(n int64) string {
	f, err := os.Open(r.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the router binds it; the router then fails to start and
// says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loadtest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RuleSpec is one rule of a generated router config.
type RuleSpec struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Config string `json:"config"` // YAML flow value, e.g. {min_priority: 1}
}

// RouterConfig is what a generated benchmark config varies.
type RouterConfig struct {
	UpstreamURL string // the mock upstream's root
	Plugin      string // absolute path of switchyard-provider-openai
	Rules       []RuleSpec
	MaxInflight int // limits.max_inflight

	// What the governance systems add to the 1-rule config; empty: not set.
	LedgerURL string   // ledger.url (sqlite:PATH)
	StateURL  string   // state.url (redis://...)
	Key       *KeySpec // one configured client key with rate limits
}

// KeySpec is a configured client key. Its limits are set far above what a run sends,
// so every request goes through the limit check and none is refused.
type KeySpec struct {
	Name, Secret, Team string
	RPM, TPM           int64
}

// BenchModel is the catalogue model and route of a generated config.
const (
	BenchModel = "bench-small"
	BenchRoute = "bench"
)

// YAML renders c as a Switchyard config file.
func (c RouterConfig) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by host/cmd/loadtest.
listen: 127.0.0.1:0
providers:
  - name: openai
    plugin: %q
    settings: {base_url: %q, max_idle_conns_per_host: 1024}
    secrets: {api_key: sk-loadtest}
models:
  - {name: %s, provider: openai, model: %s, context_window: 128000,
     usd_per_mtok_in: 0.15, usd_per_mtok_out: 0.60, capabilities: [stream, tools, json]}
routes:
  - {name: %s, targets: [%s]}
rules:
`, c.Plugin, c.UpstreamURL+"/v1", BenchModel, BenchModel, BenchRoute, BenchModel)
	for _, r := range c.Rules {
		fmt.Fprintf(&b, "  - {name: %s, module: %q, config: %s}\n", r.Name, r.Module, r.Config)
	}
	fmt.Fprintf(&b, `limits:
  max_inflight: %d
  shutdown_grace: 2s
`, c.MaxInflight)
	if k := c.Key; k != nil {
		fmt.Fprintf(&b, "keys:\n  - {name: %s, key: %q, team: %s, limits: {rpm: %d, tpm: %d}}\n", k.Name, k.Secret, k.Team, k.RPM, k.TPM)
	}
	if c.LedgerURL != "" {
		fmt.Fprintf(&b, "ledger:\n  url: %q\n", c.LedgerURL)
	}
	if c.StateURL != "" {
		fmt.Fprintf(&b, "state:\n  url: %q\n", c.StateURL)
	}
	return b.String()
}

// WriteConfig writes c into dir/name.yaml and returns the path.
func (c RouterConfig) WriteConfig(dir, name string) (string, error) {
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(c.YAML()), 0o600); err != nil {
		return "", fmt.Errorf("loadtest: %w", err)
	}
	return p, nil
}
