package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// fakeDispatcher answers whole answers and streams with functions a test sets; by default
// "Hello" (a stream of "Hel", "lo") with usage. It records the context of each call.
type fakeDispatcher struct {
	complete func(ctx context.Context, req *provider.Request) (*provider.Response, error)
	stream   func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error)
	calls    atomic.Int32

	mu       sync.Mutex
	deadline time.Time // the last call's context deadline
}

func (f *fakeDispatcher) record(ctx context.Context) {
	f.calls.Add(1)
	dl, _ := ctx.Deadline()
	f.mu.Lock()
	f.deadline = dl
	f.mu.Unlock()
}

func (f *fakeDispatcher) lastDeadline() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deadline
}

func (f *fakeDispatcher) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	f.record(ctx)
	if f.complete != nil {
		return f.complete(ctx, req)
	}
	return &provider.Response{ID: "chatcmpl-fake", Model: req.Model, Created: 1700000000,
		Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: "Hello"}, FinishReason: "stop"}},
		Usage:   &provider.Usage{PromptTokens: 1000, CompletionTokens: 500}}, nil
}

func (f *fakeDispatcher) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	f.record(ctx)
	if f.stream != nil {
		return f.stream(ctx, req, out)
	}
	return sendChunks(out, req, "Hel", "lo")
}

// sendChunks streams a role chunk, the pieces, then a finish chunk.
func sendChunks(out provider.ChunkSender, req *provider.Request, pieces ...string) (*provider.Usage, error) {
	if err := out.Send(&provider.Chunk{ID: "chatcmpl-fake", Model: req.Model, Choices: []provider.Delta{{Role: "assistant"}}}); err != nil {
		return nil, err
	}
	for _, p := range pieces {
		if err := out.Send(&provider.Chunk{ID: "chatcmpl-fake", Model: req.Model, Choices: []provider.Delta{{Content: p}}}); err != nil {
			return nil, err
		}
	}
	if err := out.Send(&provider.Chunk{ID: "chatcmpl-fake", Model: req.Model, Choices: []provider.Delta{{FinishReason: "stop"}}}); err != nil {
		return nil, err
	}
	return &provider.Usage{PromptTokens: 1000, CompletionTokens: 500}, nil
}

var _ pipeline.Dispatcher = (*fakeDispatcher)(nil)

// fakeRules records what the rules saw and returns res (no opinion when nil); it also
// describes rules for the dry run.
type fakeRules struct {
	mu     sync.Mutex
	inputs []*abi.Input
	res    *abi.Result
	infos  []abi.RuleInfo
}

func (f *fakeRules) Evaluate(_ context.Context, in *abi.Input) *abi.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, in)
	if f.res != nil {
		return f.res
	}
	return &abi.Result{}
}

func (f *fakeRules) Rules() []abi.RuleInfo { return f.infos }

func (f *fakeRules) last(t *testing.T) *abi.Input {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.inputs) == 0 {
		t.Fatal("the rules were not evaluated")
	}
	return f.inputs[len(f.inputs)-1]
}

var (
	_ pipeline.RuleEvaluator = (*fakeRules)(nil)
	_ pipeline.RuleLister    = (*fakeRules)(nil)
)

// syncBuffer collects log output written from several goroutines.
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

// testConfig is the base of every test's config; a test appends its own sections.
const testConfig = `
providers:
  - {name: a, plugin: /bin/true}
models:
  - {name: small, provider: a, model: up-small, context_window: 8000, usd_per_mtok_in: 1, usd_per_mtok_out: 2, capabilities: [stream]}
  - {name: large, provider: a, model: up-large, context_window: 8000, capabilities: [stream]}
routes:
  - {name: default, targets: [small, large]}
retry: {max_attempts: 1, backoff_base: 1ms, backoff_max: 2ms}
`

const (
	secretA = "sk-test-alpha-7d1f0c9b2e4a6f83"
	secretB = "sk-test-beta-3c5e7a9b1d2f4e6a"
	adminK  = "sk-admin-5f4e3d2c1b0a9f8e"
)

