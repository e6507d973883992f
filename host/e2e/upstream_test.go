package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeOpenAI is an upstream speaking OpenAI's chat completions wire format, with the usage
// a real one reports. It answers 401 (echoing the key it got, as some servers do) unless
// the key is "sk-good-key-123456".
func fakeOpenAI(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer sk-good-key-123456" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, strings.TrimPrefix(auth, "Bearer "))
			return
		}
		var req struct {
			Stream bool `json:"stream"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test-2026","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{`{"role":"assistant","content":""}`, `{"content":"Hello"}`, `{"content":" there"}`} {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n", c)
		}
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-2026\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func openAIConfig(t *testing.T, url, key string) string {
	return fmt.Sprintf(`
providers:
  - name: oai
    plugin: %s
    settings: {base_url: %s/v1}
    secrets: {api_key: %s}
models:
  - {name: gpt-test, provider: oai, context_window: 128000, usd_per_mtok_in: 2.5, usd_per_mtok_out: 10}
`, built(t, "plugins/switchyard-provider-openai"), url, key)
}

// TestUpstreamUsageAndCost serves through the OpenAI-compatible plugin: cost comes from the
// catalogue prices and the upstream's usage, as a header for whole answers and as a trailer
// and final SSE comment for streams, and the token and cost series count it.
func TestUpstreamUsageAndCost(t *testing.T) {
	up := fakeOpenAI(t)
	r := startRouter(t, openAIConfig(t, up.URL, "sk-good-key-123456"))
	const wantCost = "0.00750000" // 1000 × 2.5/1M + 500 × 10/1M
	status, h, body := r.post("/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || h.Get("x-switchyard-cost-usd") != wantCost || !strings.Contains(string(body), `"model":"gpt-test-2026"`) {
		t.Fatalf("%d cost %q: %s", status, h.Get("x-switchyard-cost-usd"), body)
	}

	req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/chat/completions", strings.NewReader(
		`{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(raw)
	if got := resp.Trailer.Get("x-switchyard-cost-usd"); got != wantCost {
		t.Errorf("stream cost trailer %q, want %s", got, wantCost)
	}
	if !strings.Contains(s, `"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}`) || !strings.Contains(s, `: switchyard {`) || !strings.Contains(s, `"cost_usd":0.0075`) {
		t.Errorf("stream lacks the usage chunk or the final comment:\n%s", s)
	}
	for series, want := range map[string]float64{
		`switchyard_provider_tokens_total{direction="prompt",model="gpt-test",provider="oai"}`:     2000,
		`switchyard_provider_tokens_total{direction="completion",model="gpt-test",provider="oai"}`: 1000,
		`switchyard_provider_cost_usd_total{model="gpt-test",provider="oai"}`:                      0.015,
	} {
		if v, _ := r.metric(series); strconv.FormatFloat(v, 'f', 6, 64) != strconv.FormatFloat(want, 'f', 6, 64) {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
}

// TestProviderSecretNeverLeaks configures a wrong upstream key that the upstream echoes in
// its error: the key must not reach the client's error, the router's log (at debug), the
// metrics or the dry run.
func TestProviderSecretNeverLeaks(t *testing.T) {
	up := fakeOpenAI(t)
	const secret = "sk-wrong-secret-abcdef123456"
	cfg := openAIConfig(t, up.URL, secret)
	r := launch(t, cfg, nil, "--log-level", "debug")
	status, _, body := r.post("/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`)
	if status != 502 || !strings.Contains(string(body), "authentication") {
		t.Errorf("a refused upstream key: %d %s, want 502 all_targets_failed naming authentication", status, body)
	}
	_, _, dry := r.post("/v1/switchyard/route", `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`)
	metrics, _ := http.Get(r.base + "/metrics")
	mb, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	// Stop the router and wait for it to exit, so the log holds everything it will write
	// (shutting down included) before it is searched.
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(patience); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(r.log.String(), "level=DEBUG") {
		t.Fatalf("the router did not log at debug level:\n%s", r.log.String())
	}
	for where, text := range map[string]string{"error body": string(body), "dry run": string(dry), "metrics": string(mb), "log": r.log.String()} {
		if strings.Contains(text, secret) || strings.Contains(text, "abcdef123456") {
			t.Errorf("the provider key leaked into the %s", where)
		}
	}
}
