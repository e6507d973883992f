package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

const streamBody = `{"model":"default","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`

// sseEvent is one server-sent event or comment of a stream.
type sseEvent struct {
	comment bool
	data    string
}

func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var evs []sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "data: "):
			evs = append(evs, sseEvent{data: strings.TrimPrefix(line, "data: ")})
		case strings.HasPrefix(line, ": "):
			evs = append(evs, sseEvent{comment: true, data: strings.TrimPrefix(line, ": ")})
		default:
			t.Errorf("not an SSE line: %q", line)
		}
	}
	return evs
}

// serveHTTP runs the server behind a real HTTP listener.
func serveHTTP(t *testing.T, e *testEnv) *httptest.Server {
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func postHTTP(t *testing.T, ts *httptest.Server, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStream(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	resp := postHTTP(t, serveHTTP(t, e), streamBody)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for h, want := range map[string]string{HeaderProvider: "a", HeaderModel: "small", HeaderRule: "default", HeaderAttempts: "1", HeaderFallbacks: "0"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	evs := readEvents(t, resp.Body)
	// The deltas, the finish, the usage (include_usage), the summary comment, [DONE].
	if len(evs) != 7 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	var content strings.Builder
	for i, ev := range evs[:5] {
		var ch struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Model   string `json:"model"`
			Choices []struct {
				Delta struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if ev.comment || json.Unmarshal([]byte(ev.data), &ch) != nil || ch.Object != "chat.completion.chunk" || ch.ID != "chatcmpl-fake" {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if i == 4 {
			if ch.Usage == nil || ch.Usage.PromptTokens != 1000 || ch.Usage.CompletionTokens != 500 || len(ch.Choices) != 0 {
				t.Errorf("usage chunk %s", ev.data)
			}
			continue
		}
		content.WriteString(ch.Choices[0].Delta.Content)
		if i == 0 && ch.Choices[0].Delta.Role != "assistant" {
			t.Errorf("first chunk %s has no role", ev.data)
		}
		if i == 3 && (ch.Choices[0].FinishReason == nil || *ch.Choices[0].FinishReason != "stop") {
			t.Errorf("finish chunk %s", ev.data)
		}
	}
	if content.String() != "Hello" {
		t.Errorf("content %q", content.String())
	}
	sum := evs[5]
	if !sum.comment || !strings.HasPrefix(sum.data, "switchyard {") {
		t.Fatalf("summary %+v", sum)
	}
	var s summary
	if err := json.Unmarshal([]byte(strings.TrimPrefix(sum.data, "switchyard ")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Provider != "a" || s.Model != "small" || s.Rule != "default" || s.Attempts != 1 || s.Fallbacks != 0 || s.CostUSD != 0.002 || s.OverheadMS <= 0 {
		t.Errorf("summary %+v", s)
	}
	if evs[6].comment || evs[6].data != "[DONE]" {
		t.Errorf("last event %+v, want [DONE]", evs[6])
	}
	// Trailers arrive once the body has been read.
	if got := resp.Trailer.Get(HeaderCost); got != "0.00200000" {
		t.Errorf("trailer %s = %q", HeaderCost, got)
	}
	if got := resp.Trailer.Get(HeaderOverhead); got == "" {
		t.Errorf("trailer %s missing: %v", HeaderOverhead, resp.Trailer)
	}
}

func TestStreamWithoutUsage(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	rec := e.do("POST", "/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	evs := readEvents(t, rec.Body)
	if strings.Contains(rec.Body.String(), `"usage"`) || len(evs) != 6 || evs[5].data != "[DONE]" {
		t.Errorf("stream %q", rec.Body.String())
	}
}

func TestStreamInBandError(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	e.d.stream = func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
		if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Role: "assistant", Content: "Hel"}}}); err != nil {
			return nil, err
		}
		return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "connection reset by upstream", OutputStarted: true}
	}
	rec := e.do("POST", "/v1/chat/completions", streamBody)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	evs := readEvents(t, rec.Body)
	if len(evs) != 3 {
		t.Fatalf("events %+v", evs)
	}
	var env envelope
	if err := json.Unmarshal([]byte(evs[1].data), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" || env.Error.Type == "" {
		t.Errorf("in-band error %q", evs[1].data)
	}
	if !evs[2].comment || !strings.HasPrefix(evs[2].data, "switchyard {") {
		t.Errorf("summary %+v", evs[2])
	}
	if strings.Contains(rec.Body.String(), "[DONE]") {
		t.Error("a failed stream ended with [DONE]")
	}
	if e.d.calls.Load() != 1 {
		t.Errorf("%d upstream calls: a started stream must not fall back", e.d.calls.Load())
	}
}

func TestStreamFailsBeforeStart(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	e.d.stream = func(context.Context, *provider.Request, provider.ChunkSender) (*provider.Usage, error) {
		return nil, &provider.Error{Kind: provider.KindAuthentication, Message: "bad upstream key"}
	}
	rec := e.do("POST", "/v1/chat/completions", streamBody)
	wantError(t, rec, rec.Code, "api_error", "all_targets_failed", "")
	if rec.Header().Get(HeaderAttempts) != "2" || rec.Header().Get(HeaderOverhead) == "" {
		t.Errorf("headers %v", rec.Header())
	}
}

// stallWriter is a client that stops reading: after the first accept bytes, a write
// blocks until the write deadline set through http.ResponseController passes (forever
// when none is set, until the test ends), then fails like a net.Conn would.
type stallWriter struct {
	h       http.Header
	accept  int
	release chan struct{}

	mu       sync.Mutex
	status   int
	body     bytes.Buffer
	deadline time.Time
	// armed counts deadlines set since the last write; unarmed counts writes made
	// without a fresh deadline.
	armed, unarmed int
	stalled        bool
}

func newStallWriter(t *testing.T, accept int) *stallWriter {
	w := &stallWriter{h: http.Header{}, accept: accept, release: make(chan struct{})}
	t.Cleanup(func() { close(w.release) })
	return w
}

func (w *stallWriter) Header() http.Header { return w.h }

func (w *stallWriter) WriteHeader(s int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = s
	}
}

func (w *stallWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	w.armed++
	return nil
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = 200
	}
	if w.armed == 0 {
		w.unarmed++
	}
	w.armed = 0
	if w.body.Len()+len(p) <= w.accept {
		w.body.Write(p)
		w.mu.Unlock()
		return len(p), nil
	}
	w.stalled = true
	dl := w.deadline
	w.mu.Unlock()
	var expired <-chan time.Time
	if !dl.IsZero() {
		tm := time.NewTimer(time.Until(dl))
		defer tm.Stop()
		expired = tm.C
	}
	select {
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	case <-w.release:
		return 0, errors.New("test over")
	}
}

