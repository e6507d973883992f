package state

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/internal/testservers"
)

// patience bounds every wait for another goroutine or the server: generous, so that only
// a real failure runs into it.
const patience = 30 * time.Second

// t0 is the tests' virtual clock's start, on a second's boundary.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

var prefixes atomic.Int64

// openTestRedis opens a Redis on url with a prefix of its own (so that tests can share
// the server SWITCHYARD_TEST_REDIS names), closed when the test ends.
func openTestRedis(t testing.TB, url string, o RedisOptions) *Redis {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = testPrefix(t)
	}
	r, err := OpenRedis(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func testPrefix(t testing.TB) string {
	return fmt.Sprintf("switchyard-test:%d:%d:", time.Now().UnixNano(), prefixes.Add(1))
}

// startRedis is a server for one test and a client of it.
func startRedis(t testing.TB) (*testservers.Redis, *Redis) {
	t.Helper()
	srv := testservers.StartRedis(t)
	return srv, openTestRedis(t, srv.URL, RedisOptions{})
}

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// receive waits for a value on ch, within patience.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("no %s within %v", what, patience)
		var zero T
		return zero
	}
}

// eventually polls cond until it holds, within patience.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, patience)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
