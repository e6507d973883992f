package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/state"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// cachedRoute adds a route with a cache to testConfig.
const cachedRoute = `
  - {name: cached, targets: [small], cache: {ttl: 1m}}
  - {name: tiny, targets: [small], cache: {ttl: 1m, max_bytes: 64}}
`

// cacheEnv is a test server whose cache is a real state.Local on a clock the test moves,
// storing on the request's goroutine, and whose ledger rows the test reads.
type cacheEnv struct {
	*testEnv
	now  time.Time
	mu   sync.Mutex
	rows []ledger.Row
}

func newCacheEnv(t *testing.T, extra string, c state.Cache) *cacheEnv {
	t.Helper()
	ce := &cacheEnv{now: time.Unix(1_700_000_000, 0)}
	if c == nil {
		c = state.NewLocal(state.LocalOptions{Now: func() time.Time { return ce.now }})
	}
	cfg := strings.Replace(testConfig, "  - {name: default, targets: [small, large]}\n",
		"  - {name: default, targets: [small, large]}"+cachedRoute, 1)
	ce.testEnv = newTestEnvFrom(t, cfg+extra, Options{Cache: c, Record: func(r ledger.Row) bool {
		ce.mu.Lock()
		defer ce.mu.Unlock()
		ce.rows = append(ce.rows, r)
		return true
	}})
	ce.srv.background = func(f func()) { f() }
	return ce
}

func (ce *cacheEnv) lastRow() ledger.Row {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return ce.rows[len(ce.rows)-1]
}

func (ce *cacheEnv) count(route, result string) float64 {
	return testutil.ToFloat64(ce.m.CacheRequests.WithLabelValues(route, result))
}

func cacheHeader(rec *httptest.ResponseRecorder) string { return rec.Header().Get(HeaderCache) }

func TestCacheAnswersTheSameRequestOnce(t *testing.T) {
	e := newCacheEnv(t, "", nil)
	body := `{"model":"cached","messages":[{"role":"user","content":"say hi"}],"temperature":0.5}`
	first := e.do("POST", "/v1/chat/completions", body)
	if first.Code != 200 || cacheHeader(first) != "miss" {
		t.Fatalf("first: %d %q %s", first.Code, cacheHeader(first), first.Body.String())
	}
	if row := e.lastRow(); row.CacheHit || row.CostUSD == 0 {
		t.Errorf("the miss's row: %+v", row)
	}
	// The same request written differently: key order and whitespace do not matter.
	same := "{ \"temperature\": 0.5,\n \"messages\": [{\"content\": \"say hi\", \"role\": \"user\"}], \"model\": \"cached\" }"
	hit := e.do("POST", "/v1/chat/completions", same)
	if hit.Code != 200 || cacheHeader(hit) != "hit" {
		t.Fatalf("second: %d %q %s", hit.Code, cacheHeader(hit), hit.Body.String())
	}
	if n := e.d.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls, want 1: the hit was dispatched", n)
	}
	if hit.Body.String() != first.Body.String() {
		t.Errorf("the hit's body differs:\n%s\n%s", hit.Body.String(), first.Body.String())
	}
	if hit.Header().Get(HeaderCost) != formatUSD(0) || hit.Header().Get(HeaderProvider) != "a" || hit.Header().Get(HeaderModel) != "small" {
		t.Errorf("the hit's headers: %v", hit.Header())
	}
	row := e.lastRow()
	if !row.CacheHit || row.CostUSD != 0 || row.Provider != "a" || row.Model != "small" || row.Status != 200 || row.Route != "cached" {
		t.Errorf("the hit's row: %+v", row)
	}
	if e.count("cached", "hit") != 1 || e.count("cached", "miss") != 1 {
		t.Errorf("cache metrics: hit %v miss %v", e.count("cached", "hit"), e.count("cached", "miss"))
	}
	if v := testutil.ToFloat64(e.m.CacheStored.WithLabelValues("cached")); v != 1 {
		t.Errorf("switchyard_cache_stored_total = %v, want 1", v)
	}

	// Anything else that differs is another entry: the body, the endpoint's stream flag,
	// the steering headers.
	for name, req := range map[string][]string{
		"another prompt": {`{"model":"cached","messages":[{"role":"user","content":"say bye"}],"temperature":0.5}`},
		"a priority":     {body, HeaderPriority, "9"},
	} {
		rec := e.do("POST", "/v1/chat/completions", req[0], req[1:]...)
		if rec.Code != 200 || cacheHeader(rec) != "miss" {
			t.Errorf("%s: %d %q, want a miss", name, rec.Code, cacheHeader(rec))
		}
	}

	// A route without a cache says nothing of it.
	if rec := e.do("POST", "/v1/chat/completions", chatBody("default")); rec.Code != 200 || cacheHeader(rec) != "" {
		t.Errorf("uncached route: %d %q", rec.Code, cacheHeader(rec))
	}
}

