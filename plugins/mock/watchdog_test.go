//go:build linux

package mock

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// TestPluginDiesWithHost starts the plugin from a shell that then exits without killing
// it (as a SIGKILLed host would): the SDK's parent watchdog must end the plugin.
func TestPluginDiesWithHost(t *testing.T) {
	bin := binary(t)
	hs := pluginhost.HandshakeConfig()
	cmd := exec.Command("sh", "-c", `"$1" >/dev/null 2>&1 & echo $!; sleep 0.5`, "sh", bin)
	cmd.Env = append(os.Environ(), hs.MagicCookieKey+"="+hs.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("the plugin did not start")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = (&os.Process{Pid: pid}).Kill()
			t.Fatalf("plugin %d still running 3s after its parent exited", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie, exited but not reaped, counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}
