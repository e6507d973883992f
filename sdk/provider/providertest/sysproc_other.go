//go:build !linux

package providertest

import "os/exec"

// setPdeathsig does nothing where there is no parent-death signal; the SDK's parent
// watchdog in the plugin still ends it.
func setPdeathsig(*exec.Cmd) {}
