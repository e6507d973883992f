package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is one sample of a process from /proc (Linux only).
type Proc struct {
	PID   int    `json:"pid"`
	Name  string `json:"name"` // base name of argv[0]
	RSSKB int64  `json:"rss_kb"`
	// HWMKB is the peak RSS of the process's life so far.
	HWMKB int64 `json:"hwm_kb"`
	// CPU is user plus system time used so far.
	CPU time.Duration `json:"cpu_ns"`
}

// SampleProc reads /proc/<pid>/stat, status and cmdline.
func SampleProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	_, utime, stime, err := parseStat(stat)
	if err != nil {
		return p, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	p.CPU = time.Duration(utime+stime) * time.Second / time.Duration(clockTicks())
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	p.RSSKB = statusKB(status, "VmRSS:")
	p.HWMKB = statusKB(status, "VmHWM:")
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		argv0, _, _ := bytes.Cut(cmd, []byte{0})
		p.Name = filepath.Base(string(argv0))
	}
	return p, nil
}

// SampleTree samples pid and its direct children (a router and its plugin
// processes). A process that vanished while being read is left out.
func SampleTree(pid int) []Proc {
	var out []Proc
	if p, err := SampleProc(pid); err == nil {
		out = append(out, p)
	}
	for _, c := range Children(pid) {
		if p, err := SampleProc(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Children lists the pids whose parent is pid, in ascending order.
func Children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, _, _, err := parseStat(stat); err == nil && ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// parseStat returns the parent pid and the user and system clock ticks of
// a /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStat(b []byte) (ppid int, utime, stime int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, 0, fmt.Errorf("ppid: %w", err)
	}
	if utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return 0, 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return 0, 0, 0, fmt.Errorf("stime: %w", err)
	}
	return ppid, utime, stime, nil
}

// statusKB returns the kB value of key in a /proc/<pid>/status file, or 0.
func statusKB(b []byte, key string) int64 {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := strings.Fields(string(v))
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

var clockTicks = sync.OnceValue(func() int64 {
	// USER_HZ: 100 on every mainstream Linux; getconf asks the C library.
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
})

// TotalCPU is the sum of the CPU time of procs.
func TotalCPU(procs []Proc) time.Duration {
	var t time.Duration
	for _, p := range procs {
		t += p.CPU
	}
	return t
}
