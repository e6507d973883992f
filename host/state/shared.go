package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// SharedOptions configures a Shared.
type SharedOptions struct {
	// FailClosed makes Limiter.Take and Spend.Spent fail with ErrUnavailable while Redis
	// cannot be reached (state.on_error: closed); otherwise (open, the default) they are
	// served from the local state.
	FailClosed bool
}

// Shared serves from Redis while it is healthy and from the local state otherwise: when a
// command fails, and without trying Redis at all while it is unhealthy (the PING loop
// brings it back). Cache and Circuits always degrade silently; limits and spend degrade
// unless FailClosed. Safe for concurrent use; closing the Redis is the caller's.
//
// So that a fall back goes on from where Redis was rather than from zero, the local state
// also follows what this replica did through Redis: its own takes and corrections, the
// spend totals Redis answered, the circuit events it saw. Spend added locally during an
// outage (and seeds that did not reach Redis) is added to Redis once it answers again.
type Shared struct {
	remote *Redis
	local  *Local
	o      SharedOptions

	pmu      sync.Mutex
	pending  map[string]pendingSpend // spend added locally while Redis was unreachable
	seeds    map[string]pendingSpend // seeds that did not reach Redis
	npending atomic.Int64            // len(pending) + len(seeds)
}

type pendingSpend struct {
	usd float64
	ttl time.Duration
}

// NewShared puts remote before local.
func NewShared(remote *Redis, local *Local, o SharedOptions) *Shared {
	return &Shared{remote: remote, local: local, o: o,
		pending: map[string]pendingSpend{}, seeds: map[string]pendingSpend{}}
}

// unavailable is the fail-closed error: cause is what Redis said, or nil when it was not
// asked (unhealthy).
func (s *Shared) unavailable(cause error) error {
	if cause == nil {
		cause = s.remote.Err()
	}
	if cause == nil {
		return fmt.Errorf("%w: redis %s is unhealthy", ErrUnavailable, s.remote.addr)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, cause)
}

