package state

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchTakes is a request's usual call: its key's RPM and TPM windows.
func benchTakes(key string) []Take {
	return []Take{{Window: "{" + key + "}:rpm", Limit: 1 << 40, N: 1}, {Window: "{" + key + "}:tpm", Limit: 1 << 40, N: 500}}
}

// BenchmarkLocalTake takes from two windows of one of 1000 keys.
func BenchmarkLocalTake(b *testing.B) {
	l := NewLocal(LocalOptions{})
	ctx := context.Background()
	keys := make([][]Take, 1000)
	for i := range keys {
		keys[i] = benchTakes("key-" + strconv.Itoa(i))
	}
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Take(ctx, now, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLocalTakeParallel is BenchmarkLocalTake from every P at once.
func BenchmarkLocalTakeParallel(b *testing.B) {
	l := NewLocal(LocalOptions{})
	ctx := context.Background()
	keys := make([][]Take, 1000)
	for i := range keys {
		keys[i] = benchTakes("key-" + strconv.Itoa(i))
	}
	now := time.Now()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		for pb.Next() {
			if _, err := l.Take(ctx, now, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkRedisTake is one script call over two windows against the private server.
func BenchmarkRedisTake(b *testing.B) {
	_, r := startRedis(b)
	ctx := context.Background()
	takes := benchTakes("bench")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Take(ctx, time.Now(), takes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisTakeParallel is BenchmarkRedisTake from every P at once, on 100 keys.
func BenchmarkRedisTakeParallel(b *testing.B) {
	_, r := startRedis(b)
	ctx := context.Background()
	keys := make([][]Take, 100)
	for i := range keys {
		keys[i] = benchTakes("key-" + strconv.Itoa(i))
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1))
		for pb.Next() {
			if _, err := r.Take(ctx, time.Now(), keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkRequestLimits is what the router does for one request of a key with RPM and
// TPM limits (host/quota): one Take over both windows before dispatch, then one Add
// correcting the TPM estimate by the tokens used. local is the single-replica path;
// shared is state.url's, Shared over the private Redis (two round trips), so the two
// in one run give the per-request cost of sharing the limits.
func BenchmarkRequestLimits(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, lim Limiter) {
		takes := benchTakes("bench")
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			v, err := lim.Take(ctx, now, takes)
			if err != nil || !v.Allowed {
				b.Fatalf("take: %+v, %v", v, err)
			}
			if err := lim.Add(ctx, now, now, takes[1].Window, 20); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("local", func(b *testing.B) { run(b, NewLocal(LocalOptions{})) })
	b.Run("shared", func(b *testing.B) {
		_, r := startRedis(b)
		if !r.Healthy() {
			b.Fatal("the private Redis is not healthy")
		}
		run(b, NewShared(r, NewLocal(LocalOptions{}), SharedOptions{}))
	})
}
