// Package quota enforces keys' rate limits and budgets before dispatch: requests (RPM) and
// tokens (TPM) per minute on sliding windows, and spend per budget period. The counters
// live in a state.Limiter and a state.Spend: this replica's own, or Redis shared by every
// replica (state.url).
package quota

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/keys"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/state"
	"github.com/switchyard-llm/switchyard/host/wire"
)

// Enforcer admits requests of limited keys and settles what they used.
type Enforcer struct {
	lim   state.Limiter
	spend state.Spend
	m     *metrics.Metrics
	now   func() time.Time
}

// New returns an Enforcer over the counters; now is the clock (nil: time.Now).
func New(lim state.Limiter, spend state.Spend, m *metrics.Metrics, now func() time.Time) *Enforcer {
	if now == nil {
		now = time.Now
	}
	return &Enforcer{lim: lim, spend: spend, m: m, now: now}
}

// Grant is an admitted request's hold on its key's limits; Settle it when the request
// ends. A nil Grant (a key without limits) settles nothing.
type Grant struct {
	e       *Enforcer
	key     *keys.Key
	at      time.Time
	tpm     []string // the TPM windows the estimate was taken from
	est     int64
	counter string // the budget's spend counter, "" without a budget
	ttl     time.Duration

	// Budget and Limits are what rules see of the key (request.budget, request.limits).
	Budget *abi.BudgetView
	Limits *abi.LimitsView
}

// Window names: every window of a key shares the hash tag {name}, so Redis Cluster keeps
// them in one slot and one script can take them all.
func rpmWindow(key string) string { return "{" + key + "}:rpm" }
func tpmWindow(key string) string { return "{" + key + "}:tpm" }
func modelWindow(key, model, kind string) string {
	return "{" + key + "}:model:" + model + ":" + kind
}

// Admit checks k's budget and takes one request and the estimated tokens from its rate
// windows (the key's own and the requested model's), all or nothing. A refusal is the 429
// the client gets: budget_exceeded with Retry-After at the period's reset, or
// rate_limited with Retry-After when the window has room again. With the shared state
// unreachable and state.on_error: closed, it is 503 state_unavailable.
func (e *Enforcer) Admit(ctx context.Context, k *keys.Key, model string, estTokens int64) (*Grant, *wire.Error) {
	if k == nil || !k.Limited() {
		return nil, nil
	}
	now := e.now()
	g := &Grant{e: e, key: k, at: now, est: max(estTokens, 0)}
	if b := k.Budget; b != nil {
		start, reset := Period(b.Period, now)
		g.counter = k.Name + ":" + b.Period + ":" + start.UTC().Format("2006-01-02")
		if !reset.IsZero() {
			g.ttl = reset.Sub(now) + time.Hour
		}
		spent, err := e.spend.Spent(ctx, g.counter)
		if err != nil {
			return nil, unavailable(err)
		}
		left := math.Max(b.USD-spent, 0)
		e.m.KeyBudgetRemaining.WithLabelValues(k.Name).Set(left)
		g.Budget = &abi.BudgetView{USD: b.USD, Period: b.Period, SpentUSD: round(spent), RemainingUSD: round(left)}
		if !reset.IsZero() {
			g.Budget.ResetsUnixMS = reset.UnixMilli()
		}
		if spent >= b.USD {
			e.m.KeyLimited.WithLabelValues(k.Name, "budget").Inc()
			werr := wire.NewError(http.StatusTooManyRequests, wire.CodeBudgetExceeded,
				"the key %q has spent its budget of $%.2f for this %s", k.Name, b.USD, b.Period)
			if !reset.IsZero() {
				werr.RetryAfter = reset.Sub(now)
			} else {
				werr.Message = "the key " + quote(k.Name) + " has spent its total budget"
			}
			return nil, werr
		}
	}
	var takes []state.Take
	var kinds []string
	add := func(window string, limit, n int64, kind string) {
		if limit > 0 {
			takes = append(takes, state.Take{Window: window, Limit: limit, N: n})
			kinds = append(kinds, kind)
			if kind == "tpm" {
				g.tpm = append(g.tpm, window)
			}
		}
	}
	add(rpmWindow(k.Name), k.Limits.RPM, 1, "rpm")
	add(tpmWindow(k.Name), k.Limits.TPM, g.est, "tpm")
	if ml, ok := k.Limits.Models[model]; ok {
		add(modelWindow(k.Name, model, "rpm"), ml.RPM, 1, "rpm")
		add(modelWindow(k.Name, model, "tpm"), ml.TPM, g.est, "tpm")
	}
	if len(takes) == 0 {
		return g, nil
	}
	v, err := e.lim.Take(ctx, now, takes)
	if err != nil {
		return nil, unavailable(err)
	}
	if !v.Allowed {
		kind := kinds[v.Denied]
		e.m.KeyLimited.WithLabelValues(k.Name, kind).Inc()
		t := takes[v.Denied]
		werr := wire.NewError(http.StatusTooManyRequests, wire.CodeRateLimited,
			"the key %q is over its limit of %d %s", k.Name, t.Limit, map[string]string{"rpm": "requests per minute", "tpm": "tokens per minute"}[kind])
		werr.RetryAfter = max(v.RetryAfter, time.Second)
		return nil, werr
	}
	// What rules see: the tightest limit of each kind and its headroom before this request.
	lv := &abi.LimitsView{}
	for i, t := range takes {
		before := v.Remaining[i] + t.N
		switch kinds[i] {
		case "rpm":
			if lv.RPM == 0 || before < lv.RPMRemaining {
				lv.RPM, lv.RPMRemaining = t.Limit, before
			}
		case "tpm":
			if lv.TPM == 0 || before < lv.TPMRemaining {
				lv.TPM, lv.TPMRemaining = t.Limit, before
			}
		}
	}
	g.Limits = lv
	return g, nil
}

