//go:build !linux

package providers

import "os/exec"

// setProcAttr does nothing off Linux: there the SDK's parent watchdog alone ends a plugin
// whose host died.
func setProcAttr(*exec.Cmd) {}

// killGroup kills the plugin process; off Linux its descendants are not tracked.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