func TestCacheNeverCrossesTeams(t *testing.T) {
	const red2 = "sk-test-red-two-0a1b2c3d4e5f6a7b"
	const solo = "sk-test-solo-9f8e7d6c5b4a3f2e"
	e := newCacheEnv(t, `
keys:
  - {name: red-1, team: red, key: `+secretA+`}
  - {name: blue-1, team: blue, key: `+secretB+`}
  - {name: red-2, team: red, key: `+red2+`}
  - {name: solo, key: `+solo+`}
`, nil)
	body := chatBody("cached")
	for _, step := range []struct{ who, secret, want string }{
		{"red-1", secretA, "miss"},
		{"blue-1 (another team)", secretB, "miss"},
		{"red-2 (red-1's team)", red2, "hit"},
		{"solo (no team: its own scope)", solo, "miss"},
		{"solo again", solo, "hit"},
		{"blue-1 again", secretB, "hit"},
	} {
		rec := e.do("POST", "/v1/chat/completions", body, "Authorization", "Bearer "+step.secret)
		if rec.Code != 200 || cacheHeader(rec) != step.want {
			t.Errorf("%s: %d %q, want %s", step.who, rec.Code, cacheHeader(rec), step.want)
		}
	}
}

func TestCacheOptOutAndTTL(t *testing.T) {
	e := newCacheEnv(t, "", nil)
	body := chatBody("cached")
	if rec := e.do("POST", "/v1/chat/completions", body, HeaderCache, "off"); rec.Code != 200 || cacheHeader(rec) != "bypass" {
		t.Fatalf("off: %d %q", rec.Code, cacheHeader(rec))
	}
	// off neither read nor filled the cache.
	if rec := e.do("POST", "/v1/chat/completions", body); cacheHeader(rec) != "miss" {
		t.Errorf("after off: %q, want a miss", cacheHeader(rec))
	}
	if rec := e.do("POST", "/v1/chat/completions", body, HeaderCache, "OFF"); cacheHeader(rec) != "bypass" {
		t.Errorf("off with an entry: %q, want bypass", cacheHeader(rec))
	}
	if e.count("cached", "bypass") != 2 {
		t.Errorf("bypass counted %v times", e.count("cached", "bypass"))
	}
	e.now = e.now.Add(59 * time.Second)
	if rec := e.do("POST", "/v1/chat/completions", body); cacheHeader(rec) != "hit" {
		t.Errorf("within the ttl: %q, want a hit", cacheHeader(rec))
	}
	e.now = e.now.Add(2 * time.Second)
	if rec := e.do("POST", "/v1/chat/completions", body); cacheHeader(rec) != "miss" {
		t.Errorf("past the ttl: %q, want a miss", cacheHeader(rec))
	}
	if n := e.d.calls.Load(); n != 4 {
		t.Errorf("%d upstream calls, want 4 (off, first, off again, after the ttl)", n)
	}
}

