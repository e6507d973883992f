package providertest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the plugin when the test process dies.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