// Settle records what the request used: its tokens correct the TPM estimate, its cost is
// added to the budget's spend. It never fails the request: counters that cannot be
// updated are given up (the ledger still has the row).
func (g *Grant) Settle(ctx context.Context, tokens int64, costUSD float64) {
	if g == nil {
		return
	}
	now := g.e.now()
	if d := tokens - g.est; d != 0 {
		for _, w := range g.tpm {
			_ = g.e.lim.Add(ctx, g.at, now, w, d)
		}
	}
	if g.counter != "" && costUSD > 0 {
		g.e.m.KeySpend.WithLabelValues(g.key.Name).Add(costUSD)
		if total, err := g.e.spend.AddSpend(ctx, g.counter, costUSD, g.ttl); err == nil {
			g.e.m.KeyBudgetRemaining.WithLabelValues(g.key.Name).Set(math.Max(g.key.Budget.USD-total, 0))
		}
	}
}

// Seed starts a key's spend counter for the current period at what the ledger says it
// spent (only when the counter does not exist yet: the first replica to start wins).
func (e *Enforcer) Seed(ctx context.Context, name string, b *config.KeyBudget, spent float64) error {
	now := e.now()
	start, reset := Period(b.Period, now)
	var ttl time.Duration
	if !reset.IsZero() {
		ttl = reset.Sub(now) + time.Hour
	}
	return e.spend.Seed(ctx, name+":"+b.Period+":"+start.UTC().Format("2006-01-02"), spent, ttl)
}

// Period is the budget period holding now, in UTC: its start and the next reset (zero
// for "total", which never resets and starts at the epoch). Weeks start on Monday.
func Period(period string, now time.Time) (start, reset time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case "day":
		return day, day.AddDate(0, 0, 1)
	case "week":
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		start := day.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7)
	case "month":
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return time.Unix(0, 0).UTC(), time.Time{}
}

// unavailable is the answer when the shared state refused (state.on_error: closed).
func unavailable(err error) *wire.Error {
	werr := wire.NewError(http.StatusServiceUnavailable, wire.CodeStateUnavailable,
		"the shared state that enforces this key's limits is unreachable (state.on_error: closed); retry later")
	werr.RetryAfter = time.Second
	if !errors.Is(err, state.ErrUnavailable) {
		werr.Message = "this key's limits cannot be checked now; retry later"
	}
	return werr
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func quote(s string) string { return `"` + s + `"` }
