package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// streamEvents sends a streaming chat request and calls each for every SSE data line, in
// order, returning the last one.
func streamEvents(t *testing.T, r *router, body string, each func(n int, line string)) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream answered %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	var last string
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "data: ") {
			continue
		}
		n++
		last = sc.Text()
		if each != nil {
			each(n, last)
		}
	}
	return last
}

// timeouts.attempt bounds the wait for the first byte, not a healthy stream: 80 tokens at
// 100 ms each (8 s) with attempt: 5s end with [DONE].
func TestAttemptDoesNotCutHealthyStream(t *testing.T) {
	r := startRouter(t, baseConfig(t, "timeouts: {attempt: 5s, stream_idle: 5s, total: 60s}\n"))
	body := fmt.Sprintf(`{"model":"mock-small","stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"mock.reply":%q,"mock.chunk_delay_ms":"100"}}`, words(80))
	chunks := 0
	last := streamEvents(t, r, body, func(int, string) { chunks++ })
	if last != "data: [DONE]" || chunks < 80 {
		t.Fatalf("the stream ended after %d events with %q, want 80 tokens and [DONE]", chunks, last)
	}
}

// A reload swaps the new runtime in at once, and the old one drains: a stream in flight
// across a reload that shortens timeouts.total still ends with [DONE], its plugin (replaced
// by the reload) serves it to the end, and is stopped right after.
func TestReloadDrainsOldRuntime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchyard.yaml")
	write := func(delay int, total string) {
		cfg := strings.Replace(baseConfig(t, "admin: {key: admin-key-123}\ntimeouts: {total: "+total+"}\n"),
			"settings: {chunk_delay_ms: 2}\n  - name: backup", fmt.Sprintf("settings: {chunk_delay_ms: %d}\n  - name: backup", delay), 1)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(3, "60s")
	r := startRouterAt(t, path)
	before := r.pluginPIDs()

	// 60 words at 100 ms: about 6 s, of which about 5.5 s after the reload.
	body := fmt.Sprintf(`{"model":"mock-small","stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"mock.reply":%q,"mock.chunk_delay_ms":"100"}}`, words(60))
	var reloaded atomic.Bool
	var oldPlugins []int
	last := streamEvents(t, r, body, func(n int, _ string) {
		if n != 5 || reloaded.Load() {
			return
		}
		// The new config replaces the mock plugin (its settings changed) and allows every
		// request 1 s in all: neither may cut the stream that started before.
		write(4, "1s")
		status, _, b := r.post("/admin/reload", "{}", "Authorization", "Bearer admin-key-123")
		if status != 200 {
			t.Errorf("reload: %d %s", status, b)
		}
		reloaded.Store(true)
		now := map[int]bool{}
		for _, p := range r.pluginPIDs() {
			now[p] = true
		}
		for _, p := range before {
			if now[p] {
				continue
			}
			t.Errorf("plugin %d stopped at the reload, before its stream ended", p)
		}
		// The mock plugin was replaced: a new process beside the old one.
		if len(now) <= len(before) {
			t.Errorf("plugins after the reload %v, before %v: want the replaced mock running beside its successor", now, before)
		}
		oldPlugins = before
	})
	if !reloaded.Load() {
		t.Fatal("the stream ended before the reload")
	}
	if last != "data: [DONE]" {
		t.Fatalf("the stream across the reload ended with %q, want [DONE]", last)
	}
	// Right after its last request, the old runtime is released: the replaced plugin exits.
	waitFor(t, "the replaced plugin to stop", patience, func() bool {
		gone := 0
		for _, p := range oldPlugins {
			if !alive(p) {
				gone++
			}
		}
		return gone == 1 // the mock was replaced; backup was reused and keeps serving
	})
	waitFor(t, "the release in the log", patience, func() bool {
		return strings.Contains(r.log.String(), "previous configuration released")
	})
	// The new configuration serves, with its own (short) total.
	status, _, b := r.post("/v1/chat/completions", `{"model":"mock-small","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 {
		t.Errorf("after the reload: %d %s", status, b)
	}
}

// limits.shutdown_delay: on SIGTERM /readyz answers 503 while the listener keeps serving for
// the delay; then the router drains and exits.
func TestShutdownDelay(t *testing.T) {
	r := startRouter(t, baseConfig(t, "limits: {shutdown_delay: 5s}\n"))
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to answer 503", patience, func() bool {
		resp, err := http.Get(r.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Still serving: a load balancer that has not yet seen the 503 loses nothing.
	resp, err := http.Post(r.base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"mock-small","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatalf("a request during shutdown_delay failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a request during shutdown_delay answered %d", resp.StatusCode)
	}
	waitFor(t, "the router to exit", patience, func() bool { return !alive(r.cmd.Process.Pid) })
}

// procsWithArgs lists the processes whose command line is exactly args.
func procsWithArgs(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(b) == want {
			var pid int
			if _, err := fmt.Sscan(e.Name(), &pid); err == nil && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// A reload whose plugin never completes its handshake (a wrapper script whose child keeps
// stdout open) gives up at plugins.start_timeout, kills the plugin's whole process group, and
// holds neither /readyz nor later reloads hostage.
func TestReloadWithHungPluginStart(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "stuck-plugin")
	// The marker argument lets the test find the grandchild; it is a number no other process uses.
	marker := fmt.Sprint(4000 + os.Getpid()%1000)
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep "+marker+" &\nexec sleep "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(baseConfig(t, "admin: {key: admin-key-123}\n"), "plugins:\n", "plugins:\n  start_timeout: 4s\n", 1)
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRouterAt(t, path)
	bad := strings.Replace(good, "models:\n", "  - {name: stuck, plugin: "+script+"}\nmodels:\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, r.base+"/admin/reload", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer admin-key-123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		done <- result{resp.StatusCode, b.String()}
	}()
	waitFor(t, "the stuck plugin to start", patience, func() bool { return len(procsWithArgs("sleep", marker)) > 0 })
	// While the reload waits on the handshake, readiness answers.
	resp, err := http.Get(r.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case res := <-done:
		t.Fatalf("the reload returned (%d %s) before /readyz was asked: the test proves nothing", res.status, res.body)
	default:
	}
	if resp.StatusCode != 200 {
		t.Errorf("/readyz during a slow reload: %d, want 200", resp.StatusCode)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the reload never gave up on a plugin that does not handshake")
	}
	if res.status != 422 || !strings.Contains(res.body, "stuck") || !strings.Contains(res.body, "start timeout") {
		t.Errorf("reload: %d %s, want 422 naming the plugin and the start timeout", res.status, res.body)
	}
	waitFor(t, "the plugin's whole process group to be gone", patience, func() bool { return len(procsWithArgs("sleep", marker)) == 0 })
	// A later reload is not held hostage.
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, b := r.post("/admin/reload", "{}", "Authorization", "Bearer admin-key-123"); status != 200 {
		t.Errorf("the next reload: %d %s", status, b)
	}
}
