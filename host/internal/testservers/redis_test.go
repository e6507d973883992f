package testservers

import (
	"net/url"
	"os"
	"testing"
)

// TestRedisStopStart checks that the private server answers, is gone after Stop and
// answers again on the same port after Start.
func TestRedisStopStart(t *testing.T) {
	r := StartRedis(t)
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(u.Host); err != nil {
		t.Fatalf("PING %s: %v", r.URL, err)
	}
	if os.Getenv("SWITCHYARD_TEST_REDIS") != "" {
		return // a server the environment names is not ours to stop
	}
	r.Stop(t)
	if err := ping(u.Host); err == nil {
		t.Fatal("the server answered PING after Stop")
	}
	r.Start(t)
	if err := ping(u.Host); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
}
