package providers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// pluginBin is the test plugin built once by TestMain.
var pluginBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "providers-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginBin = filepath.Join(dir, "testplugin")
	cmd := exec.Command("go", "build", "-o", pluginBin, "./testdata/testplugin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test plugin:", err)
		return 1
	}
	return m.Run()
}

// binary returns a private copy of the test plugin named for mode (ok, junk, never, panic,
// slow), so that each test can find its own processes by path.
func binary(t *testing.T, mode string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "switchyard-provider-test-"+mode)
	if err := os.Link(pluginBin, p); err != nil {
		b, err := os.ReadFile(pluginBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// processesOf returns the pids of live processes running the binary at path.
func processesOf(t *testing.T, path string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == path {
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertNoProcess(t *testing.T, path string) {
	t.Helper()
	waitFor(t, 30*time.Second, "no process left", func() bool { return len(processesOf(t, path)) == 0 })
}

// processGone reports whether pid has ended: no such process, or a zombie waiting for
// whoever adopted it to reap it.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

// syncBuffer is a goroutine-safe bytes.Buffer for capturing logs.
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

// recorder is an Observer keeping the events it saw, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) PluginUp(name string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s:up=%v", name, up))
}

func (r *recorder) PluginHealthy(name string, healthy bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s:healthy=%v", name, healthy))
}

func (r *recorder) PluginRestarted(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, name+":restarted")
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, " ")
}

const testSecret = "sk-test-VERY-SECRET-4242"

type harness struct {
	logs *syncBuffer
	obs  *recorder
	opts Options
}

// newHarness returns options with short timeouts and a debug logger into a buffer. At the
// end of the test the log must not hold the secret.
func newHarness(t *testing.T) *harness {
	h := &harness{logs: &syncBuffer{}, obs: &recorder{}}
	h.opts = Options{
		Logger:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:       h.obs,
		HostVersion:    "test",
		StartTimeout:   5 * time.Second,
		HealthInterval: 100 * time.Millisecond,
		HealthTimeout:  time.Second, // a plugin silent for 3 s is hung: never on a merely loaded machine
		BackoffMin:     10 * time.Millisecond,
		BackoffMax:     50 * time.Millisecond,
	}
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), testSecret) {
			t.Errorf("the secret appears in the log:\n%s", h.logs)
		}
		if t.Failed() {
			t.Logf("log:\n%s", h.logs)
		}
	})
	return h
}

func spec(name, path string) Spec {
	return Spec{
		Name:     name,
		Path:     path,
		Settings: json.RawMessage(`{}`),
		Secrets:  map[string]string{"api_key": testSecret},
	}
}

func start(t *testing.T, h *harness, sp Spec) *Supervisor {
	t.Helper()
	s, err := Start(context.Background(), sp, h.opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		assertNoProcess(t, sp.Path)
	})
	return s
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for: %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func request(action string) *provider.Request {
	r := &provider.Request{ID: "req-1", Model: "m1", Messages: []provider.Message{{Role: "user", Content: "hi"}}}
	if action != "" {
		r.Metadata = map[string]string{"test.action": action}
	}
	return r
}

func complete(t *testing.T, s *Supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.Complete(ctx, request(""))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if got := resp.Choices[0].Message.Content; got != "hello from m1" {
		t.Fatalf("Complete answered %q", got)
	}
}

type collector struct {
	mu     sync.Mutex
	chunks []string
}

func (c *collector) Send(ch *provider.Chunk) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ch.Choices {
		c.chunks = append(c.chunks, d.Content)
	}
	return nil
}

func (c *collector) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.chunks, "")
}

