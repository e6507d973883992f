package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// step is what a fake provider does on one call.
type step struct {
	err     error
	content string
	chunks  []string // stream: deltas sent before err (or before finishing)
}

// fakeProvider plays its steps in order, then answers "ok" forever.
type fakeProvider struct {
	mu     sync.Mutex
	steps  []step
	calls  []*provider.Request
	native bool
	down   bool
}

func (f *fakeProvider) next(req *provider.Request) step {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if len(f.steps) == 0 {
		return step{content: "ok", chunks: []string{"o", "k"}}
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s
}

func (f *fakeProvider) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	s := f.next(req)
	if s.err != nil {
		return nil, s.err
	}
	return &provider.Response{Model: req.Model, Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: s.content}, FinishReason: "stop"}},
		Usage: &provider.Usage{PromptTokens: 10, CompletionTokens: 20}}, nil
}

func (f *fakeProvider) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	s := f.next(req)
	if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Role: "assistant"}}}); err != nil {
		return nil, err
	}
	for _, c := range s.chunks {
		if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: c}}}); err != nil {
			return nil, err
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	return &provider.Usage{PromptTokens: 10, CompletionTokens: 20}, nil
}

func (f *fakeProvider) Up() bool            { return !f.down }
func (f *fakeProvider) Info() provider.Info { return provider.Info{OpenAINative: f.native} }
func (f *fakeProvider) callCount() int      { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }
func (f *fakeProvider) lastCall() *provider.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

var (
	_ Dispatcher = (*fakeProvider)(nil)
	_ Health     = (*fakeProvider)(nil)
	_ Describer  = (*fakeProvider)(nil)
)

type fakeRules struct{ res *abi.Result }

func (f fakeRules) Evaluate(context.Context, *abi.Input) *abi.Result { return f.res }

// pe is an error of kind as the SDK makes it: retryable when the kind is by default.
func pe(kind provider.Kind) error { return provider.NewError(kind, "injected %s", kind) }

// fakeClock is the pipeline's clock in tests: it moves only when the pipeline sleeps (its
// backoff) or the test advances it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return ctx.Err() == nil
}

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

const testConfig = `
providers:
  - {name: a, plugin: /bin/true}
  - {name: b, plugin: /bin/true}
models:
  - {name: a-small, provider: a, model: up-small, context_window: 1000, usd_per_mtok_in: 1, usd_per_mtok_out: 2}
  - {name: b-small, provider: b, model: up-small, context_window: 1000}
routes:
  - {name: r, targets: [a-small, b-small]}
retry: {max_attempts: 3, backoff_base: 1ms, backoff_max: 2ms}
`

type env struct {
	clock *fakeClock
	p     *Pipeline
	a, b  *fakeProvider
	m     *metrics.Metrics
	reg   *prometheus.Registry
}

