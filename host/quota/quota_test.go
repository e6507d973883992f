package quota

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/keys"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/state"
)

func TestPeriod(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC) // a Wednesday
	for _, tc := range []struct{ period, start, reset string }{
		{"day", "2026-12-02", "2026-12-03"},
		{"week", "2026-11-30", "2026-12-07"},
		{"month", "2026-12-01", "2027-01-01"},
	} {
		s, r := Period(tc.period, now)
		if s.Format(time.DateOnly) != tc.start || r.Format(time.DateOnly) != tc.reset {
			t.Errorf("%s: %s..%s, want %s..%s", tc.period, s, r, tc.start, tc.reset)
		}
	}
	if s, r := Period("total", now); !r.IsZero() || s.Unix() != 0 {
		t.Errorf("total: %s %s", s, r)
	}
}

// TestAdmit: RPM and TPM refuse with Retry-After, per-model limits are tighter, the
// headroom rules see is before the request, a settled request corrects TPM, and a budget
// refuses once spent with Retry-After at the reset. Time is the test's.
func TestAdmit(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	local := state.NewLocal(state.LocalOptions{Now: clock})
	e := New(local, local, metrics.New(prometheus.NewRegistry()), clock)

	k := &keys.Key{Name: "a", Limits: config.KeyLimits{RPM: 3, TPM: 100, Models: map[string]config.RateLimit{"big": {RPM: 1}}}}
	g, werr := e.Admit(ctx, k, "small", 10)
	if werr != nil || g.Limits.RPM != 3 || g.Limits.RPMRemaining != 3 || g.Limits.TPMRemaining != 100 {
		t.Fatalf("first: %v %+v", werr, g.Limits)
	}
	g.Settle(ctx, 50, 0) // the request used 50 tokens, not the 10 estimated
	if g, werr = e.Admit(ctx, k, "big", 10); werr != nil || g.Limits.RPM != 1 || g.Limits.RPMRemaining != 1 || g.Limits.TPMRemaining != 50 {
		t.Fatalf("per model: %v %+v", werr, g.Limits)
	}
	if _, werr = e.Admit(ctx, k, "big", 10); werr == nil || werr.Code != "rate_limited" || werr.RetryAfter < time.Second {
		t.Fatalf("the model's rpm: %+v", werr)
	}
	if _, werr = e.Admit(ctx, k, "small", 45); werr == nil || werr.Code != "rate_limited" {
		t.Fatalf("tpm: %+v", werr)
	}
	if _, werr = e.Admit(ctx, k, "small", 1); werr != nil {
		t.Fatalf("the third request: %+v", werr)
	}
	if _, werr = e.Admit(ctx, k, "small", 1); werr == nil || werr.Status != http.StatusTooManyRequests {
		t.Fatalf("the key's rpm: %+v", werr)
	}
	now = now.Add(61 * time.Second)
	if _, werr = e.Admit(ctx, k, "small", 1); werr != nil {
		t.Fatalf("a minute later: %+v", werr)
	}

	b := &keys.Key{Name: "b", Budget: &config.KeyBudget{USD: 1, Period: "day"}}
	if err := e.Seed(ctx, "b", b.Budget, 0.75); err != nil {
		t.Fatal(err)
	}
	g, werr = e.Admit(ctx, b, "small", 0)
	if werr != nil || g.Budget.RemainingUSD != 0.25 || g.Budget.SpentUSD != 0.75 {
		t.Fatalf("budget: %v %+v", werr, g.Budget)
	}
	g.Settle(ctx, 0, 0.3)
	_, werr = e.Admit(ctx, b, "small", 0)
	reset, _ := time.Parse(time.RFC3339, "2026-12-04T00:00:00Z")
	if werr == nil || werr.Code != "budget_exceeded" || werr.RetryAfter != reset.Sub(now) {
		t.Fatalf("over budget: %+v (want Retry-After %s)", werr, reset.Sub(now))
	}
}
