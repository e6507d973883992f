package admission

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu    sync.Mutex
	depth int
	shed  [MaxPriority + 1]int
}

func (r *recorder) AdmissionQueueDepth(n int) { r.mu.Lock(); r.depth = n; r.mu.Unlock() }
func (r *recorder) AdmissionShed(p int)       { r.mu.Lock(); r.shed[p]++; r.mu.Unlock() }

func (r *recorder) snapshot() (int, [MaxPriority + 1]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.depth, r.shed
}

// result is what one Acquire in a goroutine returned.
type result struct {
	name string
	err  error
}

// patience bounds every wait for another goroutine: generous, since a loaded machine can
// hold a goroutine back for a long while; a passing test never waits for it.
const patience = 30 * time.Second

// queue starts Acquire(priority) in a goroutine and waits until it is queued.
func queue(t *testing.T, c *Controller, ctx context.Context, name string, priority int, out chan<- result) {
	t.Helper()
	_, before := c.Stats()
	go func() { out <- result{name, c.Acquire(ctx, priority)} }()
	deadline := time.Now().Add(patience)
	for {
		if _, q := c.Stats(); q > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not queued", name)
		}
		time.Sleep(time.Millisecond) // polling: Acquire tells nobody it has queued
	}
}

func next(t *testing.T, out <-chan result) result {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(patience):
		t.Fatal("no Acquire returned")
		return result{}
	}
}

// waiting checks that n requests still wait and none has returned. A slot is handed over,
// and a waiter shed, under the Controller's lock, so the queue's length says at once
// whether one left: no grace period is needed to see that nothing happened.
func waiting(t *testing.T, c *Controller, out <-chan result, n int) {
	t.Helper()
	if _, q := c.Stats(); q != n {
		t.Fatalf("%d requests queued, want %d still waiting", q, n)
	}
	select {
	case r := <-out:
		t.Fatalf("%s returned %v, want it still waiting", r.name, r.err)
	default:
	}
}

// fakeTimers is the queue timeout's clock in tests: a timer fires only when the test says.
type fakeTimers struct {
	mu      sync.Mutex
	timers  []*fakeTimer
	started chan time.Duration // the duration of each timer started
}

type fakeTimer struct {
	c    chan time.Time
	done bool // fired or stopped
}

func useFakeTimers(c *Controller) *fakeTimers {
	f := &fakeTimers{started: make(chan time.Duration, 64)}
	c.newTimer = f.newTimer
	return f
}

func (f *fakeTimers) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	tm := &fakeTimer{c: make(chan time.Time, 1)}
	f.mu.Lock()
	f.timers = append(f.timers, tm)
	f.mu.Unlock()
	f.started <- d
	return tm.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !tm.done
		tm.done = true
		return was
	}
}

// waitStarted waits for the next timer to be started and returns its duration.
func (f *fakeTimers) waitStarted(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.started:
		return d
	case <-time.After(patience):
		t.Fatal("no queue timeout was started")
		return 0
	}
}

// fire fires every timer neither fired nor stopped, and returns how many it fired.
func (f *fakeTimers) fire() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, tm := range f.timers {
		if !tm.done {
			tm.done = true
			tm.c <- time.Time{}
			n++
		}
	}
	return n
}

func TestAdmissionOrdering(t *testing.T) {
	for _, tc := range []struct {
		name string
		// waiters, in the order they arrive: name and priority
		waiters []struct {
			name string
			prio int
		}
		want []string // the order in which freed slots reach them
	}{
		{"highest priority first", []struct {
			name string
			prio int
		}{{"low", 1}, {"mid", 5}, {"high", 10}}, []string{"high", "mid", "low"}},
		{"FIFO within a priority", []struct {
			name string
			prio int
		}{{"a", 5}, {"b", 5}, {"c", 5}}, []string{"a", "b", "c"}},
		{"mixed", []struct {
			name string
			prio int
		}{{"a3", 3}, {"b7", 7}, {"c3", 3}, {"d7", 7}, {"e9", 9}}, []string{"e9", "b7", "d7", "a3", "c3"}},
		{"out of range is clamped", []struct {
			name string
			prio int
		}{{"zero", 0}, {"eleven", 11}, {"one", 1}}, []string{"eleven", "zero", "one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Limits{MaxInflight: 1, MaxQueue: 10, QueueTimeout: time.Minute}, nil)
			if err := c.Acquire(context.Background(), 5); err != nil {
				t.Fatal(err)
			}
			out := make(chan result, len(tc.waiters))
			for _, w := range tc.waiters {
				queue(t, c, context.Background(), w.name, w.prio, out)
			}
			for i, want := range tc.want {
				waiting(t, c, out, len(tc.want)-i)
				c.Release()
				r := next(t, out)
				if r.err != nil || r.name != want {
					t.Fatalf("got %s (%v), want %s", r.name, r.err, want)
				}
			}
			c.Release()
			if in, q := c.Stats(); in != 0 || q != 0 {
				t.Fatalf("inflight %d queued %d after all released", in, q)
			}
		})
	}
}

