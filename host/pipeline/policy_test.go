package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func TestEveryKindHasAPolicy(t *testing.T) {
	for _, k := range provider.Kinds() {
		if _, ok := kindPolicy[k]; !ok {
			t.Errorf("kind %s has no row in kindPolicy", k)
		}
	}
	if len(kindPolicy) != len(provider.Kinds()) {
		t.Errorf("kindPolicy has %d rows for %d kinds", len(kindPolicy), len(provider.Kinds()))
	}
	// The kinds the pipeline may retry are those the SDK marks retryable by default, which
	// is also where switchyard_retries_total's reasons come from (metrics.RetryReasons).
	for k, row := range kindPolicy {
		if row.retry != k.DefaultRetryable() {
			t.Errorf("kind %s: the pipeline retries it: %v, the SDK's DefaultRetryable: %v", k, row.retry, k.DefaultRetryable())
		}
	}
}

// TestClassify is the failure policy, case by case.
func TestClassify(t *testing.T) {
	withRetryable := func(k provider.Kind, r bool) error {
		return &provider.Error{Kind: k, Message: "m", Retryable: r}
	}
	for _, tc := range []struct {
		name    string
		err     error
		label   string
		retry   bool
		stop    bool
		breaker circuit.Outcome
		status  int
		code    string
	}{
		{"invalid request stops", withRetryable(provider.KindInvalidRequest, true), "invalid_request", false, true, circuit.Neutral, 400, "invalid_request"},
		{"authentication", withRetryable(provider.KindAuthentication, false), "authentication", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"permission denied", withRetryable(provider.KindPermissionDenied, false), "permission_denied", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"not found", withRetryable(provider.KindNotFound, false), "not_found", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"context length", withRetryable(provider.KindContextLengthExceeded, false), "context_length_exceeded", false, false, circuit.Neutral, 400, "context_length_exceeded"},
		{"content filtered", withRetryable(provider.KindContentFiltered, false), "content_filtered", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"rate limited, retryable", withRetryable(provider.KindRateLimited, true), "rate_limited", true, false, circuit.Failure, 429, "rate_limited"},
		{"rate limited, plugin says no retry", withRetryable(provider.KindRateLimited, false), "rate_limited", false, false, circuit.Failure, 429, "rate_limited"},
		{"quota exhausted", withRetryable(provider.KindQuotaExhausted, false), "quota_exhausted", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"unavailable, retryable", withRetryable(provider.KindUpstreamUnavailable, true), "upstream_unavailable", true, false, circuit.Failure, 502, "all_targets_failed"},
		{"a 500 the plugin says not to retry", withRetryable(provider.KindUpstreamUnavailable, false), "upstream_unavailable", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"timeout", withRetryable(provider.KindUpstreamTimeout, true), "upstream_timeout", true, false, circuit.Failure, 502, "all_targets_failed"},
		{"unsupported", withRetryable(provider.KindUnsupported, false), "unsupported", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"internal, even if marked retryable", withRetryable(provider.KindInternal, true), "internal", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"cancelled", withRetryable(provider.KindCancelled, false), "cancelled", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"a kind newer than the host", withRetryable(provider.Kind("brand_new"), true), "internal", false, false, circuit.Failure, 502, "all_targets_failed"},
		{"plugin failure", fmt.Errorf("providers/a: %w", errors.New("plugin down")), "plugin_down", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"refused answer", &refusedError{validator: "json", reason: "not JSON"}, "invalid_answer", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"filtered answer", &refusedError{validator: "content_filter", reason: "filtered"}, "content_filtered", false, false, circuit.Neutral, 502, "all_targets_failed"},
		{"rule says retry", &refusedError{validator: "r", reason: "x", verdict: "retry"}, "invalid_answer", true, false, circuit.Neutral, 502, "all_targets_failed"},
		{"rule says fail", &refusedError{validator: "r", reason: "x", verdict: "fail"}, "invalid_answer", false, true, circuit.Neutral, 502, wire.CodeAnswerRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := classify(tc.err)
			if f.label != tc.label || f.retry != tc.retry || f.stop != tc.stop || f.breaker != tc.breaker || f.status != tc.status || f.code != tc.code {
				t.Errorf("got label=%s retry=%v stop=%v breaker=%v status=%d code=%s\nwant label=%s retry=%v stop=%v breaker=%v status=%d code=%s",
					f.label, f.retry, f.stop, f.breaker, f.status, f.code, tc.label, tc.retry, tc.stop, tc.breaker, tc.status, tc.code)
			}
		})
	}
}

