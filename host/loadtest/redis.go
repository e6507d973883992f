package loadtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisServer is a private redis-server the run starts for switchyard-redis: on a free
// port of 127.0.0.1, without persistence (no RDB, no AOF: nothing touches the disk
// while it is measured), its files in the run's temporary folder. Stop ends it.
//
// host/internal/testservers starts one the same way, but it needs a testing.TB.
type RedisServer struct {
	URL  string // redis://127.0.0.1:<port>/0
	Addr string // 127.0.0.1:<port>
	cmd  *exec.Cmd
	log  string
	exit chan struct{}
}

// StartRedis runs redis-server (from PATH, else /usr/bin) with its data and log in dir
// and waits up to 10 s for it to answer PING.
func StartRedis(dir string) (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			return nil, fmt.Errorf("loadtest: redis-server is not installed (apt-get install redis-server); leave switchyard-redis out with --systems")
		}
		bin = "/usr/bin/redis-server"
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "redis.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("loadtest: start %s: %w", bin, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r := &RedisServer{URL: "redis://" + addr + "/0", Addr: addr, cmd: cmd, log: logPath, exit: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(r.exit)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply, err := redisCommand(addr, "PING")
		if err == nil && reply == "+PONG" {
			return r, nil
		}
		select {
		case <-r.exit:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("loadtest: redis-server exited before answering PING:\n%s", b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("loadtest: redis-server on %s did not answer PING in 10 s: %v (reply %q)", addr, err, reply)
		}
	}
}

// PID is the server's process id.
func (r *RedisServer) PID() int { return r.cmd.Process.Pid }

// Keys is the number of keys in database 0 (DBSIZE): above 0 once a router has taken
// from a window through it.
func (r *RedisServer) Keys() (int, error) {
	reply, err := redisCommand(r.Addr, "DBSIZE")
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(reply, ":")
	if !ok {
		return 0, fmt.Errorf("DBSIZE answered %q", reply)
	}
	return strconv.Atoi(n)
}

// Stop sends SIGTERM (nothing to save) and kills the process group after 5 s. It is
// safe to call twice.
func (r *RedisServer) Stop() { stopGroup(r.cmd, r.exit, 5*time.Second) }

// redisCommand sends one inline command and returns the first line of the reply without
// its CRLF; enough for PING and DBSIZE, and no client library for two commands.
func redisCommand(addr, command string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(command + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