// keysConfig configures two client keys: team-a may use everything, team-b only small and auto.
const keysConfig = `
keys:
  - {name: team-a, key: ` + secretA + `}
  - {name: team-b, key: ` + secretB + `, models: [small, auto]}
`

type testEnv struct {
	t     *testing.T
	srv   *Server
	d     *fakeDispatcher
	rules *fakeRules
	m     *metrics.Metrics
	logs  *syncBuffer
}

// newTestEnv serves testConfig+extra over a fake dispatcher for provider a and the fake
// rules, with the Options o (metrics, gatherer and logger are filled in).
func newTestEnv(t *testing.T, extra string, o Options) *testEnv {
	t.Helper()
	return newTestEnvFrom(t, testConfig+extra, o)
}

// newTestEnvFrom is newTestEnv with the whole config text.
func newTestEnvFrom(t *testing.T, text string, o Options) *testEnv {
	t.Helper()
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, d: &fakeDispatcher{}, rules: &fakeRules{}, logs: &syncBuffer{}}
	reg := prometheus.NewRegistry()
	e.m = metrics.New(reg)
	cat := pipeline.NewCatalogue(cfg)
	e.m.Prime(metrics.Labels{Models: cat.Names(), ProviderModels: [][2]string{{"a", "small"}, {"a", "large"}}, Plugins: []string{"a"}})
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := pipeline.New(pipeline.Options{Policy: pipeline.PolicyFromConfig(cfg), Catalogue: cat, Metrics: e.m, Logger: log,
		Rules: e.rules, Dispatchers: map[string]pipeline.Dispatcher{"a": e.d}})
	o.Metrics, o.Gatherer, o.Logger = e.m, reg, log
	e.srv = New(NewState(cfg, p), o)
	return e
}

