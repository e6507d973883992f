package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// buildPlugin builds the plugin binary into a temporary folder.
func buildPlugin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "switchyard-provider-openai")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchyard-provider-openai").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// conformanceUpstream answers like OpenAI: gpt-test answers, gpt-slow streams slowly,
// rate-limited and too-long fail as OpenAI does, any other model is not found.
func conformanceUpstream(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.Unmarshal(body, &req)
		switch req.Model {
		case "gpt-test":
		case "gpt-slow":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			for i := 0; i < 100; i++ {
				fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-slow\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d \"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			return
		case "rate-limited":
			w.Header().Set("retry-after-ms", "100")
			writeJSON(w, 429, []byte(`{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
			return
		case "too-long":
			writeJSON(w, 400, []byte(`{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`))
			return
		default:
			writeJSON(w, 404, []byte(`{"error":{"message":"The model '`+req.Model+`' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`))
			return
		}
		if req.Stream {
			writeSSE(w, fixture(t, "stream_text.sse"))
			return
		}
		writeJSON(w, 200, fixture(t, "completion.json"))
	})
}

func TestConformance(t *testing.T) {
	bin := buildPlugin(t)
	up := conformanceUpstream(t)
	providertest.Run(t, bin, providertest.Options{
		Config: provider.Config{Instance: "openai", Settings: json.RawMessage(settingsFor(up.URL, `"timeout_ms":20000`)),
			Secrets: map[string]string{"api_key": "sk-test-123456789"}},
		Model: "gpt-test",
		CancelRequest: &provider.Request{Model: "gpt-slow", Stream: true,
			Messages: []provider.Message{{Role: "user", Content: "count slowly"}}},
		FailRequests: []*provider.Request{
			{Model: "rate-limited", Messages: []provider.Message{{Role: "user", Content: "x"}}},
			{Model: "too-long", Messages: []provider.Message{{Role: "user", Content: "x"}}},
		},
		// OPENAI_API_KEY in the environment must not matter.
		Env: []string{"OPENAI_API_KEY=sk-from-env-0123456789"},
	})
	for _, r := range up.requests() {
		if a := r.Header.Get("Authorization"); a != "Bearer sk-test-123456789" {
			t.Errorf("%s %s: Authorization %q", r.Method, r.Path, a)
		}
	}
}