func TestServe(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sp := spec("alpha", binary(t, "ok"))
	s := start(t, h, sp)

	t.Run("info", func(t *testing.T) {
		if s.Name() != "alpha" || !s.Up() || s.PID() == 0 {
			t.Fatalf("name %q up %v pid %d", s.Name(), s.Up(), s.PID())
		}
		if info := s.Info(); info.Name != "testplugin" || info.Version != "0.0.1" {
			t.Fatalf("info %+v", info)
		}
	})
	t.Run("complete", func(t *testing.T) { complete(t, s) })
	t.Run("stream", func(t *testing.T) {
		var c collector
		usage, err := s.Stream(context.Background(), request(""), &c)
		if err != nil {
			t.Fatal(err)
		}
		if c.text() != "hello" || usage == nil || usage.TotalTokens != 5 {
			t.Fatalf("streamed %q, usage %+v", c.text(), usage)
		}
	})
	t.Run("in-band error passes through", func(t *testing.T) {
		_, err := s.Complete(context.Background(), request("error"))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindRateLimited {
			t.Fatalf("got %v, want a rate_limited *provider.Error", err)
		}
		if errors.Is(err, ErrPluginDown) {
			t.Fatalf("in-band error wraps ErrPluginDown: %v", err)
		}
		if !s.Up() {
			t.Fatal("an in-band error took the plugin down")
		}
	})
	t.Run("plugin stderr reaches the log", func(t *testing.T) {
		if _, err := s.Complete(context.Background(), request("say")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the line in the log", func() bool {
			return strings.Contains(h.logs.String(), "testplugin: said through os.Stderr")
		})
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := s.Complete(context.Background(), request("")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	})
	t.Run("close", func(t *testing.T) {
		pid := s.PID()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !processGone(pid) {
			t.Fatalf("process %d survived Close", pid)
		}
		assertNoProcess(t, sp.Path)
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := s.Complete(context.Background(), request("")); !errors.Is(err, ErrPluginDown) {
			t.Fatalf("Complete after Close: %v", err)
		}
		if s.Up() || s.PID() != 0 {
			t.Fatal("up after Close")
		}
	})
	if got, want := h.obs.String(), "alpha:up=true alpha:healthy=true alpha:up=false alpha:healthy=false"; got != want {
		t.Errorf("observer saw %q, want %q", got, want)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()

	t.Run("SIGKILL with a request in flight", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		// No health tick during the test: the exit must be noticed on its own.
		h.opts.HealthInterval = time.Hour
		s := start(t, h, spec("killed", binary(t, "ok")))
		pid := s.PID()

		errc := make(chan error, 1)
		go func() {
			_, err := s.Complete(context.Background(), request("hang"))
			errc <- err
		}()
		waitFor(t, 30*time.Second, "the call to reach the plugin", func() bool {
			return strings.Contains(h.logs.String(), "testplugin: hanging until cancelled")
		})
		sigkill(t, pid)
		select {
		case err := <-errc:
			if !errors.Is(err, ErrPluginDown) {
				t.Fatalf("in-flight call: %v, want ErrPluginDown", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("in-flight call still hanging 20s after the plugin died")
		}
		waitFor(t, 30*time.Second, "a new plugin process", func() bool { return replaced(s, pid) })
		complete(t, s)
		if got, want := h.obs.String(), "killed:up=true killed:healthy=true killed:up=false killed:healthy=false killed:restarted killed:up=true killed:healthy=true"; got != want {
			t.Errorf("observer saw %q, want %q", got, want)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, "level=WARN msg=\"plugin down, restarting\" provider=killed") ||
			!strings.Contains(logs, "signal: killed") || !strings.Contains(logs, "testplugin: starting") {
			t.Errorf("no warning naming the provider, the signal and the stderr tail:\n%s", logs)
		}
	})

	t.Run("crash caused by a request", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.opts.HealthInterval = time.Hour
		s := start(t, h, spec("crashy", binary(t, "ok")))
		pid := s.PID()
		_, err := s.Complete(context.Background(), request("crash"))
		if !errors.Is(err, ErrPluginDown) {
			t.Fatalf("got %v, want ErrPluginDown", err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Fatal("secret in error")
		}
		waitFor(t, 30*time.Second, "restart", func() bool { return replaced(s, pid) })
		complete(t, s)
		if !processGone(pid) {
			t.Fatalf("crashed process %d still there", pid)
		}
		if logs := h.logs.String(); !strings.Contains(logs, "crashing as asked") || !strings.Contains(logs, "exit status 3") {
			t.Errorf("warning does not quote the dead plugin's stderr and exit:\n%s", logs)
		}
	})

	t.Run("crash mid-stream", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		s := start(t, h, spec("midstream", binary(t, "ok")))
		pid := s.PID()
		var c collector
		_, err := s.Stream(context.Background(), request("crash_mid"), &c)
		if !errors.Is(err, ErrPluginDown) {
			t.Fatalf("got %v, want ErrPluginDown", err)
		}
		if c.text() != "hel" {
			t.Errorf("got chunks %q before the crash", c.text())
		}
		waitFor(t, 30*time.Second, "restart", func() bool { return replaced(s, pid) })
		var c2 collector
		if _, err := s.Stream(context.Background(), request(""), &c2); err != nil || c2.text() != "hello" {
			t.Fatalf("stream after restart: %q, %v", c2.text(), err)
		}
	})

	t.Run("hung plugin", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		s := start(t, h, spec("hung", binary(t, "ok")))
		pid := s.PID()
		// From now on the plugin's health check never answers.
		if _, err := s.Complete(context.Background(), request("hang_health")); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := s.Complete(context.Background(), request("hang"))
			errc <- err
		}()
		waitFor(t, 30*time.Second, "the hung plugin replaced", func() bool { return replaced(s, pid) })
		select {
		case err := <-errc:
			if !errors.Is(err, ErrPluginDown) {
				t.Fatalf("call on the hung plugin: %v, want ErrPluginDown", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("call on the killed hung plugin did not return")
		}
		if !processGone(pid) {
			t.Fatalf("hung process %d not killed", pid)
		}
		complete(t, s)
		if logs := h.logs.String(); !strings.Contains(logs, "(hung)") {
			t.Errorf("no log line saying the plugin hung:\n%s", logs)
		}
	})

	t.Run("down while restarting", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.opts.HealthInterval = time.Hour
		sp := spec("slowback", binary(t, "ok"))
		s := start(t, h, sp)
		// With the binary gone, restarts fail and the plugin stays down.
		if err := os.Rename(sp.Path, sp.Path+".away"); err != nil {
			t.Fatal(err)
		}
		sigkill(t, s.PID())
		waitFor(t, 10*time.Second, "down", func() bool { return !s.Up() })
		// A call while down fails at once, never waiting for the restart (which cannot
		// succeed): anything else would end with the context's deadline instead.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := s.Complete(ctx, request(""))
		if !errors.Is(err, ErrPluginDown) {
			t.Fatalf("call while down: %v, want ErrPluginDown", err)
		}
		var c collector
		if _, err := s.Stream(context.Background(), request(""), &c); !errors.Is(err, ErrPluginDown) {
			t.Fatalf("stream while down: %v", err)
		}
		// Close during the backoff leaves nothing behind.
		s.Close()
		assertNoProcess(t, sp.Path)
	})
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	okBin := binary(t, "ok")
	sum, err := os.ReadFile(okBin)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(sum)
	goodSum := hex.EncodeToString(digest[:])
	badSum := strings.Repeat("ab", 32)

	cases := []struct {
		name   string
		mode   string
		edit   func(*Spec, *Options)
		want   []string // substrings of the error
		noPath bool     // the error is about the spec, not the binary
	}{
		{name: "junk on stdout", mode: "junk",
			want: []string{"stdout before the handshake", "hello, this is not a handshake"}},
		{name: "never handshakes", mode: "never",
			edit: func(_ *Spec, o *Options) { o.StartTimeout = 400 * time.Millisecond },
			want: []string{"no handshake within the start timeout (400ms)", "never going to handshake"}},
		{name: "slow start beyond timeout", mode: "slow",
			edit: func(_ *Spec, o *Options) { o.StartTimeout = 100 * time.Millisecond },
			want: []string{"no handshake within", `starting in mode \"slow\"`}},
		{name: "panics at startup", mode: "panic",
			want: []string{"exited before completing the handshake", "assignment to entry in nil map"}},
		{name: "sha256 mismatch", mode: "ok",
			edit: func(s *Spec, _ *Options) { s.SHA256 = badSum },
			want: []string{"refusing to start", "sha256 is " + goodSum, "expects " + badSum}},
		{name: "bad sha256", mode: "ok",
			edit: func(s *Spec, _ *Options) { s.SHA256 = "xyz" },
			want: []string{"not 64 hex digits"}, noPath: true},
		{name: "missing binary", mode: "ok",
			edit: func(s *Spec, _ *Options) { s.Path += "-missing" },
			want: []string{"no such file"}, noPath: true},
		{name: "relative path", mode: "ok",
			edit: func(s *Spec, _ *Options) { s.Path = "testplugin" },
			want: []string{"not absolute"}, noPath: true},
		{name: "configure fails and echoes the secret", mode: "ok",
			edit: func(s *Spec, _ *Options) { s.Settings = json.RawMessage(`{"fail_configure":true}`) },
			want: []string{"configure", "[redacted]", "not valid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sp := spec("broken", binary(t, tc.mode))
			if tc.edit != nil {
				tc.edit(&sp, &h.opts)
			}
			s, err := Start(context.Background(), sp, h.opts)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			wants := append([]string{"providers/broken"}, tc.want...)
			if !tc.noPath {
				wants = append(wants, sp.Path)
			}
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, testSecret) {
				t.Errorf("error holds the secret: %s", msg)
			}
			if !tc.noPath {
				assertNoProcess(t, sp.Path)
			}
		})
	}

	t.Run("sha256 match", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		sp := spec("pinned", okBin)
		sp.SHA256 = strings.ToUpper(goodSum)
		s := start(t, h, sp)
		complete(t, s)
	})

	t.Run("slow start within timeout", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		complete(t, start(t, h, spec("slow", binary(t, "slow"))))
	})

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		sp := spec("cancelled", binary(t, "never"))
		// The start timeout is far beyond the test's: only ctx can end this Start.
		h.opts.StartTimeout = time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Start(ctx, sp, h.opts)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want an error wrapping context.DeadlineExceeded", err)
		}
		assertNoProcess(t, sp.Path)
	})
}

