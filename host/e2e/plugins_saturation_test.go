package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/loadtest"
)

// TestSaturatedPluginIsNotRestarted saturates the OpenAI plugin with 256 concurrent
// streams (about 500 a second here) while two other processes burn the CPU, with health
// checks twenty times tighter than the defaults (100 ms to answer, every 50 ms). The plugin
// answers health checks late or not at all, but it keeps streaming, so the supervisor must
// never take it for hung: no restart, and no 502/503 (the upstream causes none). Before
// health checks had a connection of their own and progress counted, every run of this
// test restarted the plugin, and most streams then failed with 503.
func TestSaturatedPluginIsNotRestarted(t *testing.T) {
	up, err := loadtest.StartUpstream(loadtest.Behavior{Chunks: 20, ContentBytes: 1024, ChunkDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	r := startRouter(t, fmt.Sprintf(`
providers:
  - name: oai
    plugin: %s
    settings: {base_url: %s/v1, max_idle_conns_per_host: 256}
    secrets: {api_key: sk-saturation-test}
models:
  - {name: sat-small, provider: oai, context_window: 128000, capabilities: [stream]}
plugins:
  health_interval: 50ms
  health_timeout: 100ms
limits:
  max_inflight: 4096
`, built(t, "plugins/switchyard-provider-openai"), up.URL()))
	pids := r.pluginPIDs()
	if len(pids) != 1 {
		t.Fatalf("plugin processes %v, want one", pids)
	}

	// Two busy loops, one per core of the machine the issue measured on.
	var burners []*exec.Cmd
	stopBurners := func() {
		for _, b := range burners {
			_ = b.Process.Kill()
			_ = b.Wait()
		}
		burners = nil
	}
	t.Cleanup(stopBurners)
	for range 2 {
		b := exec.Command("sh", "-c", "while :; do :; done")
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		burners = append(burners, b)
	}

	const (
		workers  = 256
		duration = 4 * time.Second
		maxCalls = 20000 // bounds the load on a fast machine
	)
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
		Timeout:   60 * time.Second,
	}
	body := []byte(`{"model":"sat-small","stream":true,"messages":[{"role":"user","content":"count to twenty"}]}`)
	var (
		mu       sync.Mutex
		calls    int
		ok       int
		failures = map[string]int{}
		samples  []string
	)
	fail := func(what, detail string) {
		mu.Lock()
		defer mu.Unlock()
		failures[what]++
		if len(samples) < 5 {
			samples = append(samples, what+": "+detail)
		}
	}
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(end) {
				mu.Lock()
				if calls >= maxCalls {
					mu.Unlock()
					return
				}
				calls++
				mu.Unlock()
				resp, err := client.Post(r.base+"/v1/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					fail("transport", err.Error())
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					fail("read", err.Error())
				case resp.StatusCode != http.StatusOK:
					fail(fmt.Sprintf("status %d", resp.StatusCode), string(b))
				case !bytes.Contains(b, []byte("data: [DONE]")):
					fail("stream without [DONE]", string(b[max(0, len(b)-300):]))
				default:
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	stopBurners()
	logs := r.log.String()
	t.Logf("%d streams in %s through %d workers: %d complete, failures %v, upstream served %d; health checks answered late %d times, not at all %d times",
		calls, duration, workers, ok, failures, up.Requests(),
		strings.Count(logs, "answered its health check late"), strings.Count(logs, "did not answer its health check"))

	if len(failures) > 0 {
		t.Errorf("streams failed although the upstream never does: %v\n%s", failures, strings.Join(samples, "\n"))
	}
	if ok == 0 {
		t.Fatal("no stream completed")
	}
	if v, _ := r.metric(`switchyard_plugin_restarts_total{plugin="oai"}`); v != 0 {
		t.Errorf("switchyard_plugin_restarts_total{plugin=\"oai\"} = %v, want 0", v)
	}
	if v, found := r.metric(`switchyard_plugin_up{plugin="oai"}`); !found || v != 1 {
		t.Errorf("switchyard_plugin_up{plugin=\"oai\"} = %v (found %v), want 1", v, found)
	}
	if now := r.pluginPIDs(); len(now) != 1 || now[0] != pids[0] {
		t.Errorf("plugin processes %v after the load, want the first one, %v", now, pids)
	}
	if strings.Contains(r.log.String(), "plugin down, restarting") {
		t.Errorf("the router restarted the plugin:\n%s", r.log.String())
	}
}
