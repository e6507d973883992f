package loadtest

import (
	"bufio"
	"context"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds every wait for another goroutine; a passing test never waits for it.
const patience = 30 * time.Second

// virtualClock is a Step's clock in tests: time moves only when the dispatcher sleeps, by
// what it asked for plus late (a sleeper woken late), and the drain timer fires only when
// the test says. Requests take no virtual time, so what a step measures does not depend on
// how loaded the machine is.
type virtualClock struct {
	late time.Duration

	mu    sync.Mutex
	now   time.Time
	wakes []time.Time // the time at the end of each sleep

	drain      chan time.Time
	drainAsked chan time.Duration // the Drain Run waits with, once the last request is started
}

func newVirtualClock(late time.Duration) *virtualClock {
	return &virtualClock{late: late, now: time.Unix(1_700_000_000, 0),
		drain: make(chan time.Time, 1), drainAsked: make(chan time.Duration, 1)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d + c.late)
	c.wakes = append(c.wakes, c.now)
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.drainAsked <- d
	return c.drain
}

// waitDrain waits until Run has started every request and waits for the drain bound.
func (c *virtualClock) waitDrain(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.drainAsked:
		return d
	case <-time.After(patience):
		t.Fatal("the step did not finish starting its requests")
		return 0
	}
}

// TestRunPacing checks the open-loop schedule on a virtual clock: request i starts at
// start + i/rate however late the dispatcher wakes, without drift, and the step measures
// the rate it planned.
func TestRunPacing(t *testing.T) {
	up, err := StartUpstream(Behavior{ContentBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	// Requests take no virtual time, so all 100 may be in flight at once: none is dropped.
	client := NewClient(100)
	defer client.CloseIdleConnections()

	const interval = 2500 * time.Microsecond // 400 requests/s
	for _, late := range []time.Duration{0, 500 * time.Microsecond, 6 * time.Millisecond} {
		t.Run("woken "+late.String()+" late", func(t *testing.T) {
			clk := newVirtualClock(late)
			t0 := clk.Now()
			served := up.Requests()
			r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions",
				Body: requestBody(256, false), Rate: 400, Duration: 250 * time.Millisecond, MaxInflight: 100, clock: clk})
			if r.Planned != 100 || r.OK != 100 || r.ErrorCount() != 0 || up.Requests()-served != 100 {
				t.Fatalf("planned %d, ok %d, errors %v, upstream served %d; want 100, 100, none, 100", r.Planned, r.OK, r.Errors, up.Requests()-served)
			}
			// Request i is due 2ms (the head start) + i*interval after t0.
			due := func(i int) time.Time { return t0.Add(2*time.Millisecond + time.Duration(i)*interval) }
			for _, w := range clk.wakes {
				if off := w.Sub(due(0)) - late; off < 0 || off%interval != 0 {
					t.Fatalf("the dispatcher woke at %s, not %s after a due time", w.Sub(t0), late)
				}
			}
			// The last request goes out at its time (never early), and late wake-ups do not
			// add up: the schedule is kept from the start, not from the previous wake-up.
			if end := clk.Now(); end.Before(due(99)) || end.After(due(99).Add(late)) {
				t.Errorf("the last start was at %s, want %s to %s", end.Sub(t0), due(99).Sub(t0), due(99).Add(late).Sub(t0))
			}
			if late < interval && len(clk.wakes) != 100 {
				t.Errorf("%d sleeps, want one before each of the 100 starts", len(clk.wakes))
			}
			// 100 answers over the planned 250ms, or until the last start when a late
			// wake-up put it past them (requests take no virtual time).
			want := 100 / max(clk.Now().Sub(due(0)).Seconds(), 0.25)
			if math.Abs(r.Achieved-want) > 1e-9 {
				t.Errorf("achieved %.3f rps, want %.3f", r.Achieved, want)
			}
			if r.Latency.P50 < r.LatencyActual.P50 {
				t.Errorf("latency from the schedule %s is below the latency from the send %s", r.Latency.P50, r.LatencyActual.P50)
			}
		})
	}
}

// gated is an upstream whose answers wait until release is closed (or the request ends),
// and which says when each request arrives.
func gated(t *testing.T) (url string, arrived <-chan struct{}, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	arrivals := make(chan struct{}, 1024)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivals <- struct{}{}
		select {
		case <-gate:
			_, _ = w.Write([]byte(`{}`))
		case <-r.Context().Done():
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); _ = srv.Close() })
	return "http://" + ln.Addr().String(), arrivals, release
}

