package loadtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0 123 456 789\n"
	ppid, ut, st, err := parseStat([]byte(line))
	if err != nil || ppid != 17 || ut != 250 || st != 31 {
		t.Errorf("parseStat = %d, %d, %d, %v; want 17, 250, 31, nil", ppid, ut, st, err)
	}
	for _, bad := range []string{"", "1 (x) S 2 3", "1 (x) S notanumber 3 4 5 6 7 8 9 10 11 12 13 14"} {
		if _, _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) did not fail", bad)
		}
	}
}

func TestSampleProcAndChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	self, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if self.RSSKB <= 0 || self.HWMKB < self.RSSKB || self.Name != filepath.Base(exe) {
		t.Errorf("self: %+v", self)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if kids := Children(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("Children = %v, want it to hold %d", kids, cmd.Process.Pid)
	}
	tree := SampleTree(os.Getpid())
	if len(tree) < 2 || tree[0].PID != os.Getpid() || TotalCPU(tree) < self.CPU {
		t.Errorf("SampleTree = %+v", tree)
	}
}

func TestCPUDelta(t *testing.T) {
	before := []Proc{{PID: 1, CPU: 100}, {PID: 2, CPU: 50}}
	after := []Proc{{PID: 1, CPU: 180}, {PID: 3, CPU: 5}} // 2 restarted as 3
	if got := cpuDelta(before, after); got != 85 {
		t.Errorf("cpuDelta = %d, want 85", got)
	}
}

func TestTreeSum(t *testing.T) {
	// 1 ← 10 ← 11, 10 ← 12; 20 is elsewhere; 30's parent loops back on itself.
	parent := map[int]int{1: 0, 10: 1, 11: 10, 12: 10, 20: 1, 30: 30}
	value := map[int]int64{1: 1, 10: 10, 11: 100, 12: 1000, 20: 10000, 30: 100000}
	if got := treeSum(10, parent, value); got != 1110 {
		t.Errorf("treeSum(10) = %d, want 1110", got)
	}
}

func TestSampleUser(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	a := sampleUser()
	b := sampleUser()
	if !a.ok || !b.ok || a.tree > a.machine || b.machine < a.machine {
		t.Fatalf("samples %+v, %+v", a, b)
	}
	if o := b.othersSince(a); o < 0 {
		t.Errorf("othersSince = %v", o)
	}
	if o := b.othersSince(userSample{}); o != -1 {
		t.Errorf("othersSince a failed sample = %v, want -1", o)
	}
}