// left says whether err is the caller's own context ending, not a Redis failure.
func left(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// ---- Limiter ----

// Take implements Limiter.
func (s *Shared) Take(ctx context.Context, now time.Time, takes []Take) (Verdict, error) {
	if err := checkTakes(takes); err != nil {
		return Verdict{}, err
	}
	var cause error
	if s.remote.Healthy() {
		v, err := s.remote.Take(ctx, now, takes)
		if err == nil {
			if v.Allowed {
				for _, t := range takes {
					s.local.lim.add(now, now, t.Window, t.N)
				}
			}
			return v, nil
		}
		if left(ctx, err) {
			return Verdict{}, err
		}
		cause = err
	}
	if s.o.FailClosed {
		return Verdict{}, s.unavailable(cause)
	}
	return s.local.lim.take(now, takes), nil
}

// Add implements Limiter: the local window always, Redis when healthy. It never fails.
func (s *Shared) Add(ctx context.Context, at, now time.Time, window string, n int64) error {
	s.local.lim.add(at, now, window, n)
	if s.remote.Healthy() {
		_ = s.remote.Add(ctx, at, now, window, n)
	}
	return nil
}

// Used implements Limiter.
func (s *Shared) Used(ctx context.Context, now time.Time, window string) (int64, error) {
	if s.remote.Healthy() {
		if n, err := s.remote.Used(ctx, now, window); err == nil || left(ctx, err) {
			return n, err
		}
	}
	return s.local.Used(ctx, now, window)
}

// ---- Spend ----

// Spent implements Spend.
func (s *Shared) Spent(ctx context.Context, counter string) (float64, error) {
	var cause error
	if s.remote.Healthy() {
		s.flush(ctx)
		v, err := s.remote.Spent(ctx, counter)
		if err == nil {
			s.local.mirrorSpend(counter, v, -1)
			return v, nil
		}
		if left(ctx, err) {
			return 0, err
		}
		cause = err
	}
	if s.o.FailClosed {
		return 0, s.unavailable(cause)
	}
	return s.local.Spent(ctx, counter)
}

// AddSpend implements Spend. While Redis is unreachable the spend is added locally and
// kept to be added to Redis later; it never fails then.
func (s *Shared) AddSpend(ctx context.Context, counter string, usd float64, ttl time.Duration) (float64, error) {
	if s.remote.Healthy() {
		s.flush(ctx)
		v, err := s.remote.AddSpend(ctx, counter, usd, ttl)
		if err == nil {
			s.local.mirrorSpend(counter, v, ttl)
			return v, nil
		}
		// A caller that left may or may not have reached Redis: counted once more
		// rather than lost.
	}
	s.pmu.Lock()
	p := s.pending[counter]
	s.pending[counter] = pendingSpend{usd: p.usd + usd, ttl: ttl}
	s.npending.Store(int64(len(s.pending) + len(s.seeds)))
	s.pmu.Unlock()
	return s.local.AddSpend(ctx, counter, usd, ttl)
}

// Seed implements Spend: the local counter always, Redis when it answers (else later).
func (s *Shared) Seed(ctx context.Context, counter string, usd float64, ttl time.Duration) error {
	_ = s.local.Seed(ctx, counter, usd, ttl)
	if s.remote.Healthy() {
		if err := s.remote.Seed(ctx, counter, usd, ttl); err == nil {
			return nil
		}
	}
	s.pmu.Lock()
	if _, ok := s.seeds[counter]; !ok {
		s.seeds[counter] = pendingSpend{usd: usd, ttl: ttl}
	}
	s.npending.Store(int64(len(s.pending) + len(s.seeds)))
	s.pmu.Unlock()
	return nil
}

// flush hands Redis what reached only the local state: seeds first (SET NX), then the
// spend added since. What fails stays for the next time.
func (s *Shared) flush(ctx context.Context) {
	if s.npending.Load() == 0 {
		return
	}
	s.pmu.Lock()
	seeds, pending := s.seeds, s.pending
	s.seeds, s.pending = map[string]pendingSpend{}, map[string]pendingSpend{}
	s.npending.Store(0)
	s.pmu.Unlock()
	failed := false
	for c, p := range seeds {
		if !failed && s.remote.Seed(ctx, c, p.usd, p.ttl) == nil {
			delete(seeds, c)
		} else {
			failed = true
		}
	}
	for c, p := range pending {
		if failed {
			break
		}
		if v, err := s.remote.AddSpend(ctx, c, p.usd, p.ttl); err == nil {
			s.local.mirrorSpend(c, v, p.ttl)
			delete(pending, c)
		} else {
			failed = true
		}
	}
	if len(seeds)+len(pending) == 0 {
		return
	}
	s.pmu.Lock()
	for c, p := range seeds {
		if _, ok := s.seeds[c]; !ok {
			s.seeds[c] = p
		}
	}
	for c, p := range pending {
		q := s.pending[c]
		s.pending[c] = pendingSpend{usd: p.usd + q.usd, ttl: p.ttl}
	}
	s.npending.Store(int64(len(s.pending) + len(s.seeds)))
	s.pmu.Unlock()
}

// ---- Cache ----

// Get implements Cache; it never fails (a miss is harmless).
func (s *Shared) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if s.remote.Healthy() {
		if b, ok, err := s.remote.Get(ctx, key); err == nil {
			return b, ok, nil
		}
	}
	return s.local.Get(ctx, key)
}

// Set implements Cache; it never fails.
func (s *Shared) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.remote.Healthy() {
		if err := s.remote.Set(ctx, key, value, ttl); err == nil {
			return nil
		}
	}
	return s.local.Set(ctx, key, value, ttl)
}

// ---- Circuits ----

// Publish implements Circuits: through Redis when it answers, else to this replica's
// subscribers only. It never fails.
func (s *Shared) Publish(ctx context.Context, e CircuitEvent) error {
	s.local.rememberCircuit(e)
	if s.remote.Healthy() {
		if err := s.remote.Publish(ctx, e); err == nil {
			return nil
		}
	}
	return s.local.Publish(ctx, e)
}

// Open implements Circuits; it never fails.
func (s *Shared) Open(ctx context.Context) ([]CircuitEvent, error) {
	if s.remote.Healthy() {
		if open, err := s.remote.Open(ctx); err == nil {
			return open, nil
		}
	}
	return s.local.Open(ctx)
}

// Subscribe implements Circuits: events from Redis and those published locally while
// Redis was unreachable.
func (s *Shared) Subscribe(ctx context.Context, f func(CircuitEvent)) {
	var mu sync.Mutex
	call := func(e CircuitEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() == nil {
			f(e)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		s.remote.Subscribe(ctx, func(e CircuitEvent) {
			s.local.rememberCircuit(e)
			call(e)
		})
	})
	s.local.Subscribe(ctx, call)
	wg.Wait()
}

var (
	_ Limiter  = (*Shared)(nil)
	_ Spend    = (*Shared)(nil)
	_ Cache    = (*Shared)(nil)
	_ Circuits = (*Shared)(nil)
)
