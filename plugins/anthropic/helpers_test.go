package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

const testKey = "test-secret-key-0123456789"

// received is one request the fake upstream got.
type received struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
	Raw          []byte
}

// upstream is a fake Anthropic API. answer writes the reply; it may be replaced per test.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	answer func(w http.ResponseWriter, r *http.Request, body map[string]any)
}

func newUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body map[string]any)) *upstream {
	t.Helper()
	u := &upstream{answer: answer}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		u.mu.Lock()
		u.reqs = append(u.reqs, received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Raw: raw})
		u.mu.Unlock()
		u.answer(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) received {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// connect serves a configured provider over the SDK's in-memory gRPC connection.
func connect(t *testing.T, baseURL, extraSettings string) provider.Provider {
	t.Helper()
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	settings := fmt.Sprintf(`{"base_url":%q%s}`, baseURL, extraSettings)
	cfg := provider.Config{Instance: "anthropic", Settings: json.RawMessage(settings), Secrets: map[string]string{"api_key": testKey}}
	if err := p.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeJSON answers with a JSON body as the Messages API does.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_011CTestRequestId")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// sse is one server-sent event as the Messages API writes it.
type sse struct{ event, data string }

// writeSSE streams events with Anthropic's framing (event: line, data: line, blank line),
// flushing after each and pausing delay between them; it stops when the client goes away.
func writeSSE(w http.ResponseWriter, r *http.Request, delay time.Duration, events []sse) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	f := w.(http.Flusher)
	for i, e := range events {
		if i > 0 && delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(delay):
			}
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.event, e.data)
		f.Flush()
	}
}

// textMessage is a whole Messages API answer with one text block.
func textMessage(model, text string) string {
	return `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"` + model + `",` +
		`"content":[{"type":"text","text":` + quote(text) + `}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":12,"output_tokens":6}}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// textStream is the documented event sequence of a streamed text answer, ping included.
func textStream(model string, words ...string) []sse {
	ev := []sse{
		{"message_start", `{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"` + model + `","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type": "ping"}`},
	}
	for _, w := range words {
		ev = append(ev, sse{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + quote(w) + `}}`})
	}
	return append(ev,
		sse{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		sse{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`},
		sse{"message_stop", `{"type":"message_stop"}`},
	)
}

// sink collects stream chunks.
type sink struct {
	mu     sync.Mutex
	chunks []*provider.Chunk
}

func (s *sink) Send(c *provider.Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = append(s.chunks, c)
	return nil
}

func (s *sink) deltas() []provider.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []provider.Delta
	for _, c := range s.chunks {
		out = append(out, c.Choices...)
	}
	return out
}

func (s *sink) text() string {
	var b strings.Builder
	for _, d := range s.deltas() {
		b.WriteString(d.Content)
	}
	return b.String()
}

func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want an in-band *provider.Error", err)
	}
	return pe
}

func userReq(model, text string) *provider.Request {
	return &provider.Request{ID: "req_1", Model: model, Messages: []provider.Message{{Role: "user", Content: text}}}
}

// jsonEq compares got (decoded JSON) with want (JSON text).
func jsonEq(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want JSON: %v", what, err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}