// A plugin can say "do not retry this": the wire's retryable is honoured.
func TestRetryableHonoured(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.steps = []step{{err: &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "500, not worth a retry", Retryable: false}}}
	out, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "b" || e.a.callCount() != 1 || len(e.clock.sleeps()) != 0 {
		t.Fatalf("got %v from %v after %d calls to a and %d waits: want one call to a, then b", werr, out.Target, e.a.callCount(), len(e.clock.sleeps()))
	}
}

// A Retry-After longer than retry.backoff_max moves on at once, and the client is told the
// real wait (capped) when every target fails.
func TestLongRetryAfter(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.steps = []step{{err: &provider.Error{Kind: provider.KindRateLimited, Message: "slow down", Retryable: true, RetryAfter: 30 * time.Second}}}
	e.b.steps = []step{{err: pe(provider.KindUpstreamUnavailable)}, {err: pe(provider.KindUpstreamUnavailable)}, {err: pe(provider.KindUpstreamUnavailable)}}
	_, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr == nil || werr.Status != 502 || werr.RetryAfter != 30*time.Second {
		t.Fatalf("got %v (Retry-After %s), want 502 with Retry-After 30s", werr, werr.RetryAfter)
	}
	if e.a.callCount() != 1 {
		t.Errorf("a was called %d times: a 30 s Retry-After must not be waited on", e.a.callCount())
	}
	for _, d := range e.clock.sleeps() {
		if d >= time.Second {
			t.Errorf("waited %s: the long Retry-After was waited on", d)
		}
	}

	e = newEnv(t, nil, "")
	e.a.steps = []step{{err: &provider.Error{Kind: provider.KindRateLimited, Retryable: true, RetryAfter: 48 * time.Hour}}}
	e.b.steps = []step{{err: &provider.Error{Kind: provider.KindRateLimited, Retryable: true, RetryAfter: 48 * time.Hour}}}
	_, werr = e.p.Complete(context.Background(), call(t, simple))
	if werr == nil || werr.Status != 429 || werr.RetryAfter != MaxRetryAfter {
		t.Fatalf("got %v (Retry-After %s), want 429 with Retry-After capped at %s", werr, werr.RetryAfter, MaxRetryAfter)
	}
}

// Backoff waits go through the clock: exponential, at least what the upstream asked for.
func TestBackoffThroughClock(t *testing.T) {
	e := newEnv(t, nil, "")
	e.a.steps = []step{{err: &provider.Error{Kind: provider.KindRateLimited, Retryable: true, RetryAfter: time.Millisecond}}, {err: pe(provider.KindUpstreamTimeout)}}
	out, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "a" || out.Attempts != 3 {
		t.Fatalf("got %v, attempts %d", werr, out.Attempts)
	}
	s := e.clock.sleeps()
	if len(s) != 2 || s[0] < time.Millisecond || s[0] > 2*time.Millisecond || s[1] > 2*time.Millisecond {
		t.Errorf("waits %v: want two, the first at least the 1ms Retry-After, none over backoff_max 2ms", s)
	}
	if v := testutil.ToFloat64(e.m.Retries.WithLabelValues("a", "rate_limited")); v != 1 {
		t.Errorf("retries{a,rate_limited} = %v", v)
	}
}

// A failing plugin (its process, not its upstream) never opens circuits: the supervisor
// restarts it, and a restart must not open every circuit of the plugin at once.
func TestPluginFailuresDoNotOpenCircuits(t *testing.T) {
	e := newEnv(t, nil, "circuit: {failure_threshold: 2}\n")
	for i := 0; i < 5; i++ {
		e.a.steps = []step{{err: errors.New("providers/a: plugin down: transport is closing")}}
		if _, werr := e.p.Complete(context.Background(), call(t, simple)); werr != nil {
			t.Fatal(werr)
		}
	}
	if got := e.p.Circuit(e.p.cat.models["a-small"]); got != "closed" {
		t.Fatalf("plugin failures opened the circuit: %s", got)
	}
	if v := testutil.ToFloat64(e.m.Fallbacks.WithLabelValues("a", "plugin_down")); v != 5 {
		t.Errorf("fallbacks{a,plugin_down} = %v, want 5", v)
	}
}

