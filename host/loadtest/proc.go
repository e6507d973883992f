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

// userSample is the user time of the whole machine and of this process's tree (the
// load test with every router, plugin and server it started), and the machine's steal
// time, taken together.
type userSample struct {
	at                   time.Time
	machine, tree, steal int64 // clock ticks
	ok                   bool
}

// sampleUser reads the machine's user time (/proc/stat, user + nice) and steal time,
// and the user time of os.Getpid()'s tree in one pass over /proc. User time only: the
// kernel's work for the run's own loopback traffic (softirq) is not charged to its
// processes, and would otherwise count as someone else's. Steal is what the hypervisor
// gave other virtual machines while this one wanted to run: as much a neighbour as a
// local build.
func sampleUser() userSample {
	s := userSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	// cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	user, err1 := strconv.ParseInt(f[1], 10, 64)
	nice, err2 := strconv.ParseInt(f[2], 10, 64)
	steal, err3 := strconv.ParseInt(f[8], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return s
	}
	s.machine, s.steal = user+nice, steal
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	parent := map[int]int{}
	utime := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, ut, _, err := parseStat(stat); err == nil {
			parent[pid], utime[pid] = ppid, ut
		}
	}
	s.tree = treeSum(os.Getpid(), parent, utime)
	s.ok = true
	return s
}

// treeSum sums value over root and every process below it.
func treeSum(root int, parent map[int]int, value map[int]int64) int64 {
	var n int64
	for pid, v := range value {
		for p, hops := pid, 0; p > 0 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				n += v
				break
			}
		}
	}
	return n
}

// othersSince is the CPU the rest of the machine used between b and s, in cores (1.0:
// one core busy all along): other processes' user time plus steal; -1 when either
// sample failed. A process that ended in between takes its time with it, so this is a
// lower bound.
func (s userSample) othersSince(b userSample) float64 {
	wall := s.at.Sub(b.at)
	if !s.ok || !b.ok || wall <= 0 {
		return -1
	}
	ticks := max((s.machine-b.machine)-(s.tree-b.tree), 0) + (s.steal - b.steal)
	d := time.Duration(ticks) * time.Second / time.Duration(clockTicks())
	return float64(d) / float64(wall)
}
