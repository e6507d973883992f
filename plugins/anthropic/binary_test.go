package anthropic

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// fakeAnthropic answers like the Messages API: claude-test answers (streams word by word,
// slowly for the "count slowly" prompt), claude-overloaded is overloaded (529) and any
// other model is not found.
func fakeAnthropic(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if r.URL.Path != "/v1/messages" || r.Header.Get("x-api-key") != testKey {
		writeJSON(w, 401, anthropicError("authentication_error", "invalid x-api-key"))
		return
	}
	switch body["model"] {
	case "claude-test":
	case "claude-overloaded":
		writeJSON(w, 529, anthropicError("overloaded_error", "Overloaded"))
		return
	default:
		writeJSON(w, 404, anthropicError("not_found_error", "model: "+quote(body["model"].(string))))
		return
	}
	if body["stream"] != true {
		writeJSON(w, 200, textMessage("claude-test", "Hello, world."))
		return
	}
	delay := time.Millisecond
	words := []string{"Hello", ",", " world", "."}
	if raw, _ := json.Marshal(body["messages"]); strings.Contains(string(raw), "count slowly") {
		delay = 100 * time.Millisecond
		words = append(words, " one", " two", " three", " four", " five", " six", " seven", " eight", " nine", " ten")
	}
	writeSSE(w, r, delay, textStream("claude-test", words...))
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "switchyard-provider-anthropic")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchyard-provider-anthropic").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := newUpstream(t, fakeAnthropic)
	providertest.Run(t, bin, providertest.Options{
		Config: provider.Config{Instance: "anthropic", Secrets: map[string]string{"api_key": testKey},
			Settings: json.RawMessage(`{"base_url":"` + up.URL + `","timeout_ms":20000}`)},
		Model: "claude-test",
		CancelRequest: &provider.Request{Model: "claude-test", Stream: true,
			Messages: []provider.Message{{Role: "user", Content: "count slowly"}}},
		FailRequests: []*provider.Request{
			{Model: "claude-overloaded", Messages: []provider.Message{{Role: "user", Content: "hi"}}},
			{Model: "claude-test", Messages: []provider.Message{{Role: "user", Content: "x"},
				{Role: "assistant", ToolCalls: []provider.ToolCall{{ID: "t1", Name: "f", Arguments: "{not json"}}}}},
		},
	})
}
