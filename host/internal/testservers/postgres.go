// Package testservers starts private instances of the real servers the tests need
// (Debian's postgresql and redis-server) in temporary folders on free ports, or hands out
// the running ones the environment names. A missing server fails the test: it never
// skips (.ci/run installs both).
package testservers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Postgres is a PostgreSQL for one test.
type Postgres struct {
	// URL is the database's postgres:// URL (user postgres, no password, sslmode=disable).
	URL string
	// private is false for the running server SWITCHYARD_TEST_POSTGRES names, which the
	// test must not stop.
	private bool
	run     func(name string, args ...string) *exec.Cmd
	data    string
	opts    string
	logPath string
}

// StartPostgres returns the PostgreSQL to test against: SWITCHYARD_TEST_POSTGRES when it
// names a running one, else a private instance started in a temporary folder on a free
// port and stopped when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if url := os.Getenv("SWITCHYARD_TEST_POSTGRES"); url != "" {
		return &Postgres{URL: url}
	}
	bin := pgBin(t)
	dir, err := os.MkdirTemp("", "switchyard-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// initdb refuses root: as root, the server runs as Debian's postgres user.
	run := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user of Debian's postgresql package: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	p := &Postgres{URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), private: true,
		run: run, data: data, logPath: filepath.Join(dir, "log"),
		opts: fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)}
	p.Start(t)
	t.Cleanup(func() { _ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run() })
	return p
}

// Start starts the private server again after Stop (the same port and data).
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if !p.private {
		t.Fatal("testservers: cannot start the PostgreSQL SWITCHYARD_TEST_POSTGRES names")
	}
	if out, err := p.run("pg_ctl", "-D", p.data, "-o", p.opts, "-l", p.logPath, "-w", "-t", "120", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(p.logPath)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the private server at once (a crash, as far as clients can tell).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if !p.private {
		t.Fatal("testservers: cannot stop the PostgreSQL SWITCHYARD_TEST_POSTGRES names")
	}
	if out, err := p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// pgBin finds the server's programs: on PATH (pg_ctl), else in Debian's versioned folder.
func pgBin(t testing.TB) string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("PostgreSQL is not installed: apt-get install postgresql (.ci/run does), or set SWITCHYARD_TEST_POSTGRES to a running one")
	return ""
}

// FreePort is a TCP port free on 127.0.0.1 when asked.
func FreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
