package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// proc is a router whose end the test controls: unlike startRouter, it reports how the
// process exited, and takes extra arguments and environment.
type proc struct {
	*router
	done chan struct{}
	err  error // what cmd.Wait returned; read after done is closed
}

// launch writes cfg to a temporary file and starts the router on it with args and env
// added, waiting until it is ready. Whatever still runs when the test ends is killed.
func launch(t *testing.T, cfg string, env []string, args ...string) *proc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	p := &proc{router: &router{t: t, base: "http://" + addr, log: &syncBuffer{}}, done: make(chan struct{})}
	p.cmd = exec.Command(built(t, "switchyard"), append([]string{"--config", path, "--listen", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.Env = append(append(os.Environ(), "SWITCHYARD_CACHE_DIR="+filepath.Join(os.TempDir(), "switchyard-test-cache")), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("router log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("router exited during start:\n%s", p.log.String())
		}
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("router not ready after 60 s:\n%s", p.log.String())
	return nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit and returns what Wait returned.
func (p *proc) wait(d time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("the router did not exit within %s", d)
		return nil
	}
}

// plugins returns the router's plugin processes, failing unless there are want of them.
func (p *proc) plugins(want int) []int {
	p.t.Helper()
	pids := p.pluginPIDs()
	if len(pids) != want {
		p.t.Fatalf("found %d plugin processes %v, want %d", len(pids), pids, want)
	}
	return pids
}

// allGone waits up to d until none of pids is alive.
func allGone(t *testing.T, pids []int, d time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("plugin processes %v to be gone", pids), d, func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}

// sse is a streamed answer read as it arrives.
type sse struct {
	resp   *http.Response
	events chan string // data: payloads, in order; closed at the end of the body
	first  chan struct{}
	ended  chan struct{} // closed when the body ends
}

// words is a reply of n words for the mock.
func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(w, " ")
}

// openStream starts a streaming chat completion with the given mock metadata and reads
// its events in the background.
func openStream(t *testing.T, base string, metadata map[string]string) *sse {
	t.Helper()
	md, _ := json.Marshal(metadata)
	body := fmt.Sprintf(`{"model":"default","stream":true,"messages":[{"role":"user","content":"stream please"}],"metadata":%s}`, md)
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream status %d: %s", resp.StatusCode, b)
	}
	s := &sse{resp: resp, events: make(chan string, 1024), first: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		seen := false
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.events <- data
				if !seen {
					seen = true
					close(s.first)
				}
			}
		}
	}()
	return s
}

// all waits up to d for the end of the stream and returns its data payloads.
func (s *sse) all(t *testing.T, d time.Duration) []string {
	t.Helper()
	var out []string
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("the stream did not end within %s; got %d events", d, len(out))
		}
	}
}

func (s *sse) started(t *testing.T) {
	t.Helper()
	select {
	case <-s.first:
	case <-time.After(patience):
		t.Fatalf("no event within %s", patience)
	}
}