func TestCacheKeepsOnlySuccess(t *testing.T) {
	e := newCacheEnv(t, "", nil)
	body := chatBody("cached")
	e.d.complete = func(context.Context, *provider.Request) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "down"}
	}
	if rec := e.do("POST", "/v1/chat/completions", body); rec.Code < 500 || cacheHeader(rec) != "miss" {
		t.Fatalf("failing upstream: %d %q", rec.Code, cacheHeader(rec))
	}
	e.d.complete = nil
	if rec := e.do("POST", "/v1/chat/completions", body); rec.Code != 200 || cacheHeader(rec) != "miss" {
		t.Errorf("after a failure: %d %q, want a miss (errors are not kept)", rec.Code, cacheHeader(rec))
	}
	// An answer larger than max_bytes is served, not kept.
	tiny := chatBody("tiny")
	for i := range 2 {
		if rec := e.do("POST", "/v1/chat/completions", tiny); rec.Code != 200 || cacheHeader(rec) != "miss" {
			t.Errorf("over max_bytes, request %d: %d %q, want a miss", i, rec.Code, cacheHeader(rec))
		}
	}
	// A stream that failed in-band is not kept; one that ended normally is, and its hit
	// is the same stream.
	stream := `{"model":"cached","stream":true,"messages":[{"role":"user","content":"tell"}]}`
	e.d.stream = func(_ context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
		if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Role: "assistant", Content: "Hel"}}}); err != nil {
			return nil, err
		}
		return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "reset", OutputStarted: true}
	}
	if rec := e.do("POST", "/v1/chat/completions", stream); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("failing stream: %d %s", rec.Code, rec.Body.String())
	}
	e.d.stream = nil
	first := e.do("POST", "/v1/chat/completions", stream)
	if first.Code != 200 || cacheHeader(first) != "miss" || !strings.Contains(first.Body.String(), "[DONE]") {
		t.Fatalf("stream after an in-band failure: %d %q, want a miss: %s", first.Code, cacheHeader(first), first.Body.String())
	}
	hit := e.do("POST", "/v1/chat/completions", stream)
	if cacheHeader(hit) != "hit" || hit.Header().Get("Content-Type") != "text/event-stream" || hit.Body.String() != first.Body.String() {
		t.Errorf("stream hit: %q %q\n%s\nwant\n%s", cacheHeader(hit), hit.Header().Get("Content-Type"), hit.Body.String(), first.Body.String())
	}
	// A stream and a whole answer to the same messages are different entries.
	if rec := e.do("POST", "/v1/chat/completions", strings.Replace(stream, `"stream":true`, `"stream":false`, 1)); cacheHeader(rec) != "miss" {
		t.Errorf("the whole answer after the stream: %q, want a miss", cacheHeader(rec))
	}
}

// brokenCache fails every call, as an unreachable Redis without fallback would.
type brokenCache struct{}

func (brokenCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("cache down")
}
func (brokenCache) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("cache down")
}

func TestCacheFailureIsAMiss(t *testing.T) {
	e := newCacheEnv(t, "", brokenCache{})
	for i := range 2 {
		rec := e.do("POST", "/v1/chat/completions", chatBody("cached"))
		if rec.Code != 200 || cacheHeader(rec) != "miss" {
			t.Errorf("request %d with the cache down: %d %q", i, rec.Code, cacheHeader(rec))
		}
	}
	if v := testutil.ToFloat64(e.m.CacheStored.WithLabelValues("cached")); v != 0 {
		t.Errorf("a failed store was counted as kept")
	}
}

func TestCacheEntryRoundTrip(t *testing.T) {
	e := &cacheEntry{ContentType: "application/json", Provider: "p", Model: "m", Rule: "r@1", body: []byte(`{"x":1}`)}
	got, err := decodeCacheEntry(e.encode())
	if err != nil || got.ContentType != e.ContentType || got.Provider != "p" || got.Model != "m" || got.Rule != "r@1" || string(got.body) != `{"x":1}` {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0xff}, {5, '{'}, append([]byte{2}, "{}"...)} {
		if _, err := decodeCacheEntry(bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func FuzzDecodeCacheEntry(f *testing.F) {
	f.Add((&cacheEntry{ContentType: "text/event-stream", body: []byte("data: x\n\n")}).encode())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeCacheEntry(b)
		if err != nil {
			return
		}
		again, err := decodeCacheEntry(e.encode())
		if err != nil || again.ContentType != e.ContentType || string(again.body) != string(e.body) {
			t.Fatalf("re-encoded entry does not round trip: %v", err)
		}
	})
}