func TestRestartRetriesBrokenBinary(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.opts.HealthInterval = time.Hour
	sp := spec("flaky", binary(t, "ok"))
	s := start(t, h, sp)
	pid := s.PID()
	// Replace the binary with one that fails at startup, then kill the plugin: restarts
	// fail and are retried with backoff until the good binary is back.
	if err := os.Rename(sp.Path, sp.Path+".good"); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho 'broken plugin: cannot start' >&2\nexit 2\n"
	if err := os.WriteFile(sp.Path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sigkill(t, pid)
	waitFor(t, 30*time.Second, "two failed restarts", func() bool {
		return strings.Count(h.logs.String(), "plugin restart failed") >= 2
	})
	if s.Up() {
		t.Fatal("up with a broken binary")
	}
	if err := os.Rename(sp.Path+".good", sp.Path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "restart with the good binary", func() bool { return s.Up() })
	complete(t, s)
	if logs := h.logs.String(); !strings.Contains(logs, "broken plugin: cannot start") {
		t.Errorf("failed restart does not quote the stderr tail:\n%s", logs)
	}
}

func TestBackoff(t *testing.T) {
	s := &Supervisor{opts: Options{BackoffMin: 100 * time.Millisecond, BackoffMax: 30 * time.Second}}
	for _, tc := range []struct {
		n    int
		ceil time.Duration
	}{{0, 100 * time.Millisecond}, {1, 200 * time.Millisecond}, {5, 3200 * time.Millisecond}, {9, 30 * time.Second}, {80, 30 * time.Second}} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			var top time.Duration
			for range 1000 {
				d := s.backoff(tc.n)
				if d < 0 || d > tc.ceil {
					t.Fatalf("backoff(%d) = %s, outside [0, %s]", tc.n, d, tc.ceil)
				}
				top = max(top, d)
			}
			if top < tc.ceil/2 {
				t.Errorf("backoff(%d) never above %s in 1000 draws: no full jitter?", tc.n, top)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		max    int
		want   string
	}{
		{"short", []string{"a\n", "b\n"}, 16, "a\nb"},
		{"cut at a line", []string{"first line\n", "second\n", "third\n"}, 16, "second\nthird"},
		{"one long write", []string{strings.Repeat("x", 30)}, 8, "xxxxxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTailBuffer(tc.max)
			for _, w := range tc.writes {
				b.Write([]byte(w))
			}
			if got := b.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	r := newRedactor(map[string]string{"a": "abcd", "b": "abcdef", "short": "xy"})
	if got := r.String("key abcdef and abcd, xy"); got != "key [redacted] and [redacted], xy" {
		t.Fatalf("got %q", got)
	}
}

func TestConcurrentCallsDuringCrashes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := start(t, h, spec("chaos", binary(t, "ok")))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, down int
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A call on a plugin killed under it fails with ErrPluginDown rather than
				// waiting for its context to end.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var err error
				if time.Now().UnixNano()%2 == 0 {
					_, err = s.Complete(ctx, request(""))
				} else {
					_, err = s.Stream(ctx, request(""), &collector{})
				}
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrPluginDown):
					down++
					time.Sleep(time.Millisecond) // a pipeline would fall back here
				default:
					t.Errorf("unexpected error: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	// answered is the count of calls answered so far.
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return ok
	}
	for range 3 {
		mark := answered()
		waitFor(t, 30*time.Second, "calls answered by the current plugin", func() bool { return answered() >= mark+20 })
		var pid int
		waitFor(t, 30*time.Second, "up", func() bool { pid = s.PID(); return pid != 0 })
		sigkill(t, pid)
	}
	mark := answered()
	waitFor(t, 30*time.Second, "calls answered after the last kill", func() bool { return answered() >= mark+20 })
	close(stop)
	wg.Wait()
	waitFor(t, 30*time.Second, "up", s.Up)
	complete(t, s)
	t.Logf("%d calls answered, %d failed with ErrPluginDown", ok, down)
	if ok == 0 || down == 0 {
		t.Errorf("answered %d, down %d: want both", ok, down)
	}
	if n := strings.Count(h.obs.String(), "restarted"); n < 3 {
		t.Errorf("observer saw %d restarts, want 3: %s", n, h.obs)
	}
}

// replaced reports whether a process other than pid now serves s.
func replaced(s *Supervisor, pid int) bool {
	p := s.PID() // one read: 0 while down
	return p != 0 && p != pid
}

// sigkill kills one plugin process; pid 0 or less would signal a whole process group.
func sigkill(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no plugin process to kill (pid %d)", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}
