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