func newEnv(t *testing.T, ev RuleEvaluator, extra string) *env {
	t.Helper()
	cfg, err := config.Parse([]byte(testConfig+extra), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	e := &env{a: &fakeProvider{}, b: &fakeProvider{}, reg: prometheus.NewRegistry(), clock: newFakeClock()}
	e.m = metrics.New(e.reg)
	cat := NewCatalogue(cfg)
	e.m.Prime(metrics.Labels{Models: cat.Names(), ProviderModels: [][2]string{{"a", "a-small"}, {"b", "b-small"}}})
	e.p = New(Options{Policy: PolicyFromConfig(cfg), Clock: e.clock, Catalogue: cat, Dispatchers: map[string]Dispatcher{"a": e.a, "b": e.b},
		Rules: ev, Metrics: e.m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e
}

func call(t *testing.T, body string) *Call {
	t.Helper()
	chat, err := wire.DecodeChat([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return &Call{ID: "req_1", Chat: chat, Priority: 5, Deadline: time.Now().Add(10 * time.Second)}
}

const simple = `{"model":"r","messages":[{"role":"user","content":"hi"}]}`

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		a, b                  []step
		aDown                 bool
		wantProvider          string
		wantAttempts          int
		wantFallbacks         int
		wantStatus            int
		wantCode              string
		wantCallsA            int
		wantRetryAfterAtLeast time.Duration
	}{
		{name: "first answers", wantProvider: "a", wantAttempts: 1, wantCallsA: 1},
		{name: "retryable then success", a: []step{{err: pe(provider.KindUpstreamUnavailable)}, {err: pe(provider.KindRateLimited)}}, wantProvider: "a", wantAttempts: 3, wantCallsA: 3},
		{name: "retries spent then fallback", a: []step{{err: pe(provider.KindUpstreamTimeout)}, {err: pe(provider.KindUpstreamTimeout)}, {err: pe(provider.KindUpstreamTimeout)}}, wantProvider: "b", wantAttempts: 4, wantFallbacks: 1, wantCallsA: 3},
		{name: "not retryable falls back at once", a: []step{{err: pe(provider.KindAuthentication)}}, wantProvider: "b", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
		{name: "quota exhausted falls back", a: []step{{err: pe(provider.KindQuotaExhausted)}}, wantProvider: "b", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
		{name: "plugin failure falls back at once", a: []step{{err: errors.New("rpc error: code = Unavailable")}}, wantProvider: "b", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
		{name: "plugin down is skipped", aDown: true, wantProvider: "b", wantAttempts: 1, wantFallbacks: 1, wantCallsA: 0},
		{name: "empty answer falls back", a: []step{{content: "  "}}, wantProvider: "b", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
		{name: "invalid request goes back to the client", a: []step{{err: pe(provider.KindInvalidRequest)}}, wantStatus: 400, wantCode: "invalid_request", wantAttempts: 1, wantCallsA: 1},
		{name: "context length everywhere", a: []step{{err: pe(provider.KindContextLengthExceeded)}}, b: []step{{err: pe(provider.KindContextLengthExceeded)}}, wantStatus: 400, wantCode: "context_length_exceeded", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
		{name: "rate limited everywhere", a: []step{{err: &provider.Error{Kind: provider.KindRateLimited, RetryAfter: 3 * time.Second}}}, b: []step{{err: pe(provider.KindRateLimited)}, {err: pe(provider.KindRateLimited)}, {err: pe(provider.KindRateLimited)}},
			wantStatus: 429, wantCode: "rate_limited", wantAttempts: 4, wantFallbacks: 1, wantCallsA: 1, wantRetryAfterAtLeast: 3 * time.Second},
		{name: "everything fails", a: []step{{err: pe(provider.KindNotFound)}}, b: []step{{err: pe(provider.KindContentFiltered)}}, wantStatus: 502, wantCode: "all_targets_failed", wantAttempts: 2, wantFallbacks: 1, wantCallsA: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, "")
			e.a.steps, e.b.steps, e.a.down = tc.a, tc.b, tc.aDown
			c := call(t, simple)
			out, werr := e.p.Complete(context.Background(), c)
			if tc.wantStatus != 0 {
				if werr == nil || werr.Status != tc.wantStatus || werr.Code != tc.wantCode {
					t.Fatalf("got %v, want %d %s", werr, tc.wantStatus, tc.wantCode)
				}
				if werr.Attempts != tc.wantAttempts {
					t.Errorf("error attempts %d, want %d", werr.Attempts, tc.wantAttempts)
				}
				if werr.RetryAfter < tc.wantRetryAfterAtLeast {
					t.Errorf("retry after %s, want >= %s", werr.RetryAfter, tc.wantRetryAfterAtLeast)
				}
			} else {
				if werr != nil {
					t.Fatalf("unexpected error %v", werr)
				}
				if out.Target.Provider != tc.wantProvider {
					t.Errorf("answered by %s, want %s", out.Target.Provider, tc.wantProvider)
				}
			}
			if out.Attempts != tc.wantAttempts || out.Fallbacks != tc.wantFallbacks {
				t.Errorf("attempts %d fallbacks %d, want %d %d", out.Attempts, out.Fallbacks, tc.wantAttempts, tc.wantFallbacks)
			}
			if n := e.a.callCount(); n != tc.wantCallsA {
				t.Errorf("provider a called %d times, want %d", n, tc.wantCallsA)
			}
		})
	}
}

func TestEveryPluginDown(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.down, e.b.down = true, true
	_, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr == nil || werr.Status != 503 || werr.Code != "no_route" || werr.RetryAfter <= 0 {
		t.Fatalf("got %v, want 503 no_route with Retry-After", werr)
	}
}

func TestCompleteCountsAndCosts(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.steps = []step{{err: pe(provider.KindAuthentication)}}
	if _, werr := e.p.Complete(context.Background(), call(t, simple)); werr != nil {
		t.Fatal(werr)
	}
	out, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr != nil {
		t.Fatal(werr)
	}
	if want := (10*1.0 + 20*2.0) / 1e6; out.CostUSD != want {
		t.Errorf("cost %v, want %v", out.CostUSD, want)
	}
	if v := testutil.ToFloat64(e.m.Fallbacks.WithLabelValues("a", "authentication")); v != 1 {
		t.Errorf("fallbacks{a,authentication} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(e.m.ProviderRequests.WithLabelValues("a", "a-small", "authentication")); v != 1 {
		t.Errorf("provider_requests{a,authentication} = %v", v)
	}
	if v := testutil.ToFloat64(e.m.ProviderRequests.WithLabelValues("a", "a-small", "ok")); v != 1 {
		t.Errorf("provider_requests{a,ok} = %v", v)
	}
	if v := testutil.ToFloat64(e.m.ProviderTokens.WithLabelValues("a", "a-small", "completion")); v != 20 {
		t.Errorf("completion tokens %v, want 20", v)
	}
	if v := testutil.ToFloat64(e.m.ProviderCost.WithLabelValues("a", "a-small")); v != out.CostUSD {
		t.Errorf("cost counter %v, want %v", v, out.CostUSD)
	}
}

func TestRules(t *testing.T) {
	mt := int64(50)
	temp := 0.2
	for _, tc := range []struct {
		name       string
		res        *abi.Result
		body       string
		wantStatus int
		wantCode   string
		wantFirst  string
		wantRule   string
		check      func(t *testing.T, e *env)
	}{
		{name: "no opinion takes the route", res: &abi.Result{}, wantFirst: "a", wantRule: "default"},
		{name: "rule picks the second target", res: &abi.Result{Rule: "pick@abc", Decision: &abi.Decision{Targets: []abi.Target{{Provider: "b", Model: "b-small"}}, Reason: "cheap"}}, wantFirst: "b", wantRule: "pick@abc"},
		{name: "reject", res: &abi.Result{Rule: "gate@abc", Decision: &abi.Decision{Reject: &abi.Reject{Status: 429, Message: "over budget"}}}, wantStatus: 429, wantCode: "rule_rejected"},
		{name: "rule error with on_error fail", res: &abi.Result{Err: &abi.RuleError{Rule: "bad", Outcome: "timeout", Err: errors.New("deadline")}}, wantStatus: 503, wantCode: "rule_error"},
		{name: "auto with no decision", res: &abi.Result{}, body: `{"model":"auto","messages":[{"role":"user","content":"x"}]}`, wantStatus: 503, wantCode: "no_route"},
		{name: "auto decided", res: &abi.Result{Rule: "pick@abc", Decision: &abi.Decision{Targets: []abi.Target{{Provider: "b", Model: "b-small"}}}}, body: `{"model":"auto","messages":[{"role":"user","content":"x"}]}`, wantFirst: "b", wantRule: "pick@abc"},
		{name: "params lower max_tokens and set temperature", res: &abi.Result{Rule: "p@abc", Decision: &abi.Decision{Targets: []abi.Target{{Provider: "a", Model: "a-small"}}, Params: &abi.Params{MaxTokens: &mt, Temperature: &temp}}},
			body: `{"model":"r","max_tokens":500,"messages":[{"role":"user","content":"x"}]}`, wantFirst: "a", wantRule: "p@abc", check: func(t *testing.T, e *env) {
				r := e.a.lastCall()
				if r.MaxTokens != 50 || *r.Temperature != 0.2 || r.Model != "up-small" {
					t.Errorf("request sent: max_tokens %d temperature %v model %s", r.MaxTokens, *r.Temperature, r.Model)
				}
			}},
		{name: "params never raise max_tokens", res: &abi.Result{Rule: "p@abc", Decision: &abi.Decision{Targets: []abi.Target{{Provider: "a", Model: "a-small"}}, Params: &abi.Params{MaxTokens: &mt}}},
			body: `{"model":"r","max_tokens":20,"messages":[{"role":"user","content":"x"}]}`, wantFirst: "a", wantRule: "p@abc", check: func(t *testing.T, e *env) {
				if r := e.a.lastCall(); r.MaxTokens != 20 {
					t.Errorf("max_tokens raised to %d", r.MaxTokens)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeRules{tc.res}, "")
			body := tc.body
			if body == "" {
				body = simple
			}
			out, werr := e.p.Complete(context.Background(), call(t, body))
			if tc.wantStatus != 0 {
				if werr == nil || werr.Status != tc.wantStatus || werr.Code != tc.wantCode {
					t.Fatalf("got %v, want %d %s", werr, tc.wantStatus, tc.wantCode)
				}
				if e.a.callCount()+e.b.callCount() != 0 {
					t.Error("a provider was called")
				}
				return
			}
			if werr != nil {
				t.Fatal(werr)
			}
			if out.Target.Provider != tc.wantFirst || out.Plan.Rule != tc.wantRule {
				t.Errorf("answered by %s under rule %s, want %s under %s", out.Target.Provider, out.Plan.Rule, tc.wantFirst, tc.wantRule)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestRawBodyForNativePlugins(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.native = true
	e.p = New(Options{Policy: PolicyFromConfig(mustCfg(t)), Clock: e.clock, Catalogue: e.p.cat, Dispatchers: map[string]Dispatcher{"a": e.a, "b": e.b}, Metrics: e.m, Logger: e.p.log})
	body := `{"model":"r","messages":[{"role":"user","content":"hi"}],"metadata":{"switchyard.x":"1"},"logit_bias":{"50256":-100}}`
	if _, werr := e.p.Complete(context.Background(), call(t, body)); werr != nil {
		t.Fatal(werr)
	}
	got := string(e.a.lastCall().RawBody)
	want := `{"model":"up-small","messages":[{"role":"user","content":"hi"}],"metadata":{},"logit_bias":{"50256":-100}}`
	if got != want {
		t.Errorf("raw body\n got %s\nwant %s", got, want)
	}
	if _, werr := e.p.Complete(context.Background(), call(t, `{"model":"b-small","messages":[{"role":"user","content":"hi"}]}`)); werr != nil {
		t.Fatal(werr)
	}
	if e.b.lastCall().RawBody != nil {
		t.Error("a plugin that does not speak OpenAI natively got the raw body")
	}
}

func mustCfg(t *testing.T) *config.File {
	cfg, err := config.Parse([]byte(testConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sink records a stream.
type sink struct {
	began  int
	chunks []string
}

func (s *sink) Begin(*Outcome) { s.began++ }
func (s *sink) Chunk(c *provider.Chunk) error {
	for _, d := range c.Choices {
		s.chunks = append(s.chunks, d.Content)
	}
	return nil
}

func TestStream(t *testing.T) {
	for _, tc := range []struct {
		name          string
		a             []step
		wantProvider  string
		wantText      string
		wantErrCode   string
		wantCommitted bool
	}{
		{name: "clean", wantProvider: "a", wantText: "ok", wantCommitted: true},
		{name: "failure before the first content falls back", a: []step{{err: pe(provider.KindAuthentication)}}, wantProvider: "b", wantText: "ok", wantCommitted: true},
		{name: "empty stream falls back", a: []step{{chunks: nil}}, wantProvider: "b", wantText: "ok", wantCommitted: true},
		{name: "failure after the first content is in-band", a: []step{{chunks: []string{"par", "tial"}, err: &provider.Error{Kind: provider.KindUpstreamUnavailable, OutputStarted: true}}},
			wantProvider: "a", wantText: "partial", wantErrCode: "all_targets_failed", wantCommitted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, "")
			e.a.steps = tc.a
			s := &sink{}
			out, werr := e.p.Stream(context.Background(), call(t, `{"model":"r","stream":true,"messages":[{"role":"user","content":"hi"}]}`), s)
			if tc.wantErrCode == "" && werr != nil {
				t.Fatal(werr)
			}
			if tc.wantErrCode != "" && (werr == nil || werr.Code != tc.wantErrCode) {
				t.Fatalf("got %v, want %s", werr, tc.wantErrCode)
			}
			if s.began != 1 || out.Committed != tc.wantCommitted {
				t.Errorf("Begin called %d times, committed %v", s.began, out.Committed)
			}
			if got := strings.Join(s.chunks, ""); got != tc.wantText {
				t.Errorf("client saw %q, want %q", got, tc.wantText)
			}
			if out.Target.Provider != tc.wantProvider {
				t.Errorf("answered by %s, want %s", out.Target.Provider, tc.wantProvider)
			}
		})
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	e := newEnv(t, nil, "timeouts: {stream_idle: 50ms}\n")
	stall := &stallProvider{}
	e.p.dispatchers["a"] = stall
	s := &sink{}
	_, werr := e.p.Stream(context.Background(), call(t, `{"model":"a-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`), s)
	if werr == nil || !strings.Contains(werr.Message, "stream_idle") {
		t.Fatalf("a stalled stream was not cut for its silence: %v", werr)
	}
	if strings.Join(s.chunks, "") != "first" {
		t.Errorf("client saw %q", s.chunks)
	}
}

type stallProvider struct{ fakeProvider }

func (p *stallProvider) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	_ = out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: "first"}}})
	<-ctx.Done()
	return nil, &provider.Error{Kind: provider.KindCancelled, Message: "cancelled"}
}

func TestDeadline(t *testing.T) {
	e := newEnv(t, nil, "")
	c := call(t, `{"model":"a-small","messages":[{"role":"user","content":"hi"}]}`)
	c.Deadline = time.Now().Add(50 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), c.Deadline)
	defer cancel()
	e.p.dispatchers["a"] = &blockingProvider{}
	_, werr := e.p.Complete(ctx, c)
	if werr == nil || werr.Status != 504 || werr.Code != "deadline_exceeded" {
		t.Fatalf("got %v, want 504 deadline_exceeded", werr)
	}
}

type blockingProvider struct{ fakeProvider }

func (*blockingProvider) Complete(ctx context.Context, _ *provider.Request) (*provider.Response, error) {
	<-ctx.Done()
	return nil, &provider.Error{Kind: provider.KindCancelled}
}

func TestCatalogue(t *testing.T) {
	text := strings.Replace(testConfig, "  - {name: b, plugin: /bin/true}", "  - {name: b, plugin: /bin/true, enabled: false}", 1)
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cat := NewCatalogue(cfg)
	if got := strings.Join(cat.Names(), ","); got != "r,a-small,auto" {
		t.Errorf("names %s: a disabled provider's models must leave routes and the list", got)
	}
	cands, route, ok := cat.Resolve("r")
	if !ok || len(cands) != 1 || len(route) != 1 || route[0].Name != "a-small" {
		t.Errorf("route r: %v %v %v", cands, route, ok)
	}
	if _, _, ok := cat.Resolve("b-small"); ok {
		t.Error("a disabled provider's model resolves")
	}
}

func TestCircuitBreaker(t *testing.T) {
	e := newEnv(t, nil, "circuit: {failure_threshold: 2, cool_down: 200ms}\n")
	fail := func(n int) []step {
		var s []step
		for i := 0; i < n; i++ {
			s = append(s, step{err: pe(provider.KindUpstreamUnavailable)})
		}
		return s
	}
	e.a.steps = fail(2)
	// Two failures in a row (the first call and its retry) open a's circuit; b answers.
	out, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "b" || out.Attempts != 3 {
		t.Fatalf("got %v, attempts %d", werr, out.Attempts)
	}
	if got := e.p.Circuit(e.p.cat.models["a-small"]); got != "open" {
		t.Fatalf("circuit %s, want open", got)
	}
	// The retry that would have come next found the circuit open: that is why a was left.
	if v := testutil.ToFloat64(e.m.Fallbacks.WithLabelValues("a", "circuit_open")); v != 1 {
		t.Fatalf("fallbacks{a,circuit_open} = %v, want 1", v)
	}
	out, werr = e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "b" || e.a.callCount() != 2 || out.Attempts != 1 {
		t.Fatalf("an open circuit was called: %v calls=%d attempts=%d", werr, e.a.callCount(), out.Attempts)
	}
	if v := testutil.ToFloat64(e.m.Fallbacks.WithLabelValues("a", "circuit_open")); v != 2 {
		t.Errorf("fallbacks{a,circuit_open} = %v, want 2", v)
	}
	// The rule input shows it.
	in := e.p.ruleInput(call(t, simple), e.p.cat.all)
	if in.Candidates[0].Circuit != "open" || in.Candidates[1].Circuit != "closed" {
		t.Errorf("rule input circuits %s %s", in.Candidates[0].Circuit, in.Candidates[1].Circuit)
	}
	// Every target open: 503 no_route with Retry-After, at once.
	e.b.steps = fail(2)
	_, _ = e.p.Complete(context.Background(), call(t, `{"model":"b-small","messages":[{"role":"user","content":"x"}]}`))
	slept := len(e.clock.sleeps())
	_, werr = e.p.Complete(context.Background(), call(t, simple))
	if werr == nil || werr.Status != 503 || werr.Code != "no_route" || werr.RetryAfter <= 0 || len(e.clock.sleeps()) != slept {
		t.Fatalf("every circuit open: got %v after %d waits, want 503 no_route with Retry-After at once", werr, len(e.clock.sleeps())-slept)
	}
	// After the cool-down a probe goes through and closes the circuit.
	e.clock.Advance(250 * time.Millisecond)
	if got := e.p.Circuit(e.p.cat.models["a-small"]); got != "half_open" {
		t.Fatalf("circuit after cool-down %s, want half_open", got)
	}
	out, werr = e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "a" {
		t.Fatalf("probe: %v", werr)
	}
	if got := e.p.Circuit(e.p.cat.models["a-small"]); got != "closed" {
		t.Fatalf("circuit after a good probe %s, want closed", got)
	}
}

func TestCircuitIgnoresRequestFaults(t *testing.T) {
	e := newEnv(t, nil, "circuit: {failure_threshold: 2}\n")
	for i := 0; i < 4; i++ {
		e.a.steps = []step{{err: pe(provider.KindContextLengthExceeded)}}
		_, _ = e.p.Complete(context.Background(), call(t, simple))
	}
	if got := e.p.Circuit(e.p.cat.models["a-small"]); got != "closed" {
		t.Fatalf("a request's own fault opened the circuit: %s", got)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		answer    provider.Message
		finish    string
		validator string // "" = accepted
	}{
		{"text", simple, provider.Message{Content: "hello"}, "stop", ""},
		{"empty", simple, provider.Message{Content: " \n"}, "stop", "non_empty"},
		{"tool call without content", simple, provider.Message{ToolCalls: []provider.ToolCall{{ID: "1", Name: "f", Arguments: `{"a":1}`}}}, "tool_calls", ""},
		{"tool call arguments not JSON", simple, provider.Message{ToolCalls: []provider.ToolCall{{ID: "1", Name: "f", Arguments: `{"a":`}}}, "tool_calls", "tool_arguments"},
		{"json asked and given", `{"model":"r","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}`, provider.Message{Content: ` {"ok":true} `}, "stop", ""},
		{"json asked, prose given", `{"model":"r","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}`, provider.Message{Content: "Sure! {"}, "stop", "json"},
		{"content filter", simple, provider.Message{Content: "partial"}, "content_filter", "content_filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, "")
			e.p.dispatchers["a"] = &fixedProvider{msg: tc.answer, finish: tc.finish}
			e.b.steps = []step{{content: "{}"}} // acceptable to every validator
			out, werr := e.p.Complete(context.Background(), call(t, tc.body))
			if werr != nil {
				t.Fatal(werr)
			}
			want := "a"
			if tc.validator != "" {
				want = "b"
				if v := testutil.ToFloat64(e.m.ValidationFailure.WithLabelValues(tc.validator, "a")); v != 1 {
					t.Errorf("validation_failures{%s,a} = %v, want 1", tc.validator, v)
				}
			}
			if out.Target.Provider != want {
				t.Errorf("answered by %s, want %s", out.Target.Provider, want)
			}
		})
	}
}

type fixedProvider struct {
	fakeProvider
	msg    provider.Message
	finish string
}

func (f *fixedProvider) Complete(context.Context, *provider.Request) (*provider.Response, error) {
	return &provider.Response{Choices: []provider.Choice{{Message: f.msg, FinishReason: f.finish}}}, nil
}

func TestStreamHoldback(t *testing.T) {
	e := newEnv(t, nil, "validation: {stream_holdback: 1000}\n")
	// a streams a short answer that is not the JSON asked for: held back whole, refused, b answers.
	e.a.steps = []step{{chunks: []string{"Sure", "!"}}}
	e.b.steps = []step{{chunks: []string{`{"ok"`, `:true}`}}}
	s := &sink{}
	out, werr := e.p.Stream(context.Background(), call(t, `{"model":"r","stream":true,"response_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}`), s)
	if werr != nil {
		t.Fatal(werr)
	}
	if out.Target.Provider != "b" || strings.Join(s.chunks, "") != `{"ok":true}` || s.began != 1 {
		t.Errorf("client saw %q from %s (Begin %d times)", strings.Join(s.chunks, ""), out.Target.Provider, s.began)
	}
}

// fakeValidator is a rule chain whose sy_validate gives the verdicts in order.
type fakeValidator struct {
	fakeRules
	mu       sync.Mutex
	verdicts []string
	seen     []string
}

func (f *fakeValidator) HasValidators() bool { return true }

func (f *fakeValidator) Validate(_ context.Context, in *abi.ValidateInput) abi.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, in.Target.Provider+":"+in.Answer.Content)
	if len(f.verdicts) == 0 {
		return abi.Verdict{Verdict: "accept"}
	}
	v := f.verdicts[0]
	f.verdicts = f.verdicts[1:]
	return abi.Verdict{Rule: "judge@0123456789ab", Verdict: v, Reason: "because"}
}

var _ AnswerValidator = (*fakeValidator)(nil)

func TestRuleVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name         string
		verdicts     []string
		wantProvider string
		wantAttempts int
		wantCode     string
	}{
		{"accept", nil, "a", 1, ""},
		{"retry the same target", []string{"retry"}, "a", 2, ""},
		{"fall back", []string{"fallback"}, "b", 2, ""},
		{"fail the request", []string{"fail"}, "", 1, wire.CodeAnswerRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &fakeValidator{fakeRules: fakeRules{&abi.Result{}}, verdicts: tc.verdicts}
			e := newEnv(t, v, "")
			out, werr := e.p.Complete(context.Background(), call(t, simple))
			if tc.wantCode != "" {
				if werr == nil || werr.Code != tc.wantCode || werr.Status != 502 {
					t.Fatalf("got %v, want 502 %s", werr, tc.wantCode)
				}
				return
			}
			if werr != nil {
				t.Fatal(werr)
			}
			if out.Target.Provider != tc.wantProvider || out.Attempts != tc.wantAttempts {
				t.Errorf("answered by %s after %d attempts, want %s after %d", out.Target.Provider, out.Attempts, tc.wantProvider, tc.wantAttempts)
			}
			if len(tc.verdicts) > 0 {
				if n := testutil.ToFloat64(e.m.ValidationFailure.WithLabelValues("judge", "a")); n != 1 {
					t.Errorf("validation_failures{judge,a} = %v, want 1", n)
				}
			}
		})
	}
}
