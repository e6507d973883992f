//go:build !linux

package providers

import "os/exec"

// setProcAttr does nothing off Linux: there the SDK's parent watchdog alone ends a plugin
// whose host died.
func setProcAttr(*exec.Cmd) {}
