// Package circuit holds the circuit breakers the pipeline keeps per target (a provider's
// model): after repeated failures a target is skipped for a cool-down, then probed, and
// closed again on success.
package circuit

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is a breaker's state.
type State int

const (
	Closed State = iota
	HalfOpen
	Open
)

// String returns the state as rules and the dry run see it.
func (s State) String() string {
	switch s {
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return "closed"
}

// Config tunes every breaker of a Set.
type Config struct {
	// FailureThreshold is the number of failures in a row that opens a closed breaker.
	FailureThreshold int
	// CoolDown is how long an open breaker refuses calls before it lets a probe through.
	CoolDown time.Duration
	// HalfOpenProbes is how many calls may probe a half-open breaker at once.
	HalfOpenProbes int
}

// Outcome is what one call through a breaker came to.
type Outcome int

const (
	// Success closes a half-open breaker and clears the failure count.
	Success Outcome = iota
	// Failure counts toward opening; a failed probe opens the breaker again.
	Failure
	// Neutral says nothing about the target's health (the request itself was at fault,
	// or the client left); it only releases a probe.
	Neutral
)

// Breaker is one target's breaker. Its methods are safe for concurrent use.
type Breaker struct {
	cfg      Config
	onChange func(State)
	tell     func(open bool, until time.Time) // the set's Publish hook, bound to this name

	mu       sync.Mutex
	state    State
	failures int
	openedAt time.Time
	probes   int
}

// Allow asks whether a call may go to the target now. When it may not, wait says how long
// until the breaker lets a probe through. A caller that was allowed must call Done once.
func (b *Breaker) Allow(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true, 0
	case Open:
		if rest := b.cfg.CoolDown - now.Sub(b.openedAt); rest > 0 {
			return false, rest
		}
		b.set(HalfOpen)
		b.probes = 0
	}
	if b.probes >= b.cfg.HalfOpenProbes {
		return false, b.cfg.CoolDown / 10
	}
	b.probes++
	return true, 0
}

// Done records the outcome of a call that Allow let through.
func (b *Breaker) Done(o Outcome, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == HalfOpen && b.probes > 0 {
		b.probes--
	}
	switch o {
	case Success:
		b.failures = 0
		if b.state != Closed {
			b.set(Closed)
			b.share(false, time.Time{})
		}
	case Failure:
		b.failures++
		if b.state == HalfOpen || b.state == Closed && b.failures >= b.cfg.FailureThreshold {
			b.openedAt = now
			b.set(Open)
			b.share(true, now.Add(b.cfg.CoolDown))
		}
	}
}

func (b *Breaker) share(open bool, until time.Time) {
	if b.tell != nil {
		b.tell(open, until)
	}
}

// apply takes a state another replica reached: open until until, or closed. It is not
// told back to the set's Publish hook (the event came from there).
func (b *Breaker) apply(open bool, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !open {
		b.failures = 0
		if b.state != Closed {
			b.set(Closed)
		}
		return
	}
	openedAt := until.Add(-b.cfg.CoolDown)
	if b.state == Open && !openedAt.After(b.openedAt) {
		return // already open at least as long
	}
	b.openedAt = openedAt
	b.probes = 0
	if b.state != Open {
		b.set(Open)
	}
}

// State reports the state as of now: an open breaker whose cool-down has passed reports
// half_open, since the next call will probe it.
func (b *Breaker) State(now time.Time) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && now.Sub(b.openedAt) >= b.cfg.CoolDown {
		return HalfOpen
	}
	return b.state
}

func (b *Breaker) set(s State) {
	b.state = s
	if b.onChange != nil {
		b.onChange(s)
	}
}

// Set holds the breakers of every target by name. It outlives configuration reloads, so a
// reload does not forget which targets are failing.
type Set struct {
	mu       sync.Mutex
	cfg      Config
	breakers map[string]*Breaker
	onChange func(name string, s State)
	publish  atomic.Pointer[func(name string, open bool, until time.Time)]
}

// OnLocalChange sets the hook that shares this replica's breakers: f is told when a
// breaker opens here (with the end of its cool-down) and when a probe closes it, never of
// half_open (every replica reaches it at until by itself) nor of what Apply set. f runs
// with the breaker's lock held: it must be quick (hand the event to a queue) and must not
// call back into the set.
func (s *Set) OnLocalChange(f func(name string, open bool, until time.Time)) {
	s.publish.Store(&f)
}

// Apply sets a breaker to what another replica told: open until until (a breaker already
// open longer keeps its own end), or closed. Metrics and logs see it through onChange.
func (s *Set) Apply(name string, open bool, until time.Time) {
	s.Get(name).apply(open, until)
}

// NewSet returns an empty set; onChange (may be nil) is told of every state change, with
// the breaker's lock held: it must be quick and must not call back into the set.
func NewSet(onChange func(name string, s State)) *Set {
	return &Set{breakers: map[string]*Breaker{}, onChange: onChange}
}

// Configure applies cfg to every breaker, existing ones included (their state is kept).
func (s *Set) Configure(cfg Config) {
	if cfg.FailureThreshold < 1 {
		cfg.FailureThreshold = 1
	}
	if cfg.HalfOpenProbes < 1 {
		cfg.HalfOpenProbes = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = cfg
	for _, b := range s.breakers {
		b.mu.Lock()
		b.cfg = cfg
		b.mu.Unlock()
	}
}

// Get returns the breaker of a target, creating a closed one the first time.
func (s *Set) Get(name string) *Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.breakers[name]
	if !ok {
		b = &Breaker{cfg: s.cfg}
		b.tell = func(open bool, until time.Time) {
			if f := s.publish.Load(); f != nil {
				(*f)(name, open, until)
			}
		}
		if s.onChange != nil {
			b.onChange = func(st State) { s.onChange(name, st) }
		}
		s.breakers[name] = b
	}
	return b
}