// A stalled upstream must not slow the schedule down: requests due while the concurrency
// cap is reached are dropped, and every request is started (or dropped) while the two in
// flight are still held.
func TestRunDropsInsteadOfWaiting(t *testing.T) {
	url, _, release := gated(t)
	client := NewClient(2)
	defer client.CloseIdleConnections()
	clk := newVirtualClock(0)
	t0 := clk.Now()
	done := make(chan StepResult, 1)
	go func() {
		done <- Run(context.Background(), client, Step{URL: url, Body: requestBody(128, false),
			Rate: 200, Duration: 200 * time.Millisecond, MaxInflight: 2, clock: clk})
	}()
	clk.waitDrain(t) // the schedule is through while the upstream still holds both requests
	release()
	var r StepResult
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Fatal("the step did not end after the upstream answered")
	}
	if r.Planned != 40 || r.OK != 2 || r.Errors["dropped"] != 38 {
		t.Fatalf("planned %d, ok %d, errors %v; want 40, 2, dropped 38", r.Planned, r.OK, r.Errors)
	}
	// The two answers came after the whole schedule (195ms after the first start).
	if end := clk.Now().Sub(t0); end != 2*time.Millisecond+195*time.Millisecond {
		t.Errorf("the last start was %s after t0, want 197ms", end)
	}
	if r.Latency.Max < 195*time.Millisecond {
		t.Errorf("max latency %s, want at least the 195ms the upstream held the first request", r.Latency.Max)
	}
}

func TestRunDrainCancels(t *testing.T) {
	url, arrived, _ := gated(t) // never released: only the drain ends the requests
	client := NewClient(8)
	defer client.CloseIdleConnections()
	clk := newVirtualClock(0)
	done := make(chan StepResult, 1)
	go func() {
		done <- Run(context.Background(), client, Step{URL: url, Body: requestBody(128, false),
			Rate: 100, Duration: 30 * time.Millisecond, MaxInflight: 8, Drain: 100 * time.Millisecond, clock: clk})
	}()
	if d := clk.waitDrain(t); d != 100*time.Millisecond {
		t.Fatalf("Run waits %s for the requests in flight, want the step's Drain of 100ms", d)
	}
	for range 3 {
		select {
		case <-arrived:
		case <-time.After(patience):
			t.Fatal("the upstream did not get the step's 3 requests")
		}
	}
	clk.drain <- time.Time{} // the drain bound passes
	var r StepResult
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Fatal("the step did not end when its drain bound passed")
	}
	if r.OK != 0 || r.Errors["timeout"] != 3 {
		t.Errorf("ok %d, errors %v; want 0 and 3 timeouts", r.OK, r.Errors)
	}
}

func TestRunStreams(t *testing.T) {
	up, err := StartUpstream(Behavior{Chunks: 10, ContentBytes: 200, ChunkDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	client := NewClient(32)
	defer client.CloseIdleConnections()
	r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions", Body: requestBody(256, true),
		Stream: true, Rate: 200, Duration: 100 * time.Millisecond, MaxInflight: 32})
	if r.OK != 20 || r.ErrorCount() != 0 {
		t.Fatalf("ok %d, errors %v; want 20 and none", r.OK, r.Errors)
	}
	// Nine chunk delays separate the first event from the end of the stream.
	if r.TTFB.P50 <= 0 || r.Latency.P50-r.TTFB.P50 < 9*time.Millisecond {
		t.Errorf("ttfb p50 %s, whole stream p50 %s: want the stream at least 9ms longer", r.TTFB.P50, r.Latency.P50)
	}
}

func TestScanSSE(t *testing.T) {
	long := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 100) + "\"}}]}\n\n"
	for _, tc := range []struct {
		name string
		in   string
		want SSE
	}{
		{"whole stream", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n", SSE{Events: 3, Done: true}},
		{"no space after colon", "data:{\"a\":1}\n\ndata:[DONE]\n\n", SSE{Events: 2, Done: true}},
		{"cut before [DONE]", "data: {\"a\":1}\n\n", SSE{Events: 1}},
		{"in-band error", "data: {\"a\":1}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n", SSE{Events: 2, ErrorEvent: true}},
		{"comments, event names and CRLF", ": ping\r\nevent: chunk\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n", SSE{Events: 2, Done: true}},
		{"lines longer than the buffer", long + long + "data: [DONE]\n\n", SSE{Events: 3, Done: true}},
		{"a long line's tail is not an event", "data: " + strings.Repeat("y", 40) + "data: [DONE]\n\n", SSE{Events: 1}},
		{"no final newline", "data: [DONE]", SSE{Events: 1, Done: true}},
		{"empty", "", SSE{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			firsts := 0
			got, err := ScanSSE(bufio.NewReaderSize(strings.NewReader(tc.in), 16), func() { firsts++ })
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ScanSSE = %+v, want %+v", got, tc.want)
			}
			if want := min(got.Events, 1); firsts != want {
				t.Errorf("first called %d times, want %d", firsts, want)
			}
		})
	}
}

func TestRunReadsReportedOverhead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Switchyard-Overhead-Ms", "0.500")
		_, _ = w.Write([]byte(`{}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := NewClient(8)
	defer client.CloseIdleConnections()
	r := Run(context.Background(), client, Step{URL: "http://" + ln.Addr().String(), Body: []byte(`{}`),
		Rate: 200, Duration: 50 * time.Millisecond, MaxInflight: 8})
	if r.OK != 10 || r.Reported.N != 10 || r.Reported.P50 != 500*time.Microsecond {
		t.Errorf("ok %d, reported %+v; want 10 answers reporting 0.5ms", r.OK, r.Reported)
	}
}
