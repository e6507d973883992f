//go:build linux

package providers

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel SIGKILL the plugin when the host dies, even by SIGKILL.
// Pdeathsig fires when the thread that started the child exits; the Go runtime does not
// retire threads that have not been locked, so in practice this is the host's death.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
