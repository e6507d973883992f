package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// binDir holds the plugin binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-provider-mock-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds the plugin once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir := binDir
	bin := filepath.Join(dir, "switchyard-provider-mock")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchyard-provider-mock").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestConformance(t *testing.T) {
	bin := binary(t)
	providertest.Run(t, bin, providertest.Options{
		Config: provider.Config{Instance: "mock", Settings: json.RawMessage(`{"chunk_delay_ms":1}`)},
		Model:  "mock-small",
		CancelRequest: &provider.Request{Model: "mock-large", Stream: true,
			Messages: []provider.Message{{Role: "user", Content: "count slowly"}},
			Metadata: map[string]string{"mock.chunk_delay_ms": "200"}},
		FailRequests: []*provider.Request{
			{Model: "mock-small", Metadata: map[string]string{"mock.fail": "rate_limited", "mock.retry_after_ms": "100"}},
			{Model: "mock-small", Messages: []provider.Message{{Role: "user", Content: strings.Repeat("long ", 9000)}}},
		},
	})
}

// TestCrash checks that an injected crash reaches the host as a transport error, with
// the plugin's last words on its stderr.
func TestCrash(t *testing.T) {
	p, client, stderr := start(t, binary(t), "")
	ctx := context.Background()
	_, err := p.Stream(ctx, &provider.Request{Model: "mock-small", Metadata: map[string]string{"mock.fail": "crash", "mock.fail_after_chunks": "1"}}, discard{})
	if !pluginhost.IsTransportError(err) || status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want an Unavailable transport error", err)
	}
	// Poll the process's state: go-plugin gives no exit channel. The bound is patience for
	// a loaded machine, not a claim about how fast a crash is noticed.
	deadline := time.Now().Add(30 * time.Second)
	for !client.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !client.Exited() {
		t.Fatal("plugin still running")
	}
	if !strings.Contains(stderr.String(), "mock: injected crash") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}

// start runs the plugin binary as the host does, configured as instance "mock" with
// settings, and returns the host's side of it; the plugin is killed when the test ends.
func start(t *testing.T, bin, settings string) (provider.Provider, *plugin.Client, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.HandshakeConfig(),
		VersionedPlugins: pluginhost.VersionedPlugins(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  pluginhost.DialOptions(),
		StartTimeout:     10 * time.Second,
		Stderr:           stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: stderr, Level: hclog.Warn}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	p := raw.(provider.Provider)
	if err := p.Configure(context.Background(), provider.Config{Instance: "mock", Settings: json.RawMessage(settings)}); err != nil {
		t.Fatal(err)
	}
	return p, client, stderr
}

// TestBinaryEmbed checks embeddings through the built binary: the plugin lists the kind
// and Embed answers over the real go-plugin transport, the same vectors as in process.
func TestBinaryEmbed(t *testing.T) {
	p, _, stderr := start(t, binary(t), `{"embedding_dimensions":32}`)
	ctx := context.Background()
	info, err := p.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Serves(provider.EndpointEmbeddings) {
		t.Fatalf("Info.Endpoints = %v, without embeddings", info.Endpoints)
	}
	e, ok := p.(provider.Embedder)
	if !ok {
		t.Fatalf("%T does not implement provider.Embedder", p)
	}
	resp, err := e.Embed(ctx, &provider.EmbedRequest{Model: "mock-embed", Input: []string{"hello world", "goodbye"}})
	if err != nil {
		t.Fatalf("Embed: %v\nstderr: %s", err, stderr.String())
	}
	if len(resp.Data) != 2 || resp.Usage == nil || resp.Usage.PromptTokens != 3+2 {
		t.Fatalf("got %d vectors, usage %+v", len(resp.Data), resp.Usage)
	}
	for i, d := range resp.Data {
		want := embedding("mock-embed", []string{"hello world", "goodbye"}[i], 32)
		if d.Index != i || !slices.Equal(d.Vector, want) {
			t.Errorf("data[%d] = %d: %v, want %v", i, d.Index, d.Vector, want)
		}
	}
	_, err = e.Embed(ctx, &provider.EmbedRequest{Model: "mock-embed", Input: []string{"x"},
		Extra: json.RawMessage(`{"metadata":{"mock.fail":"quota_exhausted"}}`)})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindQuotaExhausted {
		t.Fatalf("injected failure: %v, want an in-band quota_exhausted", err)
	}
}

type discard struct{}

func (discard) Send(*provider.Chunk) error { return nil }

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
