//go:build linux

package providers

import (
	"os/exec"
	"syscall"
)

// setProcAttr starts the plugin as the leader of a process group of its own, so that it
// and everything it starts can be killed together (killGroup), and makes the kernel
// SIGKILL it when the host dies, even by SIGKILL. Pdeathsig fires when the thread that
// started the child exits; the Go runtime does not retire threads that have not been
// locked, so in practice this is the host's death.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup SIGKILLs the plugin's process group (the plugin and every descendant that did
// not leave the group), and the plugin itself in case its group could not be signalled.
// The latter goes through the os.Process handle, which never signals a reaped pid.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	if pid := cmd.Process.Pid; pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = cmd.Process.Kill()
}