func TestAdmissionShedsLowestFirst(t *testing.T) {
	for _, tc := range []struct {
		name       string
		queued     []int // priorities already waiting, in arrival order
		newcomer   int
		wantShed   string // "newcomer" or the index of the displaced waiter
		wantShedPr int
	}{
		{"newcomer more important displaces the lowest", []int{5, 2, 8}, 9, "1", 2},
		{"newcomer equal to the lowest is shed", []int{5, 2, 8}, 2, "newcomer", 2},
		{"newcomer less important is shed", []int{5, 3, 8}, 1, "newcomer", 1},
		{"the most recent of the lowest goes", []int{2, 2, 2}, 6, "2", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			c := New(Limits{MaxInflight: 1, MaxQueue: len(tc.queued), QueueTimeout: time.Minute}, rec)
			if err := c.Acquire(context.Background(), 5); err != nil {
				t.Fatal(err)
			}
			out := make(chan result, 8)
			for i, p := range tc.queued {
				queue(t, c, context.Background(), string(rune('0'+i)), p, out)
			}
			if tc.wantShed == "newcomer" {
				if err := c.Acquire(context.Background(), tc.newcomer); !errors.Is(err, ErrShed) || !errors.Is(err, ErrQueueFull) {
					t.Fatalf("newcomer got %v, want shed (queue full)", err)
				}
				waiting(t, c, out, len(tc.queued))
			} else {
				go func() { out <- result{"newcomer", c.Acquire(context.Background(), tc.newcomer)} }()
				r := next(t, out)
				if r.name != tc.wantShed || !errors.Is(r.err, ErrShed) || !errors.Is(r.err, ErrDisplaced) {
					t.Fatalf("got %s %v, want %s displaced", r.name, r.err, tc.wantShed)
				}
				c.Release() // the newcomer is the most important: it gets the slot
				if r := next(t, out); r.name != "newcomer" || r.err != nil {
					t.Fatalf("got %s %v, want newcomer admitted", r.name, r.err)
				}
			}
			depth, shed := rec.snapshot()
			if shed[tc.wantShedPr] != 1 || depth != len(tc.queued)-btoi(tc.wantShed != "newcomer") {
				t.Fatalf("shed counts %v depth %d", shed, depth)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAdmissionNoQueue(t *testing.T) {
	c := New(Limits{MaxInflight: 2, MaxQueue: 0, QueueTimeout: time.Minute}, nil)
	for range 2 {
		if err := c.Acquire(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Acquire(context.Background(), 10); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("got %v, want shed at once", err)
	}
}

func TestAdmissionQueueTimeout(t *testing.T) {
	rec := &recorder{}
	c := New(Limits{MaxInflight: 1, MaxQueue: 4, QueueTimeout: 50 * time.Millisecond}, rec)
	clock := useFakeTimers(c)
	if err := c.Acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	out := make(chan result, 2)
	queue(t, c, context.Background(), "late", 7, out)
	if d := clock.waitStarted(t); d != 50*time.Millisecond {
		t.Fatalf("queue timeout of %s, want the limit's 50ms", d)
	}
	waiting(t, c, out, 1) // not shed before its timeout
	if clock.fire() != 1 {
		t.Fatal("the waiter's timer was not running")
	}
	if r := next(t, out); !errors.Is(r.err, ErrShed) || !errors.Is(r.err, ErrQueueTimeout) {
		t.Fatalf("got %v, want shed (queue timeout)", r.err)
	}
	depth, shed := rec.snapshot()
	if depth != 0 || shed[7] != 1 {
		t.Errorf("depth %d shed %v, want 0 and one shed at priority 7", depth, shed)
	}

	// A waiter admitted in time stops its timer, which then never fires.
	queue(t, c, context.Background(), "in time", 3, out)
	clock.waitStarted(t)
	c.Release()
	if r := next(t, out); r.name != "in time" || r.err != nil {
		t.Fatalf("got %s %v, want in time admitted", r.name, r.err)
	}
	if n := clock.fire(); n != 0 {
		t.Errorf("%d timers still running after the waiter was admitted", n)
	}
	c.Release()
	if in, q := c.Stats(); in != 0 || q != 0 {
		t.Fatalf("inflight %d queued %d", in, q)
	}
}

// TestAdmissionNoQueueTimeout: without a queue timeout no timer runs; only the context
// ends the wait.
func TestAdmissionNoQueueTimeout(t *testing.T) {
	c := New(Limits{MaxInflight: 1, MaxQueue: 1}, nil)
	clock := useFakeTimers(c)
	if err := c.Acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result, 1)
	queue(t, c, ctx, "patient", 5, out)
	cancel()
	if r := next(t, out); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", r.err)
	}
	select {
	case d := <-clock.started:
		t.Errorf("a %s timer was started without a queue timeout", d)
	default:
	}
}

func TestAdmissionClientGone(t *testing.T) {
	rec := &recorder{}
	c := New(Limits{MaxInflight: 1, MaxQueue: 4, QueueTimeout: time.Minute}, rec)
	if err := c.Acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result, 2)
	queue(t, c, ctx, "gone", 9, out)
	queue(t, c, context.Background(), "stays", 1, out)
	cancel()
	if r := next(t, out); r.name != "gone" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %s %v, want gone with context.Canceled", r.name, r.err)
	}
	if _, q := c.Stats(); q != 1 {
		t.Fatalf("queued %d, want 1", q)
	}
	c.Release()
	if r := next(t, out); r.name != "stays" || r.err != nil {
		t.Fatalf("got %s %v, want stays admitted", r.name, r.err)
	}
	_, shed := rec.snapshot()
	if shed != [MaxPriority + 1]int{} {
		t.Errorf("a client that left was counted as shed: %v", shed)
	}
	c.Release()
	if in, q := c.Stats(); in != 0 || q != 0 {
		t.Fatalf("inflight %d queued %d", in, q)
	}
}

func TestAdmissionSetLimits(t *testing.T) {
	rec := &recorder{}
	c := New(Limits{MaxInflight: 1, MaxQueue: 3, QueueTimeout: time.Minute}, rec)
	if err := c.Acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	out := make(chan result, 3)
	queue(t, c, context.Background(), "p2", 2, out)
	queue(t, c, context.Background(), "p9", 9, out)
	queue(t, c, context.Background(), "p4", 4, out)
	c.SetLimits(Limits{MaxInflight: 2, MaxQueue: 1, QueueTimeout: time.Minute})
	got := map[string]error{}
	for range 2 {
		r := next(t, out)
		got[r.name] = r.err
	}
	if got["p9"] != nil || !errors.Is(got["p2"], ErrDisplaced) {
		t.Fatalf("got %v, want p9 admitted and p2 shed", got)
	}
	if in, q := c.Stats(); in != 2 || q != 1 {
		t.Fatalf("inflight %d queued %d, want 2 and 1", in, q)
	}
	// Shrinking below what is held: releases do not hand slots on until under the limit.
	c.SetLimits(Limits{MaxInflight: 1, MaxQueue: 1, QueueTimeout: time.Minute})
	c.Release()
	waiting(t, c, out, 1)
	c.Release()
	if r := next(t, out); r.name != "p4" || r.err != nil {
		t.Fatalf("got %s %v, want p4 admitted", r.name, r.err)
	}
	c.Release()
	if in, q := c.Stats(); in != 0 || q != 0 {
		t.Fatalf("inflight %d queued %d", in, q)
	}
}

// TestAdmissionConcurrency hammers the controller (run with -race): the number of holders
// never exceeds the limit, every admitted request is released, and the books balance.
func TestAdmissionConcurrency(t *testing.T) {
	const limit = 4
	rec := &recorder{}
	c := New(Limits{MaxInflight: limit, MaxQueue: 8, QueueTimeout: 20 * time.Millisecond}, rec)
	var holders, peak, admitted, shed, gone atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				if (g+i)%17 == 0 {
					go cancel()
				}
				err := c.Acquire(ctx, 1+(g+i)%10)
				cancel()
				switch {
				case err == nil:
					admitted.Add(1)
					n := holders.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					if i%3 == 0 {
						time.Sleep(50 * time.Microsecond)
					}
					holders.Add(-1)
					c.Release()
				case errors.Is(err, ErrShed):
					shed.Add(1)
				case errors.Is(err, context.Canceled):
					gone.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("%d holders at once, limit %d", p, limit)
	}
	if in, q := c.Stats(); in != 0 || q != 0 {
		t.Errorf("inflight %d queued %d after everything finished", in, q)
	}
	depth, counted := rec.snapshot()
	total := 0
	for _, n := range counted {
		total += n
	}
	if depth != 0 || int64(total) != shed.Load() {
		t.Errorf("observer depth %d sheds %d, want 0 and %d", depth, total, shed.Load())
	}
	if admitted.Load()+shed.Load()+gone.Load() != 64*200 {
		t.Errorf("admitted %d + shed %d + gone %d != %d", admitted.Load(), shed.Load(), gone.Load(), 64*200)
	}
	t.Logf("admitted %d, shed %d, gone %d, peak %d", admitted.Load(), shed.Load(), gone.Load(), peak.Load())
}

// BenchmarkAcquireRelease is the fast path: a slot is free.
func BenchmarkAcquireRelease(b *testing.B) {
	c := New(Limits{MaxInflight: 1024, MaxQueue: 1024, QueueTimeout: time.Second}, &recorder{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Acquire(ctx, 5); err != nil {
			b.Fatal(err)
		}
		c.Release()
	}
}

// BenchmarkAcquireReleaseParallel is the fast path under contention for the lock.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	c := New(Limits{MaxInflight: 1 << 20, MaxQueue: 1024, QueueTimeout: time.Second}, &recorder{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Acquire(ctx, 5); err != nil {
				b.Error(err)
				return
			}
			c.Release()
		}
	})
}
