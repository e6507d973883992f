// Package state holds what N router replicas share: per-minute rate limits, budget spend
// counters, the response cache and circuit-breaker events. Local keeps them in the
// process (one replica, or the fallback while Redis is unreachable), Redis keeps them in
// a Redis server that every replica talks to, and Shared puts Redis first and falls back
// to Local on failure. See README.md for the key layout, the atomicity argument and the
// failure behaviour.
package state

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is what a fail-closed Shared returns from Limiter.Take and Spend.Spent
// while Redis cannot be reached (the router answers 503 state_unavailable).
var ErrUnavailable = errors.New("state: shared state unavailable")

// Take asks for N units of a per-minute limit on one window.
type Take struct {
	// Window names the window (e.g. "{team-a}:rpm"). On Redis a "{tag}" in it is a
	// cluster hash tag: windows of one Take call that share a tag share a slot.
	Window string
	// Limit is how many units the window holds in any 60 s.
	Limit int64
	// N is how many units this call takes (0 asks whether the window is over its limit).
	N int64
}

// Verdict of a Limiter.Take.
type Verdict struct {
	Allowed bool
	// Denied is the index in takes of the first window that refused; -1 when allowed.
	Denied int
	// RetryAfter, when Denied, is how long until enough of that window's oldest units
	// expire for the take to fit: at least 1 s, and 60 s when it can never fit (N > Limit).
	RetryAfter time.Duration
	// Remaining is, per take, Limit - used after this call (after taking, when allowed),
	// never below 0.
	Remaining []int64
}

// Limiter keeps sliding windows of the last 60 seconds in 60 one-second buckets: a unit
// taken at time t counts until the end of t's second plus 59 s, so a limit of 30 per minute
// lets 30 through in any 60 s, never 60 across a minute boundary as a fixed window would.
// Implementations are safe for concurrent use.
type Limiter interface {
	// Take takes every take's N from its window, all or nothing, atomically (across
	// replicas for Redis): when any window would exceed its Limit nothing is taken. Two
	// takes on one window in one call count together.
	Take(ctx context.Context, now time.Time, takes []Take) (Verdict, error)
	// Add corrects a window by n (negative to give back: the TPM estimate taken up front is
	// corrected with the real usage afterwards) in the bucket of at (the time of the
	// original take) when that bucket is still inside the window at now, and does nothing
	// otherwise. It never refuses; used never goes below 0.
	Add(ctx context.Context, at, now time.Time, window string, n int64) error
	// Used is how many units the window holds at now.
	Used(ctx context.Context, now time.Time, window string) (int64, error)
}

// Spend keeps budget spend per key and period.
type Spend interface {
	// Spent is the counter's total; 0 when absent. The counter is the caller's name for
	// key+period (e.g. "team-a:day:2026-12-02").
	Spent(ctx context.Context, counter string) (float64, error)
	// AddSpend adds usd and returns the new total. ttl 0 keeps the counter forever (a
	// "total" budget); otherwise the counter expires ttl after its creation (later adds
	// do not extend it).
	AddSpend(ctx context.Context, counter string, usd float64, ttl time.Duration) (float64, error)
	// Seed sets the counter to usd only when it is absent (replicas seed from the ledger
	// at start; the first one wins), with AddSpend's ttl rule.
	Seed(ctx context.Context, counter string, usd float64, ttl time.Duration) error
}

// Cache holds response-cache entries.
type Cache interface {
	// Get returns a copy of the entry; false when absent or expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores a copy of value for ttl (0: until evicted).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// CircuitEvent is a breaker change one replica tells the others.
type CircuitEvent struct {
	Key  string
	Open bool
	// Until is when an open breaker may be probed again (zero for !Open).
	Until time.Time
	// Origin names the replica that published the event; empty for a close that
	// Subscribe inferred after reconnecting (the breaker is no longer in Open()).
	Origin string
}

// Circuits shares breaker changes.
type Circuits interface {
	// Publish tells every replica. Open: also remembered until Until (a replica starting
	// later sees it in Open()); !Open: forgets it.
	Publish(ctx context.Context, e CircuitEvent) error
	// Open lists the breakers open now.
	Open(ctx context.Context) ([]CircuitEvent, error)
	// Subscribe calls f for every event published by any replica (its own too: Origin
	// tells) until ctx ends, and blocks until then; f is called from one goroutine at a
	// time and never after Subscribe returns. It first delivers the Open() set, and again
	// after every reconnection (Redis), so a replica that missed events catches up.
	Subscribe(ctx context.Context, f func(CircuitEvent))
}