// do serves one request; header is name, value pairs.
func (e *testEnv) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"say hi"}]}`
}

// envelope is OpenAI's error envelope.
type envelope struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

// wantError checks an answer is an error in OpenAI's envelope with status, type and code
// (and param, unless param is "-"), and returns it.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, typ, code, param string) envelope {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	// Every field of the envelope is there, param included (null when it is about none).
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body.String())
	}
	for _, f := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][f]; !ok {
			t.Errorf("error.%s missing: %s", f, rec.Body.String())
		}
	}
	var env envelope
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	if env.Error.Type != typ || env.Error.Code != code || env.Error.Message == "" {
		t.Errorf("error %+v, want type %s code %s and a message", env.Error, typ, code)
	}
	switch {
	case param == "-":
	case param == "" && env.Error.Param != nil:
		t.Errorf("error.param = %q, want null", *env.Error.Param)
	case param != "" && (env.Error.Param == nil || *env.Error.Param != param):
		t.Errorf("error.param = %v, want %q", env.Error.Param, param)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type %q", ct)
	}
	return env
}

func TestChatCompletion(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	rec := e.do("POST", "/v1/chat/completions", chatBody("default"))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var resp struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "Hello" {
		t.Fatalf("answer %s (%v)", rec.Body.String(), err)
	}
	for h, want := range map[string]string{HeaderProvider: "a", HeaderModel: "small", HeaderRule: "default",
		HeaderAttempts: "1", HeaderFallbacks: "0", HeaderCost: "0.00200000"} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if rec.Header().Get(HeaderOverhead) == "" || !strings.HasPrefix(rec.Header().Get(HeaderRequestID), "req_") {
		t.Errorf("headers %v", rec.Header())
	}
}

func TestPriorityHeader(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	t.Run("default", func(t *testing.T) {
		if rec := e.do("POST", "/v1/chat/completions", chatBody("default")); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		if p := e.rules.last(t).Request.Priority; p != 5 {
			t.Errorf("priority %d, want the default 5", p)
		}
	})
	for _, v := range []string{"1", "9", " 10 "} {
		t.Run("valid "+v, func(t *testing.T) {
			if rec := e.do("POST", "/v1/chat/completions", chatBody("default"), HeaderPriority, v); rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if p := e.rules.last(t).Request.Priority; fmt.Sprint(p) != strings.TrimSpace(v) {
				t.Errorf("priority %d, want %s", p, v)
			}
		})
	}
	for _, v := range []string{"0", "11", "-3", "high", "5.5"} {
		t.Run("invalid "+v, func(t *testing.T) {
			calls := e.d.calls.Load()
			rec := e.do("POST", "/v1/chat/completions", chatBody("default"), HeaderPriority, v)
			wantError(t, rec, 400, "invalid_request_error", "invalid_request", HeaderPriority)
			if e.d.calls.Load() != calls {
				t.Error("the provider was called")
			}
			if got := rec.Header().Get(HeaderAttempts); got != "0" {
				t.Errorf("%s = %q, want 0", HeaderAttempts, got)
			}
		})
	}
}

func TestTimeoutHeader(t *testing.T) {
	// attempt is longer than total, so the provider's context ends at the request's deadline.
	e := newTestEnv(t, "timeouts: {total: 60s, attempt: 100s}\n", Options{})
	const total = 60 * time.Second
	// deadline sends a request and returns the provider's deadline, with the times just
	// before and after the request, between which it arrived.
	deadline := func(t *testing.T, v string) (dl, before, after time.Time) {
		t.Helper()
		before = time.Now()
		rec := e.do("POST", "/v1/chat/completions", chatBody("default"), HeaderTimeout, v)
		after = time.Now()
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		return e.d.lastDeadline(), before, after
	}
	t.Run("shortens", func(t *testing.T) {
		dl, before, after := deadline(t, "1500")
		if dl.Before(before.Add(1500*time.Millisecond)) || dl.After(after.Add(1500*time.Millisecond)) {
			t.Errorf("deadline %s after the request, want 1.5s", dl.Sub(before))
		}
	})
	for _, v := range []string{"60000", "3600000", "9223372036854", "9223372036855", "9223372036854775807",
		"9223372036854775808", "99999999999999999999999999999"} {
		t.Run("no shortening "+v, func(t *testing.T) {
			dl, before, after := deadline(t, v)
			if dl.Before(before.Add(total)) || dl.After(after.Add(total)) {
				t.Errorf("deadline %s after the request, want timeouts.total %s", dl.Sub(before), total)
			}
		})
	}
	for _, v := range []string{"0", "-1", "-9223372036854775809", "soon", "1.5", "+", "1e3"} {
		t.Run("invalid "+v, func(t *testing.T) {
			rec := e.do("POST", "/v1/chat/completions", chatBody("default"), HeaderTimeout, v)
			wantError(t, rec, 400, "invalid_request_error", "invalid_request", HeaderTimeout)
			if got := rec.Header().Get(HeaderAttempts); got != "0" {
				t.Errorf("%s = %q, want 0", HeaderAttempts, got)
			}
		})
	}
}

func TestTimeoutMS(t *testing.T) {
	for _, tc := range []struct {
		in string
		ms int64
		ok bool
	}{
		{"1", 1, true}, {" 250 ", 250, true}, {"9223372036854775807", 1<<63 - 1, true},
		{"92233720368547758070", 1<<63 - 1, true}, {"0", 0, false}, {"-5", 0, false}, {"", 0, false},
		{"+5", 0, false}, {"5ms", 0, false},
	} {
		ms, ok := timeoutMS(tc.in)
		if ok != tc.ok || (ok && ms != tc.ms) {
			t.Errorf("timeoutMS(%q) = %d, %v; want %d, %v", tc.in, ms, ok, tc.ms, tc.ok)
		}
	}
}

func TestTags(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	for _, tc := range []struct {
		name, header string
		want         []string
	}{
		{"none", "", nil},
		{"list", "batch, eval ,,nightly", []string{"batch", "eval", "nightly"}},
		{"at most 32", strings.Join(many, ","), many[:32]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{HeaderTags, tc.header}
			}
			if rec := e.do("POST", "/v1/chat/completions", chatBody("default"), hdr...); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if got := e.rules.last(t).Request.Tags; !slices.Equal(got, tc.want) {
				t.Errorf("tags %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"kept", "trace-0af7651916cd43dd8448eb211c80319c", true},
		{"longest kept", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"not printable", "bad id", false},
		{"none", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.sent != "" {
				hdr = []string{HeaderRequestID, tc.sent}
			}
			rec := e.do("POST", "/v1/chat/completions", chatBody("default"), hdr...)
			got := rec.Header().Get(HeaderRequestID)
			if tc.kept && got != tc.sent {
				t.Errorf("x-request-id %q, want %q kept", got, tc.sent)
			}
			if !tc.kept && (got == tc.sent || !strings.HasPrefix(got, "req_")) {
				t.Errorf("x-request-id %q, want a new req_ id", got)
			}
			if id := e.rules.last(t).Request.ID; id != got {
				t.Errorf("the rules saw id %q, the client %q", id, got)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := newTestEnv(t, keysConfig, Options{})
	for _, tc := range []struct {
		name, path, body, key string
		status                int
		typ, code             string
	}{
		{"no key", "/v1/chat/completions", chatBody("default"), "", 401, "authentication_error", "invalid_api_key"},
		{"wrong key", "/v1/chat/completions", chatBody("default"), "sk-wrong", 401, "authentication_error", "invalid_api_key"},
		{"right key", "/v1/chat/completions", chatBody("default"), secretA, 200, "", ""},
		{"allowed model", "/v1/chat/completions", chatBody("small"), secretB, 200, "", ""},
		{"model not allowed", "/v1/chat/completions", chatBody("large"), secretB, 403, "permission_error", "model_not_allowed"},
		{"route not allowed", "/v1/chat/completions", chatBody("default"), secretB, 403, "permission_error", "model_not_allowed"},
		{"dry run without key", "/v1/switchyard/route", chatBody("default"), "", 401, "authentication_error", "invalid_api_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := e.d.calls.Load()
			var hdr []string
			if tc.key != "" {
				hdr = []string{"Authorization", "Bearer " + tc.key}
			}
			rec := e.do("POST", tc.path, tc.body, hdr...)
			if tc.code == "" {
				if rec.Code != tc.status {
					t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
				if k := e.rules.last(t).Request.Key; k != map[string]string{secretA: "team-a", secretB: "team-b"}[tc.key] {
					t.Errorf("the rules saw key %q", k)
				}
				return
			}
			wantError(t, rec, tc.status, tc.typ, tc.code, "")
			if e.d.calls.Load() != calls {
				t.Error("the provider was called")
			}
			if tc.path == "/v1/chat/completions" && rec.Header().Get(HeaderAttempts) != "0" {
				t.Errorf("%s = %q, want 0", HeaderAttempts, rec.Header().Get(HeaderAttempts))
			}
			if strings.Contains(rec.Body.String(), "sk-") {
				t.Errorf("the answer shows a key: %s", rec.Body.String())
			}
		})
	}
}

func TestModelsPerKey(t *testing.T) {
	list := func(t *testing.T, e *testEnv, key string) []string {
		t.Helper()
		var hdr []string
		if key != "" {
			hdr = []string{"Authorization", "Bearer " + key}
		}
		rec := e.do("GET", "/v1/models", "", hdr...)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		var resp struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Object != "list" {
			t.Fatalf("body %s", rec.Body.String())
		}
		var ids []string
		for _, d := range resp.Data {
			if d.Object != "model" || d.OwnedBy == "" {
				t.Errorf("entry %+v", d)
			}
			ids = append(ids, d.ID)
		}
		return ids
	}
	all := []string{"default", "small", "large", "auto"}
	t.Run("no keys configured", func(t *testing.T) {
		if got := list(t, newTestEnv(t, "", Options{}), ""); !slices.Equal(got, all) {
			t.Errorf("models %q, want %q", got, all)
		}
	})
	e := newTestEnv(t, keysConfig, Options{})
	t.Run("key for every model", func(t *testing.T) {
		if got := list(t, e, secretA); !slices.Equal(got, all) {
			t.Errorf("models %q, want %q", got, all)
		}
	})
	t.Run("key for some models", func(t *testing.T) {
		if got, want := list(t, e, secretB), []string{"small", "auto"}; !slices.Equal(got, want) {
			t.Errorf("models %q, want %q", got, want)
		}
	})
	t.Run("no key", func(t *testing.T) {
		wantError(t, e.do("GET", "/v1/models", ""), 401, "authentication_error", "invalid_api_key", "")
	})
	t.Run("wrong key", func(t *testing.T) {
		wantError(t, e.do("GET", "/v1/models", "", "Authorization", "Bearer sk-nope"), 401, "authentication_error", "invalid_api_key", "")
	})
}

// TestModelLookup: GET /v1/models/{id} answers the entry /v1/models lists, in OpenAI's
// format, and 404 model_not_found for a name the config lacks or the key may not use.
func TestModelLookup(t *testing.T) {
	get := func(t *testing.T, e *testEnv, id, key string) *httptest.ResponseRecorder {
		t.Helper()
		var hdr []string
		if key != "" {
			hdr = []string{"Authorization", "Bearer " + key}
		}
		return e.do("GET", "/v1/models/"+id, "", hdr...)
	}
	entry := func(t *testing.T, rec *httptest.ResponseRecorder, id, owner string) {
		t.Helper()
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %s", rec.Body.String())
		}
		if m["id"] != id || m["object"] != "model" || m["owned_by"] != owner || m["created"] == nil {
			t.Errorf("entry %s, want id %s owned by %s", rec.Body.String(), id, owner)
		}
	}
	e := newTestEnv(t, "", Options{})
	t.Run("model", func(t *testing.T) { entry(t, get(t, e, "small", ""), "small", "a") })
	t.Run("route", func(t *testing.T) { entry(t, get(t, e, "default", ""), "default", "switchyard") })
	t.Run("auto", func(t *testing.T) { entry(t, get(t, e, "auto", ""), "auto", "switchyard") })
	t.Run("unknown", func(t *testing.T) {
		wantError(t, get(t, e, "nope", ""), 404, "invalid_request_error", "model_not_found", "model")
	})
	k := newTestEnv(t, keysConfig, Options{})
	t.Run("key may use it", func(t *testing.T) { entry(t, get(t, k, "small", secretB), "small", "a") })
	t.Run("key may not use it", func(t *testing.T) {
		wantError(t, get(t, k, "large", secretB), 404, "invalid_request_error", "model_not_found", "model")
	})
	t.Run("no key", func(t *testing.T) {
		wantError(t, get(t, k, "small", ""), 401, "authentication_error", "invalid_api_key", "")
	})
}

func TestErrorEnvelope(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	t.Run("unknown model", func(t *testing.T) {
		rec := e.do("POST", "/v1/chat/completions", chatBody("nope"))
		wantError(t, rec, 404, "invalid_request_error", "model_not_found", "model")
		if rec.Header().Get(HeaderAttempts) != "0" {
			t.Errorf("%s = %q", HeaderAttempts, rec.Header().Get(HeaderAttempts))
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		wantError(t, e.do("POST", "/v1/chat/completions", "{"), 400, "invalid_request_error", "invalid_request", "-")
	})
	t.Run("unsupported endpoint", func(t *testing.T) {
		wantError(t, e.do("POST", "/v1/audio/speech", `{}`), 404, "invalid_request_error", "unsupported_endpoint", "")
	})
	t.Run("upstream failure", func(t *testing.T) {
		e.d.complete = func(context.Context, *provider.Request) (*provider.Response, error) {
			return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "injected"}
		}
		defer func() { e.d.complete = nil }()
		rec := e.do("POST", "/v1/chat/completions", chatBody("default"))
		if rec.Code < 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		wantError(t, rec, rec.Code, "api_error", "all_targets_failed", "")
		if rec.Header().Get(HeaderAttempts) != "2" || rec.Header().Get(HeaderFallbacks) != "1" {
			t.Errorf("attempts %q fallbacks %q, want 2 and 1", rec.Header().Get(HeaderAttempts), rec.Header().Get(HeaderFallbacks))
		}
	})
}

// TestNoUpstreamCall: every chat answer that made no upstream call says so with
// x-switchyard-attempts: 0.
func TestNoUpstreamCall(t *testing.T) {
	e := newTestEnv(t, keysConfig+"limits: {max_inflight: 1, max_queue: 0}\n", Options{})
	auth := []string{"Authorization", "Bearer " + secretA}
	for _, tc := range []struct {
		name   string
		body   string
		header []string
		res    *abi.Result
		status int
	}{
		{"bad body", `{"model":`, auth, nil, 400},
		{"no key", chatBody("default"), nil, nil, 401},
		{"rule reject", chatBody("default"), auth, &abi.Result{Rule: "gate@0123456789ab", Decision: &abi.Decision{Reject: &abi.Reject{Status: 429, Message: "over budget"}}}, 429},
		{"no route", chatBody("auto"), auth, nil, 503},
		{"rule reject, stream", `{"model":"default","stream":true,"messages":[{"role":"user","content":"x"}]}`, auth, &abi.Result{Rule: "gate@0123456789ab", Decision: &abi.Decision{Reject: &abi.Reject{Status: 403, Message: "no"}}}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.rules.res = tc.res
			defer func() { e.rules.res = nil }()
			rec := e.do("POST", "/v1/chat/completions", tc.body, tc.header...)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if got := rec.Header().Get(HeaderAttempts); got != "0" {
				t.Errorf("%s = %q, want 0", HeaderAttempts, got)
			}
		})
	}
	t.Run("shed", func(t *testing.T) {
		// Hold the only slot with a call that waits, then send another.
		release := make(chan struct{})
		started := make(chan struct{})
		e.d.complete = func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			close(started)
			<-release
			return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "released"}
		}
		defer func() { e.d.complete = nil }()
		done := make(chan struct{})
		go func() { defer close(done); e.do("POST", "/v1/chat/completions", chatBody("small"), auth...) }()
		<-started
		rec := e.do("POST", "/v1/chat/completions", chatBody("small"), auth...)
		close(release)
		<-done
		wantError(t, rec, 429, "rate_limit_error", "shed", "")
		if got := rec.Header().Get(HeaderAttempts); got != "0" {
			t.Errorf("%s = %q, want 0", HeaderAttempts, got)
		}
	})
}

func TestProbes(t *testing.T) {
	var notReady atomic.Bool
	notReady.Store(true)
	detail := map[string]any{"plugins": map[string]any{"a": map[string]any{"up": false}}}
	e := newTestEnv(t, "", Options{Version: "v1.2.3",
		Ready: func() error {
			if notReady.Load() {
				return errors.New("provider plugin a is not up")
			}
			return nil
		},
		ReadyDetail: func() any { return detail }})
	check := func(t *testing.T, method, path string, status int, want map[string]any) {
		t.Helper()
		rec := e.do(method, path, "")
		if rec.Code != status {
			t.Fatalf("%s %s: status %d, want %d", method, path, rec.Code, status)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content-type %q", ct)
		}
		if method == http.MethodHead {
			if rec.Body.Len() != 0 {
				t.Errorf("HEAD %s has a body: %q", path, rec.Body.String())
			}
			// The length of the body a GET would get.
			get := e.do(http.MethodGet, path, "")
			if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(get.Body.Len()) {
				t.Errorf("HEAD %s: content-length %q, GET body %d bytes", path, cl, get.Body.Len())
			}
			return
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("body %q", rec.Body.String())
		}
		for k, v := range want {
			if g, _ := json.Marshal(got[k]); string(g) != mustJSON(v) {
				t.Errorf("%s: %s = %s, want %s", path, k, g, mustJSON(v))
			}
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		t.Run(m+" healthz", func(t *testing.T) {
			check(t, m, "/healthz", 200, map[string]any{"status": "ok", "version": "v1.2.3"})
			check(t, m, "/health", 200, map[string]any{"status": "ok"})
		})
		t.Run(m+" readyz not ready", func(t *testing.T) {
			check(t, m, "/readyz", 503, map[string]any{"status": "not ready", "reason": "provider plugin a is not up", "detail": detail})
		})
	}
	notReady.Store(false)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		t.Run(m+" readyz ready", func(t *testing.T) {
			check(t, m, "/readyz", 200, map[string]any{"status": "ready", "detail": detail})
		})
	}
	t.Run("no detail", func(t *testing.T) {
		e := newTestEnv(t, "", Options{ReadyDetail: func() any { return nil }})
		rec := e.do("GET", "/readyz", "")
		if rec.Code != 200 || strings.Contains(rec.Body.String(), "detail") {
			t.Errorf("status %d body %s", rec.Code, rec.Body.String())
		}
	})
}

// TestHeadOverHTTP sends HEAD probes through a real HTTP server and client.
func TestHeadOverHTTP(t *testing.T) {
	e := newTestEnv(t, "", Options{Ready: func() error { return errors.New("draining") }})
	ts := httptest.NewServer(e.srv.Handler())
	defer ts.Close()
	for path, status := range map[string]int{"/healthz": 200, "/readyz": 503} {
		resp, err := http.Head(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || resp.ContentLength <= 0 {
			t.Errorf("HEAD %s: status %d, content-length %d; want %d and the GET body's length", path, resp.StatusCode, resp.ContentLength, status)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAdminReload(t *testing.T) {
	var reloads atomic.Int32
	var fail atomic.Bool
	e := newTestEnv(t, "admin: {key: "+adminK+"}\n", Options{Reload: func(context.Context) error {
		reloads.Add(1)
		if fail.Load() {
			return errors.New("config /etc/switchyard.yaml: line 3: models[0].context_window: want an integer")
		}
		return nil
	}})
	admin := []string{"Authorization", "Bearer " + adminK}
	t.Run("no key", func(t *testing.T) {
		wantError(t, e.do("POST", "/admin/reload", ""), 401, "authentication_error", "invalid_api_key", "")
	})
	t.Run("wrong key", func(t *testing.T) {
		wantError(t, e.do("POST", "/admin/reload", "", "Authorization", "Bearer "+secretA), 401, "authentication_error", "invalid_api_key", "")
		if reloads.Load() != 0 {
			t.Error("reloaded without the admin key")
		}
	})
	t.Run("reloaded", func(t *testing.T) {
		rec := e.do("POST", "/admin/reload", "", admin...)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"reloaded"`) {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
	t.Run("refused", func(t *testing.T) {
		fail.Store(true)
		rec := e.do("POST", "/admin/reload", "", admin...)
		env := wantError(t, rec, 422, "invalid_request_error", "reload_refused", "")
		if !strings.Contains(env.Error.Message, "models[0].context_window") {
			t.Errorf("message %q does not say why", env.Error.Message)
		}
	})
	t.Run("off without admin key", func(t *testing.T) {
		e := newTestEnv(t, "", Options{Reload: func(context.Context) error { return nil }})
		wantError(t, e.do("POST", "/admin/reload", "", admin...), 404, "invalid_request_error", "unsupported_endpoint", "")
	})
	t.Run("off without Reload", func(t *testing.T) {
		e := newTestEnv(t, "admin: {key: "+adminK+"}\n", Options{})
		wantError(t, e.do("POST", "/admin/reload", "", admin...), 404, "invalid_request_error", "unsupported_endpoint", "")
	})
}

