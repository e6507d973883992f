package providers

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/connectivity"
)

// TestBusyPluginIsNotHung runs a plugin whose health checks block while a stream keeps
// sending chunks: it misses deadline after deadline and stays up, since it is making
// progress. Once the stream ends and it makes none, the next missed check finds it hung.
func TestBusyPluginIsNotHung(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.opts.HealthInterval = 100 * time.Millisecond
	h.opts.HealthTimeout = 300 * time.Millisecond
	s := start(t, h, spec("busy", binary(t, "ok")))
	pid := s.PID()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c collector
	errc := make(chan error, 1)
	go func() {
		_, err := s.Stream(ctx, request("busy"), &c)
		errc <- err
	}()
	const missed = "plugin did not answer its health check but is answering calls"
	waitFor(t, 60*time.Second, "three missed health checks", func() bool {
		return strings.Count(h.logs.String(), missed) >= 3
	})
	if s.PID() != pid || strings.Contains(h.obs.String(), "restarted") {
		t.Fatalf("the busy plugin was replaced (pid %d, now %d; events %s)", pid, s.PID(), h.obs)
	}
	if !s.Healthy() {
		t.Errorf("the busy plugin is reported unhealthy: %s", s.HealthDetail())
	}

	cancel()
	if err := <-errc; err == nil || errors.Is(err, ErrPluginDown) {
		t.Fatalf("the cancelled stream ended with %v, want an in-band cancellation", err)
	}
	waitFor(t, 60*time.Second, "the plugin, now idle and hung, replaced", func() bool { return replaced(s, pid) })
	if logs := h.logs.String(); !strings.Contains(logs, "progressed since the previous check (hung)") {
		t.Errorf("no log line saying the plugin hung:\n%s", logs)
	}
	complete(t, s)
}

// TestUnhealthyInBand: a plugin whose health check answers "not ok" stays up, marked
// unhealthy with a redacted detail, and is healthy again once it answers ok.
func TestUnhealthyInBand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.opts.HealthInterval = 20 * time.Millisecond
	s := start(t, h, spec("sickly", binary(t, "ok")))
	pid := s.PID()
	if !s.Healthy() || s.HealthDetail() != "" {
		t.Fatalf("a fresh plugin: healthy %v, detail %q", s.Healthy(), s.HealthDetail())
	}

	if _, err := s.Complete(context.Background(), request("sick")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "unhealthy", func() bool { return !s.Healthy() })
	detail := s.HealthDetail()
	if !strings.Contains(detail, "upstream probe failed for key [redacted]") || strings.Contains(detail, testSecret) {
		t.Errorf("detail %q, want the plugin's message with the secret redacted", detail)
	}
	if !s.Up() || s.PID() != pid {
		t.Fatalf("an unhealthy plugin was taken down (up %v, pid %d, was %d)", s.Up(), s.PID(), pid)
	}
	complete(t, s) // it still serves

	if _, err := s.Complete(context.Background(), request("well")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "healthy again", s.Healthy)
	if d := s.HealthDetail(); d != "" {
		t.Errorf("healthy with detail %q", d)
	}
	s.Close()
	if s.Healthy() || s.HealthDetail() != "plugin closed" {
		t.Errorf("after Close: healthy %v, detail %q", s.Healthy(), s.HealthDetail())
	}
	if got, want := h.obs.String(), "sickly:up=true sickly:healthy=true sickly:healthy=false sickly:healthy=true sickly:up=false sickly:healthy=false"; got != want {
		t.Errorf("observer saw %q, want %q", got, want)
	}
	if n := strings.Count(h.logs.String(), "plugin unhealthy"); n != 1 {
		t.Errorf("logged %d times that the plugin is unhealthy, want once per change", n)
	}
}

// TestUnhealthyWhileDown: a plugin that is down is not healthy, and says why.
func TestUnhealthyWhileDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.opts.HealthInterval = time.Hour
	sp := spec("gone", binary(t, "ok"))
	s := start(t, h, sp)
	// With the binary gone, restarts fail and the plugin stays down.
	if err := os.Rename(sp.Path, sp.Path+".away"); err != nil {
		t.Fatal(err)
	}
	sigkill(t, s.PID())
	waitFor(t, 30*time.Second, "down", func() bool { return !s.Up() })
	if s.Healthy() {
		t.Fatal("healthy while down")
	}
	if d := s.HealthDetail(); !strings.Contains(d, "plugin down") {
		t.Errorf("detail while down: %q", d)
	}
}

// TestHealthConnection: health checks travel on a gRPC connection of their own, so they
// never queue behind the data calls.
func TestHealthConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.opts.HealthInterval = 20 * time.Millisecond
	s := start(t, h, spec("separate", binary(t, "ok")))
	in := s.cur.Load()
	if in.healthConn == nil || in.health == in.prov {
		t.Fatal("health checks share the data connection")
	}
	waitFor(t, 30*time.Second, "the health connection in use", func() bool {
		return in.healthConn.GetState() == connectivity.Ready
	})
	complete(t, s)
	s.Close()
	if st := in.healthConn.GetState(); st != connectivity.Shutdown {
		t.Errorf("health connection %s after Close", st)
	}
}

// TestEnvironment: a plugin sees PATH, HOME and go-plugin's variables, and of the rest of
// the host's environment only what its Spec names.
func TestEnvironment(t *testing.T) {
	t.Setenv("SWITCHYARD_TEST_HIDDEN", "not-for-plugins")
	t.Setenv("SWITCHYARD_TEST_NAMED", "for-the-plugin")
	t.Setenv("OPENAI_API_KEY", "sk-from-the-host-environment")
	h := newHarness(t)
	sp := spec("env", binary(t, "ok"))
	sp.Env = []string{"SWITCHYARD_TEST_NAMED", "SWITCHYARD_TEST_UNSET", "SWITCHYARD_TEST_NAMED"}
	s := start(t, h, sp)
	resp, err := s.Complete(context.Background(), request("env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(resp.Choices[0].Message.Content, "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	for name, want := range map[string]string{
		"PATH":                  "",
		"HOME":                  "",
		"SWITCHYARD_PLUGIN":     "", // the magic cookie
		"SWITCHYARD_TEST_NAMED": "for-the-plugin",
	} {
		got, ok := vars[name]
		if !ok || (want != "" && got != want) {
			t.Errorf("%s = %q (set: %v), want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"SWITCHYARD_TEST_HIDDEN", "SWITCHYARD_TEST_UNSET", "OPENAI_API_KEY"} {
		if v, ok := vars[name]; ok {
			t.Errorf("the plugin sees %s=%q", name, v)
		}
	}
	if os.Getenv("TMPDIR") != "" {
		if _, ok := vars["TMPDIR"]; !ok {
			t.Error("TMPDIR is set on the host but not for the plugin")
		}
	}
}
