//go:build !linux

package loadtest

import (
	"syscall"
	"time"
)

func lockThread()   {}
func unlockThread() {}

func sleepPrecise(d time.Duration) { time.Sleep(d) }

func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
