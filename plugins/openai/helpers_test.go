package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// received is one request as the fake upstream got it.
type received struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// upstream is a fake OpenAI-compatible server that records what it receives.
type upstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

// newUpstream serves handler, which gets the request body already read.
func newUpstream(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, received{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		handler(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]received(nil), u.got...)
}

// last returns the only request the upstream received.
func (u *upstream) last(t *testing.T) received {
	t.Helper()
	got := u.requests()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want 1", len(got))
	}
	return got[0]
}

// connect configures a Provider and serves it over the SDK's in-memory gRPC connection.
func connect(t *testing.T, settings string, secrets map[string]string) provider.Provider {
	t.Helper()
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg := provider.Config{Instance: "openai", Settings: json.RawMessage(settings), Secrets: secrets}
	if err := p.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

// settingsFor is the settings JSON for a fake upstream at base (its /v1 root).
func settingsFor(base string, more string) string {
	s := `{"base_url":` + quote(base+"/v1")
	if more != "" {
		s += "," + more
	}
	return s + "}"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeSSE(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// sink collects the chunks of a stream.
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

func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	for _, c := range s.chunks {
		for _, d := range c.Choices {
			b.WriteString(d.Content)
		}
	}
	return b.String()
}

// asError returns err as an in-band *provider.Error or fails the test.
func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want an in-band *provider.Error, got %T: %v", err, err)
	}
	return pe
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation %q: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, gi, wi)
	}
}

func ptr[T any](v T) *T { return &v }
