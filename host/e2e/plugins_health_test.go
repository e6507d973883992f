package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamProbeMarksPluginUnhealthy runs the OpenAI plugin with `health_check: models`
// against an upstream whose GET /models fails while its chat completions work. The probe's
// failure is an in-band "not ok": the plugin stays up and keeps serving, without a restart,
// and switchyard_plugin_healthy turns 0; once the probe succeeds again it turns 1. (A
// mock provider beside it keeps the router ready.)
func TestUpstreamProbeMarksPluginUnhealthy(t *testing.T) {
	var modelsDown atomic.Bool
	modelsDown.Store(true)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/models" {
			if modelsDown.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":{"message":"models listing is down","type":"server_error","param":null,"code":null}}`)
				return
			}
			io.WriteString(w, `{"object":"list","data":[{"id":"gpt-test-2026","object":"model","created":1,"owned_by":"test"}]}`)
			return
		}
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test-2026","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`)
	}))
	t.Cleanup(up.Close)
	r := startRouter(t, fmt.Sprintf(`
providers:
  - name: oai
    plugin: %s
    settings: {base_url: %s/v1, health_check: models}
    secrets: {api_key: sk-probe-test-123456}
  - name: mock
    plugin: %s
models:
  - {name: gpt-test, provider: oai, context_window: 128000}
  - {name: mock-small, provider: mock, context_window: 8192}
plugins:
  health_interval: 100ms
  health_timeout: 2s
`, built(t, "plugins/switchyard-provider-openai"), up.URL, built(t, "plugins/switchyard-provider-mock")))
	oaiPID := func() []int {
		var pids []int
		for _, pid := range r.pluginPIDs() {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "switchyard-provider-openai") {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	pids := oaiPID()

	healthy := func() float64 {
		v, found := r.metric(`switchyard_plugin_healthy{plugin="oai"}`)
		if !found {
			return -1
		}
		return v
	}
	waitFor(t, "switchyard_plugin_healthy 0 while the probe fails", 30*time.Second, func() bool { return healthy() == 0 })
	if v, _ := r.metric(`switchyard_plugin_up{plugin="oai"}`); v != 1 {
		t.Errorf("switchyard_plugin_up = %v while unhealthy, want 1: the process is alive", v)
	}
	status, _, body := r.post("/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(string(body), "Hello there") {
		t.Errorf("an unhealthy plugin no longer serves: %d %s", status, body)
	}
	if strings.Contains(r.log.String(), "sk-probe-test-123456") {
		t.Error("the API key appears in the router's log")
	}

	modelsDown.Store(false)
	waitFor(t, "switchyard_plugin_healthy 1 once the probe succeeds", 30*time.Second, func() bool { return healthy() == 1 })
	if v, _ := r.metric(`switchyard_plugin_restarts_total{plugin="oai"}`); v != 0 {
		t.Errorf("switchyard_plugin_restarts_total = %v, want 0: a plugin answering \"not ok\" is never restarted", v)
	}
	if now := oaiPID(); len(pids) != 1 || len(now) != 1 || now[0] != pids[0] {
		t.Errorf("plugin processes %v, then %v: want the same one", pids, now)
	}
}
