package state

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-llm/switchyard/host/internal/testservers"
)

// ---- Spend ----

// testSpend checks what Local and Redis share of Spend's contract.
func testSpend(t *testing.T, sp Spend) {
	ctx := context.Background()
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if v, err := sp.Spent(ctx, "absent"); err != nil || v != 0 {
		t.Fatalf("absent counter: %v, %v; want 0", v, err)
	}
	for _, c := range []struct {
		usd, total float64
	}{{1.25, 1.25}, {0.5, 1.75}, {0.1, 1.85}, {0.000001, 1.850001}} {
		if v, err := sp.AddSpend(ctx, "team-a:day:2030-01-01", c.usd, time.Hour); err != nil || !near(v, c.total) {
			t.Fatalf("add %v: %v, %v; want %v", c.usd, v, err, c.total)
		}
	}
	if v, err := sp.Spent(ctx, "team-a:day:2030-01-01"); err != nil || !near(v, 1.850001) {
		t.Fatalf("spent %v, %v; want 1.850001", v, err)
	}
	// Seed: only when absent; the first one wins.
	if err := sp.Seed(ctx, "team-a:day:2030-01-01", 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, _ := sp.Spent(ctx, "team-a:day:2030-01-01"); !near(v, 1.850001) {
		t.Fatalf("a seed overwrote a counter: %v", v)
	}
	if err := sp.Seed(ctx, "team-b:total", 10, 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.Seed(ctx, "team-b:total", 20, 0); err != nil {
		t.Fatal(err)
	}
	if v, err := sp.AddSpend(ctx, "team-b:total", 2.5, 0); err != nil || !near(v, 12.5) {
		t.Fatalf("add after seed: %v, %v; want 12.5", v, err)
	}
}

func TestSpendLocal(t *testing.T) {
	testSpend(t, NewLocal(LocalOptions{}))

	ctx := context.Background()
	clock := newFakeClock(t0)
	l := NewLocal(LocalOptions{Now: clock.Now})
	_, _ = l.AddSpend(ctx, "day", 1, time.Hour)
	_, _ = l.AddSpend(ctx, "total", 1, 0)
	_ = l.Seed(ctx, "seeded", 5, 2*time.Hour)
	clock.Advance(59 * time.Minute)
	if v, _ := l.AddSpend(ctx, "day", 1, time.Hour); v != 2 {
		t.Fatalf("day: %v, want 2", v)
	}
	clock.Advance(time.Minute) // an hour after creation, not after the last add
	if v, _ := l.Spent(ctx, "day"); v != 0 {
		t.Fatalf("day after its ttl: %v, want 0", v)
	}
	if v, _ := l.AddSpend(ctx, "day", 3, time.Hour); v != 3 {
		t.Fatalf("day made again: %v, want 3", v)
	}
	if v, _ := l.Spent(ctx, "seeded"); v != 5 {
		t.Fatalf("seeded before its ttl: %v, want 5", v)
	}
	clock.Advance(time.Hour)
	if v, _ := l.Spent(ctx, "seeded"); v != 0 {
		t.Fatalf("seeded after its ttl: %v, want 0", v)
	}
	clock.Advance(1000 * time.Hour)
	if v, _ := l.Spent(ctx, "total"); v != 1 {
		t.Fatalf("total (ttl 0): %v, want 1", v)
	}
	if v, _ := l.AddSpend(ctx, "x", 1, time.Hour); v != 1 { // sweeps the expired ones
		t.Fatalf("x: %v", v)
	}
	l.spend.mu.Lock()
	n := len(l.spend.m)
	l.spend.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d counters kept, want 2 (total and x)", n)
	}
}

func TestSpendRedis(t *testing.T) {
	srv, r := startRedis(t)
	testSpend(t, r)

	ctx := context.Background()
	raw := rawClient(t, srv)
	pttl := func(counter string) time.Duration {
		t.Helper()
		n, err := raw.Do(ctx, "PTTL", r.spendKey(counter)).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(n) * time.Millisecond
	}
	if _, err := r.AddSpend(ctx, "day", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := pttl("day"); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("a new counter expires in %v, want about 1h", d)
	}
	if _, err := r.AddSpend(ctx, "day", 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := pttl("day"); d <= 59*time.Minute {
		t.Fatalf("a later add changed the expiry to %v", d)
	}
	_, _ = r.AddSpend(ctx, "total", 1, 0)
	_ = r.Seed(ctx, "total-seeded", 1, 0)
	for _, c := range []string{"total", "total-seeded"} {
		if d := pttl(c); d != -time.Millisecond {
			t.Fatalf("%s (ttl 0) expires in %v, want never (-1)", c, d)
		}
	}
	_ = r.Seed(ctx, "seeded", 1, time.Hour)
	if d := pttl("seeded"); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("a seeded counter expires in %v, want about 1h", d)
	}
	// The expiry really happens.
	_, _ = r.AddSpend(ctx, "short", 1, 50*time.Millisecond)
	eventually(t, "a counter of ttl 50ms expires", func() bool {
		v, err := r.Spent(ctx, "short")
		return err == nil && v == 0
	})
}

// rawClient is a go-redis client of srv, to look at keys directly.
func rawClient(t testing.TB, srv *testservers.Redis) *redis.Client {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ---- Cache ----

func testCacheRoundTrip(t *testing.T, c Cache) {
	ctx := context.Background()
	if _, ok, err := c.Get(ctx, "absent"); ok || err != nil {
		t.Fatalf("absent: %v, %v", ok, err)
	}
	v := []byte(`{"choices":[]}`)
	if err := c.Set(ctx, "k", v, time.Hour); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the cache holds its own copy
	got, ok, err := c.Get(ctx, "k")
	if err != nil || !ok || string(got) != `{"choices":[]}` {
		t.Fatalf("get: %q, %v, %v", got, ok, err)
	}
	got[0] = 'Y'
	if again, _, _ := c.Get(ctx, "k"); string(again) != `{"choices":[]}` {
		t.Fatalf("a caller changed the entry: %q", again)
	}
	if err := c.Set(ctx, "k", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := c.Get(ctx, "k"); !ok || string(got) != "new" {
		t.Fatalf("replaced: %q, %v", got, ok)
	}
}

func TestCacheLocal(t *testing.T) {
	testCacheRoundTrip(t, NewLocal(LocalOptions{}))

	ctx := context.Background()
	clock := newFakeClock(t0)
	l := NewLocal(LocalOptions{CacheMaxBytes: 30, Now: clock.Now})
	val := bytes.Repeat([]byte("v"), 9) // each entry is 10 bytes with its key
	has := func(k string) bool { _, ok, _ := l.Get(ctx, k); return ok }

	t.Run("ttl", func(t *testing.T) {
		_ = l.Set(ctx, "t", val, time.Minute)
		clock.Advance(time.Minute - time.Millisecond)
		if !has("t") {
			t.Fatal("gone before its ttl")
		}
		clock.Advance(time.Millisecond)
		if has("t") {
			t.Fatal("served after its ttl")
		}
		if l.cache.bytes != 0 || len(l.cache.items) != 0 {
			t.Fatalf("an expired entry kept: %d bytes, %d items", l.cache.bytes, len(l.cache.items))
		}
	})
	t.Run("lru by bytes", func(t *testing.T) {
		for _, k := range []string{"a", "b", "c"} {
			_ = l.Set(ctx, k, val, 0)
		}
		has("a")                    // a is now the most recently used: b is the least
		_ = l.Set(ctx, "d", val, 0) // evicts b
		for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
			if has(k) != want {
				t.Fatalf("%s cached: %v, want %v", k, !want, want)
			}
		}
		if l.cache.bytes != 30 {
			t.Fatalf("%d bytes held, want 30", l.cache.bytes)
		}
		_ = l.Set(ctx, "big", bytes.Repeat([]byte("v"), 40), 0) // larger than the bound
		if has("big") || !has("a") || !has("c") || !has("d") {
			t.Fatal("an entry larger than the bound was stored or evicted others")
		}
		_ = l.Set(ctx, "z", []byte("vvvvvvvvvvvvvvvvvvvvvvvvvvvvv"), 0) // 30 bytes: all else goes
		if !has("z") || has("a") || has("c") || has("d") || l.cache.bytes != 30 {
			t.Fatalf("after a 30-byte entry: %d bytes", l.cache.bytes)
		}
	})
	t.Run("expired go first", func(t *testing.T) {
		_ = l.Set(ctx, "a", val, 0)
		_ = l.Set(ctx, "e", val, time.Second) // not the least recently used
		_ = l.Set(ctx, "c", val, 0)
		has("a")
		clock.Advance(2 * time.Second)
		_ = l.Set(ctx, "d", val, 0) // room from e, which has expired, not from c
		if !has("a") || !has("c") || !has("d") || has("e") {
			t.Fatal("evicted a live entry while an expired one was held")
		}
	})
}

func TestCacheRedis(t *testing.T) {
	srv, r := startRedis(t)
	testCacheRoundTrip(t, r)
	ctx := context.Background()
	_ = r.Set(ctx, "hour", []byte("v"), time.Hour)
	if d := rawClient(t, srv).PTTL(ctx, r.cacheKey("hour")).Val(); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("an entry of ttl 1h expires in %v", d)
	}
	_ = r.Set(ctx, "short", []byte("v"), 50*time.Millisecond)
	eventually(t, "an entry of ttl 50ms expires", func() bool {
		_, ok, err := r.Get(ctx, "short")
		return err == nil && !ok
	})
}

// ---- Circuits ----

// subscribe runs c.Subscribe until the test ends, handing its events to the channel.
func subscribe(t *testing.T, c Circuits) <-chan CircuitEvent {
	ch := make(chan CircuitEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Subscribe(ctx, func(e CircuitEvent) { ch <- e })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

// next waits for the event of key (skipping others: catch-ups repeat the open set).
func next(t *testing.T, ch <-chan CircuitEvent, key string, open bool) CircuitEvent {
	t.Helper()
	for {
		e := receive(t, ch, "circuit event")
		if e.Key == key && e.Open == open {
			return e
		}
	}
}

func openKeys(t *testing.T, c Circuits) string {
	t.Helper()
	open, err := c.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range open {
		keys = append(keys, e.Key)
	}
	return strings.Join(keys, ",")
}

func TestCircuitsLocal(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(t0)
	l := NewLocal(LocalOptions{Now: clock.Now})
	_ = l.Publish(ctx, CircuitEvent{Key: "early", Open: true, Until: t0.Add(time.Hour), Origin: "a"})
	ch := subscribe(t, l)
	if e := next(t, ch, "early", true); e.Origin != "a" || !e.Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("the open set delivered on subscribing: %+v", e)
	}
	_ = l.Publish(ctx, CircuitEvent{Key: "openai/gpt", Open: true, Until: t0.Add(time.Minute), Origin: "a"})
	next(t, ch, "openai/gpt", true)
	if k := openKeys(t, l); k != "early,openai/gpt" && k != "openai/gpt,early" {
		t.Fatalf("open: %s", k)
	}
	_ = l.Publish(ctx, CircuitEvent{Key: "early", Origin: "b"})
	next(t, ch, "early", false)
	if k := openKeys(t, l); k != "openai/gpt" {
		t.Fatalf("open after a close: %s", k)
	}
	clock.Advance(time.Minute)
	if k := openKeys(t, l); k != "" {
		t.Fatalf("open after Until: %s", k)
	}
}

func TestCircuitsRedis(t *testing.T) {
	ctx := context.Background()
	srv, a := startRedis(t)
	b := openTestRedis(t, srv.URL, RedisOptions{Prefix: a.o.Prefix, PingInterval: 50 * time.Millisecond})
	fromA, fromB := subscribe(t, a), subscribe(t, b)

	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := a.Publish(ctx, CircuitEvent{Key: "openai/gpt", Open: true, Until: until, Origin: "a"}); err != nil {
		t.Fatal(err)
	}
	e := next(t, fromB, "openai/gpt", true)
	if e.Origin != "a" || !e.Until.Equal(until) {
		t.Fatalf("b saw %+v", e)
	}
	if e := next(t, fromA, "openai/gpt", true); e.Origin != "a" {
		t.Fatalf("a saw its own event as %+v", e)
	}
	if k := openKeys(t, b); k != "openai/gpt" {
		t.Fatalf("b's open: %q", k)
	}
	late := openTestRedis(t, srv.URL, RedisOptions{Prefix: a.o.Prefix})
	if k := openKeys(t, late); k != "openai/gpt" {
		t.Fatalf("a client made later: open %q", k)
	}

	// A breaker opened with an Until already past is not remembered.
	_ = a.Publish(ctx, CircuitEvent{Key: "past", Open: true, Until: time.Now().Add(-time.Second), Origin: "a"})
	next(t, fromB, "past", true)
	if k := openKeys(t, late); k != "openai/gpt" {
		t.Fatalf("open with a past one: %q", k)
	}

	if err := b.Publish(ctx, CircuitEvent{Key: "openai/gpt", Origin: "b"}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, fromA, "openai/gpt", false); e.Origin != "b" {
		t.Fatalf("a saw the close as %+v", e)
	}
	if k := openKeys(t, late); k != "" {
		t.Fatalf("open after the close: %q", k)
	}
}

// TestCircuitsRedisReconnect checks that a subscriber comes back by itself after the
// server restarts and infers the close of a breaker that vanished meanwhile.
func TestCircuitsRedisReconnect(t *testing.T) {
	ctx := context.Background()
	srv, a := startRedis(t)
	b := openTestRedis(t, srv.URL, RedisOptions{Prefix: a.o.Prefix, PingInterval: 50 * time.Millisecond})
	fromB := subscribe(t, b)
	_ = a.Publish(ctx, CircuitEvent{Key: "k", Open: true, Until: time.Now().Add(time.Hour), Origin: "a"})
	next(t, fromB, "k", true)

	srv.Stop(t)
	srv.Start(t) // without persistence: the breaker is gone
	if e := next(t, fromB, "k", false); e.Origin != "" {
		t.Fatalf("the inferred close: %+v", e)
	}
	eventually(t, "a answers again", func() bool {
		return a.Publish(ctx, CircuitEvent{Key: "k2", Open: true, Until: time.Now().Add(time.Hour), Origin: "a"}) == nil
	})
	next(t, fromB, "k2", true)
}

// ---- URLs and health ----

func TestOpenRedisRedactsPassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cret@127.0.0.1:notaport/0",
		"redis://user:s3cret@127.0.0.1:6379/notadb",
		"memcached://user:s3cret@127.0.0.1:6379/0",
		"redis://user:s3cret@127.0.0.1:6379/0?dial_timeout=soon",
	} {
		_, err := OpenRedis(context.Background(), u, RedisOptions{})
		if err == nil {
			t.Fatalf("%s: no error", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}

func TestOpenRedisUnreachable(t *testing.T) {
	health := make(chan error, 10)
	url := "redis://:s3cret@127.0.0.1:" + strconv.Itoa(testservers.FreePort(t)) + "/0"
	r := openTestRedis(t, url, RedisOptions{OnHealth: func(ok bool, err error) {
		if ok {
			err = nil
		} else if err == nil {
			t.Error("unhealthy without an error")
		}
		health <- err
	}})
	err := receive(t, health, "health report")
	if err == nil || r.Healthy() {
		t.Fatal("an unreachable server reported healthy")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if _, err := r.Take(context.Background(), t0, []Take{{"a", 1, 1}}); err == nil {
		t.Fatal("a take on an unreachable server succeeded")
	}
}
