// Package providertest checks that a provider plugin keeps protocol v1. Run starts a
// plugin binary (written in any language) the way the host does and runs the conformance
// checks against it; Connect serves a Go implementation in process for unit tests.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// Options tell the suite how to use the plugin under test.
type Options struct {
	// Config is what Configure receives (instance name, settings JSON, secrets).
	Config provider.Config
	// Model is a model the configured plugin serves. Required.
	Model string
	// Prompt is the user message of the test requests; default "Say hello in a few words."
	Prompt string
	// Metadata is added to every request (for example a pace setting of a mock).
	Metadata map[string]string

	// NoStream skips the streaming checks, for plugins without the "stream" capability.
	NoStream bool
	// NoUsage skips the checks that usage is reported.
	NoUsage bool
	// NoUnknownModel skips the check that an unknown model is refused in-band.
	NoUnknownModel bool
	// UnknownModel is the model name that must be refused; default
	// "providertest-no-such-model".
	UnknownModel string
	// CancelRequest, when set, is the request used for the mid-stream cancellation check;
	// it should stream long enough to be cancelled. Default: the test request.
	CancelRequest *provider.Request
	// FailRequests are requests that must fail in-band with a valid kind (for example a
	// request the plugin cannot serve), checked with both Complete and Stream.
	FailRequests []*provider.Request

	// StartTimeout bounds the plugin's start; default 10 s.
	StartTimeout time.Duration
	// CallTimeout bounds each call; default 30 s.
	CallTimeout time.Duration
	// Env is added to the plugin's environment ("NAME=value" each). Like the router, the
	// suite gives a plugin only PATH, HOME and TMPDIR (those that are set) of its own
	// environment, plus go-plugin's variables.
	Env []string
}

func (o *Options) defaults() {
	if o.Prompt == "" {
		o.Prompt = "Say hello in a few words."
	}
	if o.UnknownModel == "" {
		o.UnknownModel = "providertest-no-such-model"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
}

// Run starts the plugin at binaryPath as the host does (handshake, protocol v1, 64 MiB
// limits, the router's minimal environment, killed with the test process on Linux) and
// checks it in subtests: GetInfo,
// Configure, CheckHealth, Complete, Stream, usage, cancellation and in-band errors. The
// plugin is stopped when Run returns. Its stderr tail is logged when a check fails.
func Run(t *testing.T, binaryPath string, opts Options) {
	t.Helper()
	opts.defaults()
	if opts.Model == "" {
		t.Fatal("providertest: Options.Model is required")
	}
	stderr := &tail{max: 16 << 10}
	cmd := exec.Command(binaryPath)
	for _, name := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(name); ok {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	setPdeathsig(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.HandshakeConfig(),
		VersionedPlugins: pluginhost.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  pluginhost.DialOptions(),
		SkipHostEnv:      true,
		StartTimeout:     opts.StartTimeout,
		Stderr:           stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "providertest", Output: stderr, Level: hclog.Warn}),
	})
	defer client.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("plugin stderr (tail):\n%s", stderr.String())
		}
	}()

	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake: starting %s: %v", binaryPath, err)
	}
	if v := client.NegotiatedVersion(); v != pluginhost.ProtocolVersion {
		t.Fatalf("handshake: negotiated protocol %d, want %d", v, pluginhost.ProtocolVersion)
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		t.Fatalf("handshake: dispense %q: %v", pluginhost.PluginName, err)
	}
	p, ok := raw.(provider.Provider)
	if !ok {
		t.Fatalf("handshake: dispensed %T, not a provider.Provider", raw)
	}
	var rawClient providerv1.ProviderClient
	if g, ok := rpc.(*plugin.GRPCClient); ok {
		rawClient = providerv1.NewProviderClient(g.Conn)
	}
	s := &suite{p: p, raw: rawClient, opts: opts}

	// Configure first: nothing else makes sense without it.
	if !t.Run("GetInfo", s.getInfo) || !t.Run("Configure", s.configure) {
		return
	}
	t.Run("CheckHealth", s.checkHealth)
	t.Run("Complete", s.complete)
	if !opts.NoStream {
		t.Run("Stream", s.stream)
		t.Run("StreamFinalChunk", s.streamFinalChunk)
		t.Run("StreamCancel", s.streamCancel)
	}
	if !opts.NoUnknownModel {
		t.Run("UnknownModelInBand", s.unknownModel)
	}
	for i, req := range opts.FailRequests {
		t.Run("FailureInBand/"+strconv.Itoa(i), func(t *testing.T) { s.failInBand(t, req) })
	}
	t.Run("HealthyAfterwards", s.checkHealth)
}

