package loadtest

import (
	"runtime"
	"syscall"
	"time"
)

// procAttr puts a router in its own process group, so a forced stop reaches
// its plugins too, and has it killed with the load test, so nothing outlives
// a crashed run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Go's timers wake a sleeper up to about a millisecond late on Linux, which
// would turn a fixed schedule into bursts. The dispatcher instead sleeps with
// nanosleep(2) on a thread of its own (tens of microseconds late).

func lockThread()   { runtime.LockOSThread() }
func unlockThread() { runtime.UnlockOSThread() }

// sleepPrecise sleeps d on the calling thread; a signal may cut it short.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