// refused waits until a new connection to the router is refused.
func refused(t *testing.T, base string, d time.Duration) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	waitFor(t, "new connections to be refused", d, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

// TestOrphanPluginsAfterSIGKILL: a host killed with SIGKILL cannot clean up, yet no plugin
// it started may outlive it (Pdeathsig plus the SDK's parent watchdog).
func TestOrphanPluginsAfterSIGKILL(t *testing.T) {
	p := launch(t, baseConfig(t, ""), nil)
	pids := p.plugins(2)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(patience)
	allGone(t, pids, patience)
}

// heldUpstream is a fake OpenAI upstream whose streams send a word every 20 ms until the
// test calls release, then finish: the test, not the clock, decides when a stream ends.
type heldUpstream struct {
	*httptest.Server
	release func()
	sent    atomic.Int64 // words sent, over every stream
}

func newHeldUpstream(t *testing.T) *heldUpstream {
	t.Helper()
	released := make(chan struct{})
	u := &heldUpstream{}
	var once sync.Once
	u.release = func() { once.Do(func() { close(released) }) }
	chunk := func(w http.ResponseWriter, delta, finish string) {
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", delta, finish)
		w.(http.Flusher).Flush()
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i := 0; ; i++ {
			chunk(w, fmt.Sprintf(`{"content":"w%d "}`, i), "null")
			u.sent.Add(1)
			select {
			case <-r.Context().Done():
				return
			case <-released:
				chunk(w, `{}`, `"stop"`)
				io.WriteString(w, "data: [DONE]\n\n")
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(u.Close)
	t.Cleanup(u.release) // runs first: a handler still streaming lets Close return
	return u
}

// TestShutdownDrainsStreams: SIGTERM during a stream lets it finish with [DONE], refuses
// new connections, stops the plugins and exits 0. (/readyz turns 503 at the signal, but
// net/http reads no new request once shutdown has begun, so no client can see it here.)
//
// The upstream streams until the test releases it, after seeing new connections refused:
// the stream is in flight when the listener closes however slowly the machine runs. The
// grace is ten minutes, so it cannot cut the stream, and a router that exits within
// patience of the stream's end did not wait the grace out.
func TestShutdownDrainsStreams(t *testing.T) {
	up := newHeldUpstream(t)
	p := launch(t, fmt.Sprintf(`
providers:
  - name: up
    plugin: %s
    settings: {base_url: %s/v1}
    secrets: {api_key: sk-test-not-real}
models:
  - {name: default, provider: up, model: up, context_window: 8192}
limits: {shutdown_grace: 10m}
`, built(t, "plugins/switchyard-provider-openai"), up.URL), nil)
	pids := p.plugins(1)
	s := openStream(t, p.base, map[string]string{})
	s.started(t)

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	refused(t, p.base, patience)
	t.Logf("new connections refused %s after the signal", time.Since(signalled))
	// The stream keeps flowing while the router drains: a word sent after the listener
	// closed must reach the client too (checked below with the count).
	closed := up.sent.Load()
	waitFor(t, "the upstream to send a word after the listener closed", patience, func() bool {
		return up.sent.Load() > closed
	})
	select {
	case <-s.ended:
		t.Fatal("the stream ended before its upstream finished: it was not drained")
	default:
	}
	up.release()
	events := s.all(t, patience)
	if len(events) == 0 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("the stream did not end with [DONE]; last events: %q", tail(events, 3))
	}
	content := 0
	for _, e := range events {
		if strings.Contains(e, `"content":"w`) {
			content++
		}
		if strings.Contains(e, `"error"`) {
			t.Errorf("error event in a drained stream: %s", e)
		}
	}
	if n := up.sent.Load(); int64(content) != n {
		t.Errorf("got %d content chunks of the %d the upstream sent", content, n)
	}
	if err := p.wait(patience); err != nil {
		t.Fatalf("exit: %v, want status 0", err)
	}
	t.Logf("exited %s after the signal", time.Since(signalled))
	allGone(t, pids, patience)
}

// TestShutdownGraceEndsStreams: a stream still running when shutdown_grace ends gets the
// in-band shutting_down error and no [DONE]; the router still exits 0 and stops its plugins.
//
// The stream would last 100 s, far beyond patience, so it can only end in time (and the
// router exit) because the 300 ms grace cut it.
func TestShutdownGraceEndsStreams(t *testing.T) {
	p := launch(t, baseConfig(t, "limits: {shutdown_grace: 300ms}\n"), nil)
	pids := p.plugins(2)
	s := openStream(t, p.base, map[string]string{"mock.chunk_delay_ms": "100", "mock.reply": words(1000)})
	s.started(t)
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	events := s.all(t, patience)
	if len(events) == 0 {
		t.Fatal("no events")
	}
	last := events[len(events)-1]
	var env struct {
		Error struct {
			Type, Code, Message string
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(last), &env); err != nil || env.Error.Code != "shutting_down" || env.Error.Type != "api_error" || env.Error.Message == "" {
		t.Fatalf("last event %s, want the in-band shutting_down error", last)
	}
	for _, e := range events {
		if e == "[DONE]" {
			t.Fatal("a stream ended by shutdown must not carry [DONE]")
		}
	}
	if err := p.wait(patience); err != nil {
		t.Fatalf("exit: %v, want status 0", err)
	}
	t.Logf("exited %s after the signal, with a 300ms grace", time.Since(signalled))
	allGone(t, pids, patience)
}

// TestReadTimeout: limits.read_timeout cuts a body that arrives too slowly, but not a
// stream or a slow answer that outlasts it.
func TestReadTimeout(t *testing.T) {
	r := startRouter(t, baseConfig(t, "limits: {read_timeout: 1s}\n"))
	t.Run("long stream is not cut", func(t *testing.T) {
		s := openStream(t, r.base, map[string]string{"mock.chunk_delay_ms": "50", "mock.reply": words(40)})
		events := s.all(t, patience)
		if len(events) == 0 || events[len(events)-1] != "[DONE]" {
			t.Fatalf("a 2 s stream under a 1 s read_timeout did not end with [DONE]: %q", tail(events, 3))
		}
	})
	t.Run("slow answer is not cut", func(t *testing.T) {
		status, _, body := r.post("/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.latency_ms":"1500"}}`)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
	})
	t.Run("slow body is cut", func(t *testing.T) {
		// The client sends the headers and the start of the body, then nothing: the router
		// can only answer by cutting the read. The client waits patience (30 s, far above the
		// 1 s read_timeout) for that answer; without the cut none would come.
		c, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_, err = io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"model\":")
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(patience))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to the unfinished request within %s: %v", time.Since(start), err)
		}
		t.Logf("the slow body was cut after %s", time.Since(start))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"code":"request_timeout"`) {
			t.Fatalf("got %d %s, want 408 request_timeout", resp.StatusCode, b)
		}
		// The connection is closed after the answer.
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("connection still open after the cut")
		}
	})
}

func tail(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestAdmission fills limits.max_inflight and limits.max_queue with slow requests of mixed
// priorities: the most important are served, the rest are shed with 429 shed and
// Retry-After; a request that waits limits.queue_timeout is shed; a body over
// limits.max_body_bytes is refused with 413.
func TestAdmission(t *testing.T) {
	t.Run("priorities", func(t *testing.T) {
		// queue_timeout is far longer than the requests, so that a waiter is never shed
		// for waiting, however slowly this machine serves the ones ahead of it.
		r := startRouter(t, baseConfig(t, "limits: {max_inflight: 2, max_queue: 2, queue_timeout: 1m}\n"))
		for _, s := range []string{`switchyard_admission_queue_depth`, `switchyard_admission_shed_total{priority="1"}`,
			`switchyard_admission_shed_total{priority="10"}`} {
			if v, ok := r.metric(s); !ok || v != 0 {
				t.Errorf("%s = %v (present %v) before traffic, want 0", s, v, ok)
			}
		}
		// 2 slots + 2 places in the queue for 8 requests at once, each taking 3 s (time
		// enough for all 8 to arrive before a slot frees): 4 are served. Whatever the order
		// of arrival, both priority-10 requests are among them (each either gets a slot or
		// is among the two most important waiters), and at most two priority-1 requests are
		// (only by taking a slot before anyone waited).
		prios := []int{1, 10, 1, 5, 1, 10, 1, 5}
		type result struct {
			prio, status int
			retryAfter   string
			body         []byte
		}
		results := make(chan result, len(prios))
		for _, p := range prios {
			go func() {
				req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/chat/completions",
					strings.NewReader(`{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.latency_ms":"3000"}}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-switchyard-priority", fmt.Sprint(p))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results <- result{prio: p}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				results <- result{p, resp.StatusCode, resp.Header.Get("Retry-After"), b}
			}()
		}
		served := map[int]int{}
		shed := 0
		for range prios {
			res := <-results
			switch res.status {
			case 200:
				served[res.prio]++
			case 429:
				shed++
				var env struct {
					Error struct{ Type, Code string } `json:"error"`
				}
				_ = json.Unmarshal(res.body, &env)
				if env.Error.Type != "rate_limit_error" || env.Error.Code != "shed" || res.retryAfter == "" {
					t.Errorf("priority %d: 429 %s with Retry-After %q, want rate_limit_error shed with Retry-After", res.prio, res.body, res.retryAfter)
				}
			default:
				t.Errorf("priority %d: status %d %s", res.prio, res.status, res.body)
			}
		}
		if served[10] != 2 || served[1] > 2 || served[1]+served[5]+served[10] != 4 || shed != 4 {
			t.Errorf("served by priority %v and %d shed; want both priority-10 served, 4 served, 4 shed", served, shed)
		}
		var counted float64
		for p := 1; p <= 10; p++ {
			v, _ := r.metric(fmt.Sprintf(`switchyard_admission_shed_total{priority="%d"}`, p))
			counted += v
		}
		if counted != 4 {
			t.Errorf("switchyard_admission_shed_total sums to %v, want 4", counted)
		}
		if v, _ := r.metric(`switchyard_requests_total{model="default",status="429"}`); v != 4 {
			t.Errorf(`switchyard_requests_total{status="429"} = %v, want 4`, v)
		}
		if v, _ := r.metric(`switchyard_admission_queue_depth`); v != 0 {
			t.Errorf("queue depth %v after the burst, want 0", v)
		}
	})

	r := startRouter(t, baseConfig(t, "limits: {max_inflight: 2, max_queue: 2, queue_timeout: 1s, max_body_bytes: 2048}\n"))
	t.Run("queue timeout", func(t *testing.T) {
		// Two requests of a minute hold the slots; a third waits queue_timeout (1 s) and is
		// shed. No slot can free before the holders are cancelled below, so the third can
		// only end, in time, by the queue timeout: a 200 would mean it waited for a slot.
		hold, release := context.WithCancel(context.Background())
		defer release()
		done := make(chan int, 2)
		for range 2 {
			go func() {
				req, _ := http.NewRequestWithContext(hold, http.MethodPost, r.base+"/v1/chat/completions",
					strings.NewReader(`{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.latency_ms":"60000"}}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
		}
		waitFor(t, "both slots to be taken", patience, func() bool {
			v, _ := r.metric(`switchyard_active_requests`)
			return v == 2
		})
		start := time.Now()
		status, h, body := r.post("/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"x"}]}`, "x-switchyard-priority", "9")
		// The router starts the 1 s wait after this client started its clock: it cannot
		// answer sooner (slack for the clocks' granularity only). No upper bound: a loaded
		// machine may take any time to get there.
		d := time.Since(start)
		if status != 429 || !strings.Contains(string(body), `"code":"shed"`) || h.Get("Retry-After") == "" || d < 900*time.Millisecond {
			t.Errorf("got %d %s Retry-After %q after %s, want 429 shed after at least 1 s", status, body, h.Get("Retry-After"), d)
		}
		t.Logf("the waiting request was answered after %s, with a 1s queue_timeout", d)
		if v, _ := r.metric(`switchyard_admission_shed_total{priority="9"}`); v != 1 {
			t.Errorf(`shed_total{priority="9"} = %v, want 1`, v)
		}
		holding := 2
		select {
		case s := <-done:
			t.Errorf("a slot holder ended (status %d) before it was released", s)
			holding--
		default:
		}
		// Let the holders go, so the next subtest finds free slots.
		release()
		for range holding {
			<-done
		}
		waitFor(t, "the slots to be freed", patience, func() bool {
			v, _ := r.metric(`switchyard_active_requests`)
			return v == 0
		})
	})

	t.Run("body too large", func(t *testing.T) {
		big := fmt.Sprintf(`{"model":"default","messages":[{"role":"user","content":%q}]}`, strings.Repeat("x", 4096))
		status, _, body := r.post("/v1/chat/completions", big)
		var env struct {
			Error struct{ Type, Code string } `json:"error"`
		}
		_ = json.Unmarshal(body, &env)
		if status != 413 || env.Error.Code != "request_too_large" || env.Error.Type != "invalid_request_error" {
			t.Errorf("got %d %s, want 413 request_too_large", status, body)
		}
	})
}