type suite struct {
	p    provider.Provider
	raw  providerv1.ProviderClient
	opts Options
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CallTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) request(model string, stream bool) *provider.Request {
	md := map[string]string{}
	for k, v := range s.opts.Metadata {
		md[k] = v
	}
	return &provider.Request{
		ID:           "providertest",
		Model:        model,
		Messages:     []provider.Message{{Role: "user", Content: s.opts.Prompt}},
		MaxTokens:    256,
		IncludeUsage: true,
		Stream:       stream,
		Metadata:     md,
	}
}

func (s *suite) getInfo(t *testing.T) {
	info, err := s.p.Info(s.ctx(t))
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.Name == "" {
		t.Error("GetInfo: empty name")
	}
	if info.Name != strings.ToLower(info.Name) || strings.ContainsAny(info.Name, " \t") {
		t.Errorf("GetInfo: name %q should be short and lowercase", info.Name)
	}
	for _, m := range info.Models {
		if m.ID == "" || m.ContextWindow < 0 {
			t.Errorf("GetInfo: bad model %+v", m)
		}
	}
}

func (s *suite) configure(t *testing.T) {
	if err := s.p.Configure(s.ctx(t), s.opts.Config); err != nil {
		t.Fatalf("Configure: %v", err)
	}
}

func (s *suite) checkHealth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := s.p.CheckHealth(ctx); err != nil {
		t.Fatalf("CheckHealth after %v: %v", time.Since(start), err)
	}
}

func (s *suite) complete(t *testing.T) {
	resp, err := s.p.Complete(s.ctx(t), s.request(s.opts.Model, false))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if len(resp.Choices) == 0 {
		t.Fatal("Complete: no choices")
	}
	c := resp.Choices[0]
	if c.Message.Content == "" && len(c.Message.ToolCalls) == 0 {
		t.Error("Complete: the first choice has neither content nor tool calls")
	}
	if c.FinishReason == "" {
		t.Error("Complete: no finish reason")
	}
	if !s.opts.NoUsage {
		checkUsage(t, "Complete", resp.Usage)
	}
}

func checkUsage(t *testing.T, what string, u *provider.Usage) {
	t.Helper()
	switch {
	case u == nil:
		t.Errorf("%s: no usage reported", what)
	case u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < u.PromptTokens:
		t.Errorf("%s: inconsistent usage %+v", what, u)
	}
}

type recorder struct {
	mu     sync.Mutex
	deltas int
	text   strings.Builder
	first  chan struct{}
}

func (r *recorder) Send(c *provider.Chunk) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deltas++
	for _, d := range c.Choices {
		r.text.WriteString(d.Content)
	}
	if r.deltas == 1 && r.first != nil {
		close(r.first)
	}
	return nil
}

func (s *suite) stream(t *testing.T) {
	rec := &recorder{}
	usage, err := s.p.Stream(s.ctx(t), s.request(s.opts.Model, true), rec)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if rec.deltas == 0 {
		t.Error("Stream: no delta before the end")
	}
	if !s.opts.NoUsage {
		checkUsage(t, "Stream with include_usage", usage)
	}
}

