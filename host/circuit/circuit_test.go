package circuit

import (
	"sync"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cfg := Config{FailureThreshold: 3, CoolDown: 10 * time.Second, HalfOpenProbes: 1}
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, b *Breaker)
	}{
		{"opens after threshold failures in a row", func(t *testing.T, b *Breaker) {
			for i := 0; i < 2; i++ {
				mustAllow(t, b, t0)
				b.Done(Failure, t0)
			}
			if b.State(t0) != Closed {
				t.Fatal("opened before the threshold")
			}
			mustAllow(t, b, t0)
			b.Done(Failure, t0)
			if ok, wait := b.Allow(t0.Add(time.Second)); ok || wait != 9*time.Second {
				t.Fatalf("allow %v wait %s, want refused for the rest of the cool-down", ok, wait)
			}
			if b.State(t0) != Open {
				t.Fatalf("state %s", b.State(t0))
			}
		}},
		{"a success in between resets the count", func(t *testing.T, b *Breaker) {
			for _, o := range []Outcome{Failure, Failure, Success, Failure, Failure} {
				mustAllow(t, b, t0)
				b.Done(o, t0)
			}
			if b.State(t0) != Closed {
				t.Fatal("opened although failures were not in a row")
			}
		}},
		{"neutral outcomes do not count", func(t *testing.T, b *Breaker) {
			for i := 0; i < 10; i++ {
				mustAllow(t, b, t0)
				b.Done(Neutral, t0)
			}
			if b.State(t0) != Closed {
				t.Fatal("neutral outcomes opened the breaker")
			}
		}},
		{"half-open lets one probe through and closes on success", func(t *testing.T, b *Breaker) {
			open(t, b, t0)
			later := t0.Add(11 * time.Second)
			if b.State(later) != HalfOpen {
				t.Fatalf("state after cool-down %s, want half_open", b.State(later))
			}
			mustAllow(t, b, later)
			if ok, _ := b.Allow(later); ok {
				t.Fatal("a second probe was let through at once")
			}
			b.Done(Success, later)
			if b.State(later) != Closed {
				t.Fatalf("state %s after a good probe", b.State(later))
			}
			mustAllow(t, b, later)
		}},
		{"a failed probe opens again for a full cool-down", func(t *testing.T, b *Breaker) {
			open(t, b, t0)
			later := t0.Add(11 * time.Second)
			mustAllow(t, b, later)
			b.Done(Failure, later)
			if ok, wait := b.Allow(later.Add(time.Second)); ok || wait != 9*time.Second {
				t.Fatalf("allow %v wait %s after a failed probe", ok, wait)
			}
		}},
		{"a neutral probe frees the probe slot", func(t *testing.T, b *Breaker) {
			open(t, b, t0)
			later := t0.Add(11 * time.Second)
			mustAllow(t, b, later)
			b.Done(Neutral, later)
			mustAllow(t, b, later)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSet(nil)
			s.Configure(cfg)
			tc.steps(t, s.Get("x"))
		})
	}
}

func mustAllow(t *testing.T, b *Breaker, now time.Time) {
	t.Helper()
	if ok, _ := b.Allow(now); !ok {
		t.Fatalf("refused in state %s", b.State(now))
	}
}

func open(t *testing.T, b *Breaker, now time.Time) {
	t.Helper()
	for i := 0; i < 3; i++ {
		mustAllow(t, b, now)
		b.Done(Failure, now)
	}
}

func TestSetNotifiesAndKeepsState(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	s := NewSet(func(name string, st State) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, name+"="+st.String())
	})
	s.Configure(Config{FailureThreshold: 1, CoolDown: time.Minute})
	b := s.Get("a")
	now := time.Now()
	mustAllow(t, b, now)
	b.Done(Failure, now)
	s.Configure(Config{FailureThreshold: 5, CoolDown: time.Minute}) // a reload
	if s.Get("a") != b || b.State(now) != Open {
		t.Fatal("a reload lost the breaker's state")
	}
	if len(seen) != 1 || seen[0] != "a=open" {
		t.Fatalf("notifications %v", seen)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := NewSet(nil)
	s.Configure(Config{FailureThreshold: 3, CoolDown: time.Millisecond, HalfOpenProbes: 2})
	b := s.Get("x")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				now := time.Now()
				if ok, _ := b.Allow(now); ok {
					b.Done(Outcome((g+i)%3), now)
				}
			}
		}(g)
	}
	wg.Wait()
}
