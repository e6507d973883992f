package testservers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a Redis for one test.
type Redis struct {
	// URL is the server's redis:// URL (no password, database 0).
	URL string
	// private is false for the running server SWITCHYARD_TEST_REDIS names, which the test
	// must not stop.
	private bool
	bin     string
	dir     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
}

// StartRedis returns the Redis to test against: SWITCHYARD_TEST_REDIS when it names a
// running one (tests must then keep to their own key prefix), else a private
// redis-server on a free port of 127.0.0.1, without persistence, killed when the test
// ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if url := os.Getenv("SWITCHYARD_TEST_REDIS"); url != "" {
		return &Redis{URL: url}
	}
	bin := redisBin(t)
	dir, err := os.MkdirTemp("", "switchyard-redis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := FreePort(t)
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), private: true, bin: bin, dir: dir, port: port}
	r.Start(t)
	t.Cleanup(r.kill)
	return r
}

// Start starts the private server again after Stop (the same port, an empty data set)
// and returns once it answers PING.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if !r.private {
		t.Fatal("testservers: cannot start the Redis SWITCHYARD_TEST_REDIS names")
	}
	if r.cmd != nil {
		t.Fatal("testservers: the Redis is running already")
	}
	logPath := filepath.Join(r.dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testservers: start %s: %v", r.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	const tries = 500 // 10 s at most
	var last error
	for range tries {
		select {
		case <-exited:
			r.cmd = nil
			log, _ := os.ReadFile(logPath)
			t.Fatalf("testservers: redis-server exited before answering PING:\n%s", log)
		default:
		}
		if last = ping(addr); last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.kill()
	log, _ := os.ReadFile(logPath)
	t.Fatalf("testservers: redis-server did not answer PING on %s after %d tries: %v\n%s", addr, tries, last, log)
}

// Stop kills the private server at once (a crash, as far as clients can tell).
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	if !r.private {
		t.Fatal("testservers: cannot stop the Redis SWITCHYARD_TEST_REDIS names")
	}
	if r.cmd == nil {
		t.Fatal("testservers: the Redis is not running")
	}
	r.kill()
}

// kill kills the server, if running, and waits for it to exit.
func (r *Redis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// ping sends PING in the inline protocol and wants +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// redisBin finds Debian's redis-server.
func redisBin(t testing.TB) string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	t.Fatal("Redis is not installed: apt-get install redis-server (.ci/run does), or set SWITCHYARD_TEST_REDIS to a running one")
	return ""
}
