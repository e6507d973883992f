package state

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// step is one call of a limiter case, at t0+at.
type step struct {
	at   time.Duration
	take []Take  // a Take…
	want Verdict // …and its verdict
	// add, when set, is an Add on this window of n in the bucket of t0+from.
	add  string
	from time.Duration
	n    int64
	// used, when set, is a Used of this window that must say holds.
	used  string
	holds int64
}

func take(at time.Duration, want Verdict, takes ...Take) step {
	return step{at: at, take: takes, want: want}
}

func add(at, from time.Duration, window string, n int64) step {
	return step{at: at, add: window, from: from, n: n}
}

func used(at time.Duration, window string, holds int64) step {
	return step{at: at, used: window, holds: holds}
}

func allowed(remaining ...int64) Verdict {
	return Verdict{Allowed: true, Denied: -1, Remaining: remaining}
}

func denied(i int, retry time.Duration, remaining ...int64) Verdict {
	return Verdict{Denied: i, RetryAfter: retry, Remaining: remaining}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

const s = time.Second

// thirtyAt takes 30 units one at a time at `at` from a limit of 30.
func thirtyAt(at time.Duration, window string) []step {
	var steps []step
	for i := range 30 {
		steps = append(steps, take(at, allowed(int64(29-i)), Take{window, 30, 1}))
	}
	return steps
}

var limiterCases = []struct {
	name  string
	steps []step
}{
	{"thirty a minute", append(thirtyAt(0, "a"),
		take(10*s, denied(0, 50*s, 0), Take{"a", 30, 1}),
		take(59*s+ms(999), denied(0, s, 0), Take{"a", 30, 1}), // 1 ms left: at least 1 s
		take(60*s, allowed(29), Take{"a", 30, 1}),
		used(60*s, "a", 1),
	)},
	{"no double limit across a minute's boundary", []step{
		take(59*s, allowed(0), Take{"a", 30, 30}),
		take(60*s, denied(0, 59*s, 0), Take{"a", 30, 1}),       // a fixed window would allow it
		take(118*s+ms(500), denied(0, s, 0), Take{"a", 30, 1}), // 500 ms left: at least 1 s
		take(119*s, allowed(29), Take{"a", 30, 1}),
	}},
	{"partial expiry", []step{
		take(0, allowed(20), Take{"a", 30, 10}),
		take(30*s, allowed(0), Take{"a", 30, 20}),
		take(45*s, denied(0, 15*s, 0), Take{"a", 30, 1}),
		used(45*s, "a", 30),
		take(60*s, denied(0, 30*s, 10), Take{"a", 30, 11}),
		take(60*s, allowed(0), Take{"a", 30, 10}),
		used(89*s+ms(999), "a", 30),
		used(90*s, "a", 10),
	}},
	{"retry waits for enough buckets", []step{
		take(0, allowed(20), Take{"a", 30, 10}),
		take(10*s, allowed(10), Take{"a", 30, 10}),
		take(20*s, allowed(0), Take{"a", 30, 10}),
		take(30*s, denied(0, 40*s, 0), Take{"a", 30, 15}), // 15 fit when 0 s and 10 s expire
	}},
	{"all or nothing across two windows", []step{
		take(0, allowed(27, 2), Take{"a", 30, 3}, Take{"b", 5, 3}),
		take(s, denied(1, 59*s, 27, 2), Take{"a", 30, 3}, Take{"b", 5, 3}),
		used(s, "a", 3),
		take(s, allowed(24, 0), Take{"a", 30, 3}, Take{"b", 5, 2}),
		take(2*s, denied(0, 58*s, 0, 0), Take{"a", 6, 1}, Take{"b", 5, 0}),
	}},
	{"one window twice counts together", []step{
		take(0, denied(1, 60*s, 30, 30), Take{"a", 30, 20}, Take{"a", 30, 20}),
		used(0, "a", 0),
		take(0, allowed(10, 10), Take{"a", 30, 10}, Take{"a", 30, 10}),
	}},
	{"add gives back", []step{
		take(0, allowed(0), Take{"a", 30, 30}),
		add(5*s, 0, "a", -10),
		used(5*s, "a", 20),
		take(5*s, allowed(0), Take{"a", 30, 10}),
		add(6*s, 0, "a", -1000), // never below 0: the bucket of 0 s empties
		used(6*s, "a", 10),
		take(6*s, allowed(0), Take{"a", 30, 20}),
	}},
	{"add corrects the bucket of the take", []step{
		take(75*s, allowed(25), Take{"a", 30, 5}),
		add(80*s, 75*s, "a", 7), // the real usage was 12
		used(80*s, "a", 12),
		take(80*s, denied(0, 55*s, 18), Take{"a", 30, 20}),
		used(134*s+ms(999), "a", 12),
		used(135*s, "a", 0),        // 60 s after the take, not after the correction
		add(200*s, 75*s, "a", -12), // out of the window: nothing
		add(200*s, 75*s, "b", 5),
		used(200*s, "b", 0),
	}},
	{"n over the limit never fits", []step{
		take(0, denied(0, 60*s, 30), Take{"a", 30, 31}),
		take(0, denied(1, 60*s, 30, 0), Take{"b", 30, 1}, Take{"c", 0, 1}),
		used(0, "b", 0),
	}},
	{"an idle window holds nothing", []step{
		take(0, allowed(25), Take{"a", 30, 5}),
		used(200*s, "a", 0),
		take(200*s, allowed(0), Take{"a", 30, 30}),
	}},
	{"nothing to take", []step{
		take(0, allowed()),
	}},
}

// testLimiter runs every limiter case on a new limiter from newLimiter, each case on
// windows of its own.
func testLimiter(t *testing.T, newLimiter func(t *testing.T) Limiter) {
	ctx := context.Background()
	for _, c := range limiterCases {
		t.Run(c.name, func(t *testing.T) {
			l := newLimiter(t)
			w := func(name string) string { return "{" + c.name + "}:" + name }
			for i, st := range c.steps {
				now := t0.Add(st.at)
				switch {
				case st.add != "":
					if err := l.Add(ctx, t0.Add(st.from), now, w(st.add), st.n); err != nil {
						t.Fatalf("step %d: add: %v", i, err)
					}
				case st.used != "":
					n, err := l.Used(ctx, now, w(st.used))
					if err != nil {
						t.Fatalf("step %d: used: %v", i, err)
					}
					if n != st.holds {
						t.Fatalf("step %d: at %v %s holds %d, want %d", i, st.at, st.used, n, st.holds)
					}
				default:
					takes := make([]Take, len(st.take))
					for k, tk := range st.take {
						takes[k] = Take{Window: w(tk.Window), Limit: tk.Limit, N: tk.N}
					}
					v, err := l.Take(ctx, now, takes)
					if err != nil {
						t.Fatalf("step %d: take: %v", i, err)
					}
					if st.want.Remaining == nil {
						st.want.Remaining = []int64{}
					}
					if !reflect.DeepEqual(v, st.want) {
						t.Fatalf("step %d: at %v take %v:\n got %+v\nwant %+v", i, st.at, st.take, v, st.want)
					}
				}
			}
		})
	}
}

func TestLimiterLocal(t *testing.T) {
	testLimiter(t, func(t *testing.T) Limiter { return NewLocal(LocalOptions{}) })
}

func TestLimiterRedis(t *testing.T) {
	_, r := startRedis(t)
	testLimiter(t, func(t *testing.T) Limiter { return r })
}

func TestLimiterRefusesNegative(t *testing.T) {
	_, r := startRedis(t)
	for name, l := range map[string]Limiter{"local": NewLocal(LocalOptions{}), "redis": r} {
		if _, err := l.Take(context.Background(), t0, []Take{{"a", 10, -1}}); err == nil {
			t.Errorf("%s: a negative n was taken", name)
		}
	}
}

// testOneLimit has 90 concurrent takes of one unit from three limiters on one limit of
// 30: exactly 30 get through.
func testOneLimit(t *testing.T, ls ...Limiter) {
	const window = "{one}:rpm"
	now := time.Now()
	var mu sync.Mutex
	got := 0
	var wg sync.WaitGroup
	for i := range 90 {
		l := ls[i%len(ls)]
		wg.Go(func() {
			v, err := l.Take(context.Background(), now, []Take{{window, 30, 1}})
			if err != nil {
				t.Error(err)
				return
			}
			if v.Allowed {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != 30 {
		t.Fatalf("%d takes allowed, want 30", got)
	}
	for _, l := range ls {
		if n, err := l.Used(context.Background(), now, window); err != nil || n != 30 {
			t.Fatalf("used %d (%v), want 30", n, err)
		}
	}
}

func TestOneLimitAcrossRedisClients(t *testing.T) {
	srv, a := startRedis(t)
	b := openTestRedis(t, srv.URL, RedisOptions{Prefix: a.o.Prefix})
	c := openTestRedis(t, srv.URL, RedisOptions{Prefix: a.o.Prefix})
	testOneLimit(t, a, b, c)
}

func TestOneLimitLocalConcurrent(t *testing.T) {
	testOneLimit(t, NewLocal(LocalOptions{}))
}

// TestLocalForgetsIdleWindows checks that windows untouched for a minute leave the map.
func TestLocalForgetsIdleWindows(t *testing.T) {
	l := NewLocal(LocalOptions{})
	ctx := context.Background()
	for i := range 1000 {
		_, _ = l.Take(ctx, t0, []Take{{Window: string(rune('a'+i%26)) + string(rune(i)), Limit: 10, N: 1}})
	}
	count := func() int {
		n := 0
		for i := range l.lim.shards {
			sh := &l.lim.shards[i]
			sh.mu.Lock()
			n += len(sh.windows)
			sh.mu.Unlock()
		}
		return n
	}
	if n := count(); n != 1000 {
		t.Fatalf("%d windows, want 1000", n)
	}
	// Touching each shard a minute and a bit later sweeps it.
	later := t0.Add(61 * time.Second)
	for i := range 4000 {
		_, _ = l.Take(ctx, later, []Take{{Window: "new" + string(rune(i)), Limit: 10, N: 1}})
	}
	if n := count(); n != 4000 {
		t.Fatalf("%d windows after the sweep, want only the 4000 new ones", n)
	}
}

// TestRedisMatchesLocal runs one random sequence of takes and corrections, on a clock
// that moves forward by random steps (within a second, or past the whole window), through
// Local and Redis: every verdict and every Used must agree. (A clock going back is where
// they may differ: Local's ring follows one process's clock.) Redis keeps a running
// sum and a bound of the oldest bucket beside the buckets (take.lua); Local recomputes
// from its ring, so a drift in that bookkeeping shows here.
func TestRedisMatchesLocal(t *testing.T) {
	_, r := startRedis(t)
	l := NewLocal(LocalOptions{})
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(7, 12))
	now := t0
	var past []time.Time // times of allowed takes, for corrections
	windows := []string{"{m}:rpm", "{m}:tpm"}
	for i := range 3000 {
		switch k := rnd.IntN(20); {
		case k < 14:
			now = now.Add(time.Duration(rnd.IntN(400)) * time.Millisecond)
		case k < 15:
			now = now.Add(time.Duration(20+rnd.IntN(50)) * time.Second)
		}
		if rnd.IntN(4) == 0 && len(past) > 0 {
			at := past[rnd.IntN(len(past))]
			n := int64(rnd.IntN(60) - 40)
			w := windows[rnd.IntN(2)]
			if err := l.Add(ctx, at, now, w, n); err != nil {
				t.Fatal(err)
			}
			if err := r.Add(ctx, at, now, w, n); err != nil {
				t.Fatal(err)
			}
		} else {
			takes := []Take{{windows[0], 40, 1}, {windows[1], 900, int64(rnd.IntN(80))}}
			lv, err1 := l.Take(ctx, now, takes)
			rv, err2 := r.Take(ctx, now, takes)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if lv.Allowed != rv.Allowed || lv.Denied != rv.Denied || lv.RetryAfter != rv.RetryAfter ||
				!slices.Equal(lv.Remaining, rv.Remaining) {
				t.Fatalf("step %d at %s: local %+v, redis %+v", i, now.Format(time.StampMilli), lv, rv)
			}
			if lv.Allowed {
				past = append(past, now)
			}
		}
		for _, w := range windows {
			lu, _ := l.Used(ctx, now, w)
			ru, err := r.Used(ctx, now, w)
			if err != nil || lu != ru {
				t.Fatalf("step %d at %s: %s used local %d, redis %d (%v)", i, now.Format(time.StampMilli), w, lu, ru, err)
			}
		}
	}
}