// streamFinalChunk reads the raw protocol: deltas with final=false, then exactly one
// final chunk, then the end of the stream.
func (s *suite) streamFinalChunk(t *testing.T) {
	if s.raw == nil {
		t.Skip("no raw gRPC connection")
	}
	ctx := s.ctx(t)
	req := s.request(s.opts.Model, true)
	st, err := s.raw.Stream(ctx, protoRequest(req))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	deltas, finals := 0, 0
	for {
		c, err := st.Recv()
		if err != nil {
			if finals == 0 {
				t.Fatalf("stream ended without a final chunk after %d deltas: %v", deltas, err)
			}
			if !isEOF(err) {
				t.Fatalf("after the final chunk: %v", err)
			}
			break
		}
		if c.GetFinal() {
			finals++
			if finals > 1 {
				t.Fatal("more than one final chunk")
			}
			if c.GetError() != nil {
				t.Fatalf("final chunk carries an error: %v", c.GetError())
			}
			continue
		}
		if finals > 0 {
			t.Fatal("a delta after the final chunk")
		}
		if c.GetError() != nil || c.GetUsage() != nil {
			t.Error("a non-final chunk carries usage or an error")
		}
		deltas++
	}
	if deltas == 0 {
		t.Error("no delta before the final chunk")
	}
}

func (s *suite) streamCancel(t *testing.T) {
	req := s.opts.CancelRequest
	if req == nil {
		req = s.request(s.opts.Model, true)
	}
	ctx, cancel := context.WithCancel(s.ctx(t))
	defer cancel()
	rec := &recorder{first: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.p.Stream(ctx, req, rec)
		done <- err
	}()
	select {
	case <-rec.first:
	case err := <-done:
		t.Fatalf("stream ended before its first delta: %v", err)
	case <-time.After(s.opts.CallTimeout):
		t.Fatal("no first delta")
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil && pluginhost.IsTransportError(err) {
			t.Errorf("after cancel: a transport error: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Stream did not return within 2s of cancellation")
	}
	t.Logf("returned %v after cancel", time.Since(start))
}

func (s *suite) unknownModel(t *testing.T) {
	s.failInBand(t, s.request(s.opts.UnknownModel, false))
}

func (s *suite) failInBand(t *testing.T, req *provider.Request) {
	t.Run("Complete", func(t *testing.T) {
		resp, err := s.p.Complete(s.ctx(t), req)
		checkInBand(t, resp != nil, err)
	})
	if s.opts.NoStream {
		return
	}
	t.Run("Stream", func(t *testing.T) {
		_, err := s.p.Stream(s.ctx(t), req, &recorder{})
		checkInBand(t, false, err)
	})
}

func checkInBand(t *testing.T, answered bool, err error) {
	t.Helper()
	var pe *provider.Error
	switch {
	case err == nil || answered:
		t.Fatalf("got an answer, want an in-band error")
	case !errors.As(err, &pe):
		t.Fatalf("got a transport error, want an in-band *provider.Error: %v", err)
	case !pe.Kind.Valid():
		t.Fatalf("in-band error with invalid kind %q", pe.Kind)
	case pe.Message == "":
		t.Errorf("in-band %s error without a message", pe.Kind)
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// protoRequest encodes the fields of the suite's requests for the raw protocol checks.
func protoRequest(r *provider.Request) *providerv1.ChatRequest {
	out := &providerv1.ChatRequest{
		RequestId:    r.ID,
		Model:        r.Model,
		MaxTokens:    r.MaxTokens,
		IncludeUsage: r.IncludeUsage,
		Metadata:     r.Metadata,
		Stream:       r.Stream,
	}
	for _, m := range r.Messages {
		out.Messages = append(out.Messages, &providerv1.Message{Role: m.Role, Content: m.Content})
	}
	return out
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if over := w.buf.Len() - w.max; over > 0 {
		w.buf.Next(over)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
