package state

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-llm/switchyard/host/internal/testservers"
)

// commandCounter counts the commands a client sends, PING aside.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "ping" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestSharedFallsBack stops the server under a Shared: it goes on from its local state
// (fail open) or refuses limits and spend (fail closed), and is back on Redis when the
// server is.
func TestSharedFallsBack(t *testing.T) {
	ctx := context.Background()
	srv := testservers.StartRedis(t)
	health := make(chan bool, 100)
	r := openTestRedis(t, srv.URL, RedisOptions{PingInterval: 50 * time.Millisecond,
		OnHealth: func(ok bool, err error) { health <- ok }})
	direct := openTestRedis(t, srv.URL, RedisOptions{Prefix: r.o.Prefix}) // looks at Redis itself
	if !receive(t, health, "first health report") {
		t.Fatal("unhealthy at start")
	}
	local := NewLocal(LocalOptions{})
	open := NewShared(r, local, SharedOptions{})
	closed := NewShared(r, NewLocal(LocalOptions{}), SharedOptions{FailClosed: true})
	now := time.Now()
	rpm := []Take{{Window: "{k}:rpm", Limit: 30, N: 5}}

	// Healthy: Redis holds it, the local state follows.
	if v, err := open.Take(ctx, now, rpm); err != nil || !v.Allowed {
		t.Fatalf("take: %+v, %v", v, err)
	}
	if n, _ := direct.Used(ctx, now, "{k}:rpm"); n != 5 {
		t.Fatalf("redis holds %d, want 5", n)
	}
	if n, _ := local.Used(ctx, now, "{k}:rpm"); n != 5 {
		t.Fatalf("the local window holds %d, want 5 (it follows Redis)", n)
	}
	if v, err := open.AddSpend(ctx, "k:total", 2, 0); err != nil || v != 2 {
		t.Fatalf("add spend: %v, %v", v, err)
	}
	if v, _ := direct.Spent(ctx, "k:total"); v != 2 {
		t.Fatalf("redis spent %v, want 2", v)
	}
	_ = open.Set(ctx, "entry", []byte("from redis"), time.Minute)
	if _, ok, _ := local.Get(ctx, "entry"); ok {
		t.Fatal("a cache entry went to the local cache while Redis answered")
	}
	if v, err := closed.Spent(ctx, "k:total"); err != nil || v != 2 {
		t.Fatalf("fail-closed spent while healthy: %v, %v", v, err)
	}

	srv.Stop(t)
	// The first call finds out; it is served locally all the same.
	v, err := open.Take(ctx, now, rpm)
	if err != nil || !v.Allowed || v.Remaining[0] != 20 {
		t.Fatalf("take with Redis down: %+v, %v; want allowed with 20 remaining", v, err)
	}
	for receive(t, health, "health report") {
	}
	if r.Healthy() {
		t.Fatal("healthy with the server down")
	}

	counter := &commandCounter{}
	r.client.AddHook(counter)
	if v, err := open.AddSpend(ctx, "k:total", 1.5, 0); err != nil || v != 3.5 {
		t.Fatalf("add spend with Redis down: %v, %v; want 3.5 (on from Redis's 2)", v, err)
	}
	if err := open.Seed(ctx, "k:day", 10, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := closed.Take(ctx, now, rpm); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fail-closed take: %v, want ErrUnavailable", err)
	}
	if _, err := closed.Spent(ctx, "k:total"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fail-closed spent: %v, want ErrUnavailable", err)
	}
	for _, s := range []*Shared{open, closed} {
		if err := s.Set(ctx, "entry", []byte("local"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if b, ok, err := s.Get(ctx, "entry"); err != nil || !ok || string(b) != "local" {
			t.Fatalf("cache with Redis down: %q, %v, %v", b, ok, err)
		}
		if err := s.Publish(ctx, CircuitEvent{Key: "c", Open: true, Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if open, err := s.Open(ctx); err != nil || len(open) != 1 {
			t.Fatalf("circuits with Redis down: %v, %v", open, err)
		}
		if err := s.Add(ctx, now, now, "{k}:rpm", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Used(ctx, now, "{k}:rpm"); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.n.Load(); n != 0 {
		t.Fatalf("%d commands sent to an unhealthy Redis, want none (straight to local)", n)
	}

	srv.Start(t) // empty: no persistence
	for !receive(t, health, "health report") {
	}
	// Back on Redis, which is handed what was spent and seeded meanwhile.
	if v, err := open.AddSpend(ctx, "k:total", 1, 0); err != nil || v != 2.5 {
		t.Fatalf("add spend after the outage: %v, %v; want 2.5 (1.5 of the outage + 1 on an empty Redis)", v, err)
	}
	if v, _ := direct.Spent(ctx, "k:day"); v != 10 {
		t.Fatalf("redis spent of the seed made in the outage: %v, want 10", v)
	}
	if v, err := closed.Take(ctx, now, rpm); err != nil || !v.Allowed {
		t.Fatalf("fail-closed take after the outage: %+v, %v", v, err)
	}
	if n, _ := direct.Used(ctx, now, "{k}:rpm"); n != 5 {
		t.Fatalf("redis holds %d after the outage, want 5", n)
	}
}

// TestSharedCircuits checks that a Shared's subscribers get Redis's events and those
// published locally while Redis is unreachable.
func TestSharedCircuits(t *testing.T) {
	ctx := context.Background()
	srv := testservers.StartRedis(t)
	health := make(chan bool, 100)
	r := openTestRedis(t, srv.URL, RedisOptions{PingInterval: 50 * time.Millisecond,
		OnHealth: func(ok bool, err error) { health <- ok }})
	receive(t, health, "first health report")
	other := openTestRedis(t, srv.URL, RedisOptions{Prefix: r.o.Prefix})
	s := NewShared(r, NewLocal(LocalOptions{}), SharedOptions{})
	events := subscribe(t, s)

	_ = other.Publish(ctx, CircuitEvent{Key: "remote", Open: true, Until: time.Now().Add(time.Hour), Origin: "other"})
	next(t, events, "remote", true)

	srv.Stop(t)
	for receive(t, health, "health report") {
	}
	_ = s.Publish(ctx, CircuitEvent{Key: "local", Open: true, Until: time.Now().Add(time.Hour), Origin: "me"})
	next(t, events, "local", true)
	// Open() from the local state knows the breaker Redis told of before the outage.
	if k := openKeys(t, s); k != "remote,local" && k != "local,remote" {
		t.Fatalf("open with Redis down: %q", k)
	}
}
