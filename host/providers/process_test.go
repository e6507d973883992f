package providers

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readPID waits for a script to write a pid into path and returns it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 30*time.Second, "the script to write "+filepath.Base(path), func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// TestHandshakeNeverCompletes starts wrapper scripts that leave a child holding the
// plugin's stdout open and never print the handshake line. Start gives up at the start
// timeout and returns, and kills the plugin's process group: no orphan survives, except
// one that left the group on purpose, which Start does not wait for either.
func TestHandshakeNeverCompletes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// child is the shell command line started in the background; it must hold
		// stdout open.
		child string
		// escapes says the child leaves the plugin's process group, so it survives.
		escapes bool
	}{
		{name: "background child", child: "sleep 1000"},
		{name: "child of a child", child: "sh -c 'sleep 1000; :'"},
		{name: "child in a session of its own", child: "setsid sleep 1000", escapes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.escapes {
				if _, err := os.Stat("/usr/bin/setsid"); err != nil {
					t.Skip("no setsid:", err)
				}
			}
			dir := t.TempDir()
			script := filepath.Join(dir, "switchyard-provider-wrapper")
			body := "#!/bin/sh\n" +
				"echo $$ > " + dir + "/plugin.pid\n" +
				tc.child + " &\n" +
				"echo $! > " + dir + "/child.pid\n" +
				"exec sleep 1000\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t)
			h.opts.StartTimeout = 300 * time.Millisecond

			errc := make(chan error, 1)
			go func() {
				s, err := Start(context.Background(), spec("wrapped", script), h.opts)
				if err == nil {
					s.Close()
				}
				errc <- err
			}()
			pluginPID := readPID(t, filepath.Join(dir, "plugin.pid"))
			childPID := readPID(t, filepath.Join(dir, "child.pid"))
			if tc.escapes {
				t.Cleanup(func() { _ = syscall.Kill(childPID, syscall.SIGKILL) })
			}

			var err error
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				t.Fatal("Start still running 60 s after a start timeout of 300 ms")
			}
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, want := range []string{"providers/wrapped", script, "no handshake within the start timeout (300ms)"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			waitFor(t, 30*time.Second, "the plugin process gone", func() bool { return processGone(pluginPID) })
			if !tc.escapes {
				waitFor(t, 30*time.Second, "the plugin's child gone", func() bool { return processGone(childPID) })
			}
		})
	}
}

// TestKillsProcessGroup checks that every way a plugin process ends also ends what it
// started: Close, and a restart after a crash.
func TestKillsProcessGroup(t *testing.T) {
	t.Parallel()
	spawn := func(t *testing.T, s *Supervisor) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := s.Complete(ctx, request("spawn"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(resp.Choices[0].Message.Content)
		if err != nil {
			t.Fatalf("spawn answered %q", resp.Choices[0].Message.Content)
		}
		t.Cleanup(func() {
			if !processGone(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		return pid
	}

	t.Run("close", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		s := start(t, h, spec("closing", binary(t, "ok")))
		child := spawn(t, s)
		if processGone(child) {
			t.Fatal("the plugin's child is not running")
		}
		s.Close()
		waitFor(t, 30*time.Second, "the plugin's child gone after Close", func() bool { return processGone(child) })
	})

	t.Run("restart after a crash", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.opts.HealthInterval = time.Hour
		s := start(t, h, spec("crashing", binary(t, "ok")))
		pid := s.PID()
		child := spawn(t, s)
		sigkill(t, pid)
		waitFor(t, 30*time.Second, "a new plugin process", func() bool { return replaced(s, pid) })
		waitFor(t, 30*time.Second, "the dead plugin's child gone", func() bool { return processGone(child) })
		complete(t, s)
	})
}