func TestAdminResetRule(t *testing.T) {
	var mu sync.Mutex
	var reset []string
	e := newTestEnv(t, "admin: {key: "+adminK+"}\n", Options{ResetRule: func(_ context.Context, name string) error {
		if name != "tiered" {
			return fmt.Errorf("app: rule %q: %w", name, ErrUnknownRule)
		}
		mu.Lock()
		defer mu.Unlock()
		reset = append(reset, name)
		return nil
	}})
	admin := []string{"Authorization", "Bearer " + adminK}
	t.Run("reset", func(t *testing.T) {
		rec := e.do("POST", "/admin/rules/tiered/reset", "", admin...)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got["status"] != "reset" || got["rule"] != "tiered" {
			t.Errorf("body %s", rec.Body.String())
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(reset, []string{"tiered"}) {
			t.Errorf("ResetRule called with %q", reset)
		}
	})
	t.Run("unknown rule", func(t *testing.T) {
		env := wantError(t, e.do("POST", "/admin/rules/nope/reset", "", admin...), 404, "invalid_request_error", codeRuleNotFound, "")
		if !strings.Contains(env.Error.Message, `"nope"`) {
			t.Errorf("message %q does not name the rule", env.Error.Message)
		}
	})
	t.Run("failure", func(t *testing.T) {
		e := newTestEnv(t, "admin: {key: "+adminK+"}\n", Options{ResetRule: func(context.Context, string) error { return errors.New("rules: closed") }})
		wantError(t, e.do("POST", "/admin/rules/tiered/reset", "", admin...), 500, "api_error", "internal_error", "")
	})
	t.Run("wrong key", func(t *testing.T) {
		wantError(t, e.do("POST", "/admin/rules/tiered/reset", "", "Authorization", "Bearer sk-nope"), 401, "authentication_error", "invalid_api_key", "")
	})
	t.Run("off", func(t *testing.T) {
		e := newTestEnv(t, "admin: {key: "+adminK+"}\n", Options{})
		wantError(t, e.do("POST", "/admin/rules/tiered/reset", "", admin...), 404, "invalid_request_error", "unsupported_endpoint", "")
	})
}

func TestDryRun(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	e.rules.infos = []abi.RuleInfo{
		{Name: "tiered", Mode: "active", SHA256: "310152c5fde2aa0011223344556677889900aabbccddeeff0011223344556677", Path: "/rules/tiered.wasm"},
		{Name: "budget", Mode: "shadow", SHA256: "0123456789abcdef", Path: "/rules/budget.wasm", Quarantined: true},
	}
	e.rules.res = &abi.Result{Rule: "tiered@310152c5fde2", Decision: &abi.Decision{Targets: []abi.Target{{Provider: "a", Model: "large"}}, Reason: "long prompt"}}
	calls := e.d.calls.Load()
	rec := e.do("POST", "/v1/switchyard/route", chatBody("default"))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if e.d.calls.Load() != calls {
		t.Error("the dry run called the provider")
	}
	var resp struct {
		Rule    string `json:"rule"`
		Reason  string `json:"reason"`
		Targets []struct {
			Provider string `json:"provider"`
			Model    string `json:"model"`
			Upstream string `json:"upstream_model"`
			Circuit  string `json:"circuit"`
		} `json:"targets"`
		Rules []map[string]any `json:"rules"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Rule != "tiered@310152c5fde2" || resp.Reason != "long prompt" || len(resp.Targets) != 1 || resp.Targets[0].Model != "large" || resp.Targets[0].Upstream != "up-large" || resp.Targets[0].Circuit != "closed" {
		t.Errorf("decision %s", rec.Body.String())
	}
	want := `[{"mode":"active","name":"tiered","path":"/rules/tiered.wasm","quarantined":false,"sha256":"310152c5fde2"},` +
		`{"mode":"shadow","name":"budget","path":"/rules/budget.wasm","quarantined":true,"sha256":"0123456789ab"}]`
	if got := mustJSON(resp.Rules); got != want {
		t.Errorf("rules %s\nwant  %s", got, want)
	}
}