func (w *stallWriter) Flush() {}

// serveStalled serves one request to w in the background and waits, for at most a
// generous minute, for the handler to return.
func serveStalled(t *testing.T, e *testEnv, w http.ResponseWriter, body string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		e.srv.Handler().ServeHTTP(w, req)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the handler is still writing to a client that stopped reading")
	}
}

// TestClientWriteDeadline: a client that stops reading ends its request once a write
// passes timeouts.client_write: the upstream stream is cancelled, the handler returns and
// its admission slot is free for the next client.
func TestClientWriteDeadline(t *testing.T) {
	const extra = "timeouts: {client_write: 50ms}\nlimits: {max_inflight: 1, max_queue: 0}\n"
	t.Run("stream", func(t *testing.T) {
		e := newTestEnv(t, extra, Options{})
		var (
			mu      sync.Mutex
			sendErr error
			ctxErr  error
			sent    int
		)
		e.d.stream = func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
			// An endless stream: only the client's going away ends it.
			for i := 0; ; i++ {
				err := out.Send(&provider.Chunk{ID: "c", Choices: []provider.Delta{{Role: "assistant", Content: strings.Repeat("word ", 50)}}})
				if err != nil {
					mu.Lock()
					sendErr, ctxErr, sent = err, ctx.Err(), i
					mu.Unlock()
					return nil, err
				}
			}
		}
		w := newStallWriter(t, 4096)
		serveStalled(t, e, w, streamBody)
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil || ctxErr == nil {
			t.Errorf("after %d chunks: send error %v, upstream context %v; want both ended", sent, sendErr, ctxErr)
		}
		w.mu.Lock()
		if !w.stalled || w.unarmed != 0 {
			t.Errorf("stalled %v, %d writes without a fresh deadline", w.stalled, w.unarmed)
		}
		w.mu.Unlock()
		if v := testutil.ToFloat64(e.m.ActiveRequests); v != 0 {
			t.Errorf("active requests %v after the handler returned", v)
		}
		// The slot is free: the next client is served, not shed.
		if rec := e.do("POST", "/v1/chat/completions", chatBody("default")); rec.Code != 200 {
			t.Errorf("next client: status %d: %s", rec.Code, rec.Body.String())
		}
	})
	t.Run("whole answer", func(t *testing.T) {
		e := newTestEnv(t, extra, Options{})
		big := strings.Repeat("lorem ipsum ", 4096)
		e.d.complete = func(_ context.Context, req *provider.Request) (*provider.Response, error) {
			return &provider.Response{Model: req.Model, Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: big}, FinishReason: "stop"}}}, nil
		}
		w := newStallWriter(t, 0)
		serveStalled(t, e, w, chatBody("default"))
		w.mu.Lock()
		if !w.stalled || w.unarmed != 0 {
			t.Errorf("stalled %v, %d writes without a fresh deadline", w.stalled, w.unarmed)
		}
		w.mu.Unlock()
		e.d.complete = nil
		if rec := e.do("POST", "/v1/chat/completions", chatBody("default")); rec.Code != 200 {
			t.Errorf("next client: status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