// pacedProvider streams n chunks, one every gap, after a first-byte delay.
type pacedProvider struct {
	fakeProvider
	first, gap time.Duration
	n          int
}

func (p *pacedProvider) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d): // the upstream's pace: the behaviour under test
			return nil
		case <-ctx.Done():
			return &provider.Error{Kind: provider.KindCancelled, Message: "cancelled"}
		}
	}
	if err := wait(p.first); err != nil {
		return nil, err
	}
	for i := 0; i < p.n; i++ {
		if i > 0 {
			if err := wait(p.gap); err != nil {
				return nil, err
			}
		}
		if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: "t"}}}); err != nil {
			return nil, err
		}
	}
	return &provider.Usage{PromptTokens: 1, CompletionTokens: int64(p.n)}, nil
}

// timeouts.attempt bounds the time to the first byte, not a healthy stream.
func TestAttemptBoundsFirstByte(t *testing.T) {
	e := newEnv(t, nil, "timeouts: {attempt: 1s, stream_idle: 10s}\n")
	e.p.dispatchers["a"] = &pacedProvider{gap: 200 * time.Millisecond, n: 10} // ~1.8 s in all
	s := &sink{}
	_, werr := e.p.Stream(context.Background(), call(t, `{"model":"a-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`), s)
	if werr != nil || len(s.chunks) != 10 {
		t.Fatalf("a healthy stream longer than timeouts.attempt: %v after %d chunks", werr, len(s.chunks))
	}

	e = newEnv(t, nil, "timeouts: {attempt: 50ms, stream_idle: 10s}\n")
	e.p.dispatchers["a"] = &pacedProvider{first: time.Hour, n: 1}
	s = &sink{}
	out, werr := e.p.Stream(context.Background(), call(t, `{"model":"r","stream":true,"messages":[{"role":"user","content":"hi"}]}`), s)
	if werr != nil || out.Target.Provider != "b" {
		t.Fatalf("no first byte within timeouts.attempt: got %v from %v, want b to answer", werr, out.Target)
	}
	if v := testutil.ToFloat64(e.m.ProviderRequests.WithLabelValues("a", "a-small", "upstream_timeout")); v < 1 {
		t.Errorf("provider_requests{a,upstream_timeout} = %v", v)
	}
}

// Whole answers are bounded by timeouts.attempt as a whole.
func TestAttemptBoundsWholeAnswer(t *testing.T) {
	e := newEnv(t, nil, "timeouts: {attempt: 50ms}\n")
	e.p.dispatchers["a"] = &blockingProvider{}
	out, werr := e.p.Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "b" {
		t.Fatalf("got %v from %v, want b after a's attempt timed out", werr, out.Target)
	}
	if v := testutil.ToFloat64(e.m.ProviderRequests.WithLabelValues("a", "a-small", "upstream_timeout")); v != 3 {
		t.Errorf("provider_requests{a,upstream_timeout} = %v, want 3 (the call and its two retries)", v)
	}
}

// sickProvider is up, but its last health check failed.
type sickProvider struct{ fakeProvider }

func (*sickProvider) Healthy() bool { return false }

var _ HealthReporter = (*sickProvider)(nil)

// A plugin whose health check says "not ok" shows as healthy: false in the rule input.
func TestUnhealthyPluginInRuleInput(t *testing.T) {
	e := newEnv(t, nil, "")
	e.p.dispatchers["a"] = &sickProvider{}
	in := e.p.ruleInput(call(t, simple), e.p.cat.all)
	if in.Candidates[0].Healthy || !in.Candidates[1].Healthy {
		t.Errorf("healthy %v %v, want false for a's unhealthy plugin and true for b", in.Candidates[0].Healthy, in.Candidates[1].Healthy)
	}
}
