package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// binDir holds the plugin binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-provider-openai-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build builds the plugin once per test run, for every test that starts it.
var build = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "switchyard-provider-openai")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchyard-provider-openai").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// buildPlugin returns the plugin binary.
func buildPlugin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startPlugin runs the plugin binary as the host does and returns the host's side of it,
// configured with settings; the plugin is killed when the test ends.
func startPlugin(t *testing.T, settings string) provider.Provider {
	t.Helper()
	bin := buildPlugin(t)
	var stderr bytes.Buffer
	var mu sync.Mutex
	logTo := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return stderr.Write(p)
	})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.HandshakeConfig(),
		VersionedPlugins: pluginhost.VersionedPlugins(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  pluginhost.DialOptions(),
		StartTimeout:     10 * time.Second,
		Stderr:           logTo,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: logTo, Level: hclog.Warn}),
	})
	t.Cleanup(func() {
		client.Kill()
		if t.Failed() {
			mu.Lock()
			t.Logf("plugin stderr:\n%s", stderr.String())
			mu.Unlock()
		}
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	p := raw.(provider.Provider)
	if err := p.Configure(context.Background(), provider.Config{Instance: "openai", Settings: json.RawMessage(settings)}); err != nil {
		t.Fatal(err)
	}
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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

// TestBinaryResponses forwards a Responses body through the built binary: the client's
// bytes reach the upstream, and its answer (whole, and event by event) comes back over the
// real go-plugin transport with the typed fields beside it.
func TestBinaryResponses(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if bytes.Contains(body, []byte(`"stream":true`)) {
			writeSSE(w, fixture(t, "responses_stream.sse"))
			return
		}
		writeJSON(w, 200, fixture(t, "responses.json"))
	})
	p := startPlugin(t, settingsFor(up.URL, ""))
	ctx := context.Background()
	info, err := p.Info(ctx)
	if err != nil || !info.Native(provider.EndpointResponses) {
		t.Fatalf("Info = %+v, %v: not native for responses", info, err)
	}

	resp, err := p.Complete(ctx, responsesReq(responsesBody, false))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.RawBody, fixture(t, "responses.json")) || resp.Choices[0].Message.Content != "Let me check." ||
		resp.Choices[0].FinishReason != "tool_calls" || resp.Usage == nil || resp.Usage.TotalTokens != 123 {
		t.Errorf("Complete: %+v", resp)
	}
	if got := up.requests()[0]; got.Path != "/v1/responses" || string(got.Body) != responsesBody {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}

	stream := strings.Replace(responsesBody, `"store":false`, `"store":false,"stream":true`, 1)
	out := &sink{}
	usage, err := p.Stream(ctx, responsesReq(stream, true), out)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.rawEvents(); !bytes.Equal(got, fixture(t, "responses_stream.sse")) {
		t.Errorf("Stream: the raw events are not the upstream's:\n%s", got)
	}
	if out.text() != "Hi there!" || usage == nil || usage.TotalTokens != 48 {
		t.Errorf("Stream: text %q, usage %+v", out.text(), usage)
	}
	if got := up.requests()[1]; string(got.Body) != stream {
		t.Errorf("upstream got %s", got.Body)
	}
}
