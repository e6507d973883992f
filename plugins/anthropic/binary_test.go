package anthropic

import (
	"bytes"
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

// binDir holds the plugin binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-provider-anthropic-test")
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
	bin := filepath.Join(binDir, "switchyard-provider-anthropic")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchyard-provider-anthropic").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func binary(t *testing.T) string {
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

func TestConformance(t *testing.T) {
	bin := binary(t)
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

// TestBinaryMessages forwards a Messages body through the built binary: the client's bytes
// reach the upstream, and its answer (whole, and event by event) comes back over the real
// go-plugin transport with the typed fields beside it.
func TestBinaryMessages(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		if body["stream"] == true {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			_, _ = w.Write(fixture(t, "stream.sse"))
			return
		}
		writeJSON(w, 200, string(fixture(t, "message.json")))
	})
	var stderr syncBuffer
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.HandshakeConfig(),
		VersionedPlugins: pluginhost.VersionedPlugins(),
		Cmd:              exec.Command(binary(t)),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  pluginhost.DialOptions(),
		StartTimeout:     10 * time.Second,
		Stderr:           &stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: &stderr, Level: hclog.Warn}),
	})
	defer client.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("plugin stderr:\n%s", stderr.String())
		}
	}()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	p := raw.(provider.Provider)
	ctx := ctxT(t)
	if err := p.Configure(ctx, provider.Config{Instance: "anthropic", Secrets: map[string]string{"api_key": testKey},
		Settings: json.RawMessage(`{"base_url":"` + up.URL + `"}`)}); err != nil {
		t.Fatal(err)
	}
	info, err := p.Info(ctx)
	if err != nil || !info.Native(provider.EndpointMessages) {
		t.Fatalf("Info = %+v, %v: not native for messages", info, err)
	}

	resp, err := p.Complete(ctx, messagesReq(messagesBody, false))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.RawBody) != string(fixture(t, "message.json")) || resp.Choices[0].FinishReason != "tool_calls" ||
		len(resp.Choices[0].Message.ToolCalls) != 1 || resp.Usage == nil || resp.Usage.CompletionTokens != 503 {
		t.Errorf("Complete: %+v", resp)
	}
	if got := up.last(t); string(got.Raw) != messagesBody || got.Header.Get("x-api-key") != testKey {
		t.Errorf("upstream got %s", got.Raw)
	}

	var s sink
	usage, err := p.Stream(ctx, messagesReq(messagesBody, true), &s)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.rawEvents(); got != string(fixture(t, "stream.sse")) {
		t.Errorf("Stream: the raw events are not the upstream's:\n%s", got)
	}
	if !strings.HasPrefix(s.text(), "Okay, let's") || usage == nil || usage.CompletionTokens != 89 {
		t.Errorf("Stream: text %q, usage %+v", s.text(), usage)
	}
}

// syncBuffer is a bytes.Buffer safe for the plugin client's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
