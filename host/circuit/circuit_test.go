package circuit

import (
	"runtime"
	"sync"
	"sync/atomic"
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

// TestConcurrentUse drives one breaker from 8 goroutines (run with -race) on a virtual
// clock that advances with every call, so the breaker opens, probes and closes many times
// whatever the interleaving. It checks that every state change is one the state machine
// allows, that the probes in flight never exceed HalfOpenProbes, that no probe is leaked
// (once every call is done none is counted, and the breaker lets a call through again),
// and that the state it reports is the last one it announced.
func TestConcurrentUse(t *testing.T) {
	const probes = 2
	legal := map[[2]State]bool{
		{Closed, Open}: true, {Open, HalfOpen}: true, {HalfOpen, Closed}: true, {HalfOpen, Open}: true,
		// A call let through before the breaker opened may succeed after: it closes it.
		{Open, Closed}: true,
	}
	var mu sync.Mutex
	last := Closed
	var illegal []string
	seen := map[[2]State]int{}
	s := NewSet(func(_ string, st State) { // called with the breaker's lock held: in order
		mu.Lock()
		defer mu.Unlock()
		tr := [2]State{last, st}
		if !legal[tr] {
			illegal = append(illegal, last.String()+"->"+st.String())
		}
		seen[tr]++
		last = st
	})
	// A cool-down of 37 calls, prime to the 10-call pattern below, so probes meet
	// successes and failures alike.
	const tick = time.Microsecond
	s.Configure(Config{FailureThreshold: 3, CoolDown: 37 * tick, HalfOpenProbes: probes})
	b := s.Get("x")
	t0 := time.Unix(1000, 0)
	var clock atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(clock.Add(int64(tick)))) }

	var tooMany atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				at := now()
				ok, _ := b.Allow(at)
				if !ok {
					continue
				}
				b.mu.Lock()
				if b.probes > probes {
					tooMany.Add(1)
				}
				b.mu.Unlock()
				if i%4 == 0 {
					runtime.Gosched() // keep the call in flight while others run
				}
				// In each goroutine: five failures, two neutral outcomes, three successes.
				o := Success
				switch (g + i) % 10 {
				case 0, 1, 2, 3, 4:
					o = Failure
				case 5, 6:
					o = Neutral
				}
				b.Done(o, at)
			}
		}()
	}
	wg.Wait()

	mu.Lock() // the final Allow below notifies too: check what was seen, then let go
	defer func() {
		if t.Failed() {
			t.Logf("state changes seen: %v", seen)
		}
	}()
	if len(illegal) > 0 {
		t.Errorf("illegal state changes: %v", illegal)
	}
	if n := tooMany.Load(); n > 0 {
		t.Errorf("%d times more than %d probes were in flight", n, probes)
	}
	for _, tr := range [][2]State{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Closed}, {HalfOpen, Open}} {
		if seen[tr] == 0 {
			t.Errorf("the run never changed %s to %s: it did not exercise the breaker", tr[0], tr[1])
		}
	}
	lastSeen := last
	mu.Unlock()
	b.mu.Lock()
	leaked, state := b.probes, b.state
	b.mu.Unlock()
	if leaked != 0 && state == HalfOpen {
		t.Errorf("%d probes still counted after every call was done", leaked)
	}
	if state != lastSeen {
		t.Errorf("the breaker is %s, its last notification said %s", state, lastSeen)
	}
	later := now().Add(time.Minute)
	if ok, _ := b.Allow(later); !ok {
		t.Errorf("after the cool-down, a %s breaker lets no call through", b.State(later))
	}
}

// shared is what one Set told its OnLocalChange hook.
type shared struct {
	name  string
	open  bool
	until time.Time
}

func TestSetSharesLocalChangesOnly(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var got []shared
	var states []State
	s := NewSet(func(_ string, st State) { states = append(states, st) })
	s.Configure(Config{FailureThreshold: 3, CoolDown: 10 * time.Second, HalfOpenProbes: 1})
	s.OnLocalChange(func(name string, open bool, until time.Time) { got = append(got, shared{name, open, until}) })
	b := s.Get("p/m")

	open(t, b, t0)
	later := t0.Add(11 * time.Second)
	mustAllow(t, b, later) // half_open: not shared
	b.Done(Success, later)
	want := []shared{{"p/m", true, t0.Add(10 * time.Second)}, {"p/m", false, time.Time{}}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("shared %v, want %v", got, want)
	}

	// What another replica told is applied but never told back.
	got = nil
	until := later.Add(30 * time.Second)
	s.Apply("p/m", true, until)
	if b.State(later) != Open {
		t.Fatalf("state after a remote open %s", b.State(later))
	}
	if ok, wait := b.Allow(later); ok || wait != 30*time.Second {
		t.Fatalf("allow %v wait %s, want refused until the remote until", ok, wait)
	}
	s.Apply("p/m", true, later.Add(time.Second)) // an earlier end does not shorten it
	if _, wait := b.Allow(later); wait != 30*time.Second {
		t.Fatalf("an earlier remote until shortened the cool-down to %s", wait)
	}
	s.Apply("p/m", false, time.Time{})
	if b.State(later) != Closed {
		t.Fatalf("state after a remote close %s", b.State(later))
	}
	s.Apply("other/m", true, until) // a breaker this replica never used
	if s.Get("other/m").State(later) != Open {
		t.Fatal("a remote open on an unused breaker was lost")
	}
	if len(got) != 0 {
		t.Fatalf("remote changes were told back: %v", got)
	}
	wantStates := []State{Open, HalfOpen, Closed, Open, Closed, Open}
	if len(states) != len(wantStates) {
		t.Fatalf("onChange saw %v, want %v", states, wantStates)
	}
	for i := range states {
		if states[i] != wantStates[i] {
			t.Fatalf("onChange saw %v, want %v", states, wantStates)
		}
	}
}
