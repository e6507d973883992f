package pluginhost_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/internal/handshake"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// fake is a provider.Provider whose behaviour each test sets.
type fake struct {
	complete func(ctx context.Context, req *provider.Request) (*provider.Response, error)
	stream   func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error)
	health   func(ctx context.Context) error
	mu       sync.Mutex
	cfg      provider.Config
}

func (f *fake) Info(context.Context) (provider.Info, error) {
	return provider.Info{Name: "fake", Version: "1.2.3", Capabilities: []string{"stream"},
		Models: []provider.ModelInfo{{ID: "m1", ContextWindow: 8192, Capabilities: []string{"tools"}}}}, nil
}

func (f *fake) Configure(_ context.Context, cfg provider.Config) error {
	if string(cfg.Settings) == `{"bad":true}` {
		return errors.New("bad settings")
	}
	f.mu.Lock()
	f.cfg = cfg
	f.mu.Unlock()
	return nil
}

func (f *fake) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	return f.complete(ctx, req)
}

func (f *fake) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	return f.stream(ctx, req, out)
}

func (f *fake) CheckHealth(ctx context.Context) error {
	if f.health == nil {
		return nil
	}
	return f.health(ctx)
}

// connect serves impl over go-plugin's in-memory gRPC connection, with the glue
// provider.Serve registers, and returns the host-side provider.Provider that
// VersionedPlugins makes go-plugin dispense.
func connect(t *testing.T, impl provider.Provider) provider.Provider {
	t.Helper()
	conn, server := plugin.TestGRPCConn(t, func(s *grpc.Server) {
		if err := handshake.NewPlugin(impl).GRPCServer(nil, s); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		_ = conn.Close()
		server.Stop()
	})
	glue, ok := pluginhost.VersionedPlugins()[pluginhost.ProtocolVersion][pluginhost.PluginName].(plugin.GRPCPlugin)
	if !ok {
		t.Fatal("VersionedPlugins has no gRPC plugin under PluginName")
	}
	raw, err := glue.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := raw.(provider.Provider)
	if !ok {
		t.Fatalf("dispensed %T, want a Provider", raw)
	}
	return p
}

type collect struct {
	mu     sync.Mutex
	chunks []*provider.Chunk
	err    error
}

func (c *collect) Send(ch *provider.Chunk) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, ch)
	return c.err
}

func (c *collect) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, ch := range c.chunks {
		for _, d := range ch.Choices {
			b.WriteString(d.Content)
		}
	}
	return b.String()
}

func TestInfoAndConfigure(t *testing.T) {
	f := &fake{}
	p := connect(t, f)
	ctx := context.Background()
	info, err := p.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "fake" || len(info.Models) != 1 || info.Models[0].ContextWindow != 8192 {
		t.Fatalf("info = %+v", info)
	}
	cfg := provider.Config{Instance: "mock-a", Settings: []byte(`{"x":1}`), Secrets: map[string]string{"api_key": "s"}, HostVersion: "v0"}
	if err := p.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	got := f.cfg
	f.mu.Unlock()
	if got.Instance != "mock-a" || string(got.Settings) != `{"x":1}` || got.Secrets["api_key"] != "s" || got.HostVersion != "v0" {
		t.Fatalf("configured with %+v", got)
	}
	err = p.Configure(ctx, provider.Config{Settings: []byte(`{"bad":true}`)})
	if status.Code(err) != codes.InvalidArgument || !pluginhost.IsTransportError(err) {
		t.Fatalf("bad configure: %v", err)
	}
}

func TestComplete(t *testing.T) {
	temp := 0.5
	tests := []struct {
		name     string
		fn       func(ctx context.Context, req *provider.Request) (*provider.Response, error)
		want     string
		wantKind provider.Kind
		wantCode codes.Code
	}{
		{
			name: "answer",
			fn: func(_ context.Context, req *provider.Request) (*provider.Response, error) {
				if req.Temperature == nil || *req.Temperature != temp || req.TopP != nil {
					return nil, provider.NewError(provider.KindInvalidRequest, "sampling lost")
				}
				return &provider.Response{ID: "r1", Model: req.Model, Choices: []provider.Choice{{
					Message: provider.Message{Role: "assistant", Content: "hi " + req.Messages[0].Content}, FinishReason: "stop",
				}}, Usage: &provider.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}}, nil
			},
			want: "hi there",
		},
		{
			name: "in-band error",
			fn: func(context.Context, *provider.Request) (*provider.Response, error) {
				return nil, &provider.Error{Kind: provider.KindRateLimited, Message: "slow down", Retryable: true, UpstreamStatus: 429, RetryAfter: 1500 * time.Millisecond}
			},
			wantKind: provider.KindRateLimited,
		},
		{
			name: "wrapped in-band error",
			fn: func(context.Context, *provider.Request) (*provider.Response, error) {
				return nil, errors.Join(errors.New("context"), provider.NewError(provider.KindNotFound, "no model %q", "x"))
			},
			wantKind: provider.KindNotFound,
		},
		{
			name:     "plain error is a transport error",
			fn:       func(context.Context, *provider.Request) (*provider.Response, error) { return nil, errors.New("boom") },
			wantCode: codes.Internal,
		},
		{
			name:     "nil response",
			fn:       func(context.Context, *provider.Request) (*provider.Response, error) { return nil, nil },
			wantCode: codes.Internal,
		},
		{
			name:     "panic",
			fn:       func(context.Context, *provider.Request) (*provider.Response, error) { panic("kaboom") },
			wantCode: codes.Internal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := connect(t, &fake{complete: tt.fn})
			req := &provider.Request{Model: "m1", Messages: []provider.Message{{Role: "user", Content: "there"}}, Temperature: &temp}
			resp, err := p.Complete(context.Background(), req)
			switch {
			case tt.wantCode != codes.OK:
				if resp != nil || !pluginhost.IsTransportError(err) || status.Code(err) != tt.wantCode {
					t.Fatalf("got (%v, %v), want transport error %v", resp, err, tt.wantCode)
				}
				if tt.name == "panic" && !strings.Contains(err.Error(), "kaboom") {
					t.Fatalf("panic message lost: %v", err)
				}
			case tt.wantKind != "":
				var pe *provider.Error
				if resp != nil || !errors.As(err, &pe) || pe.Kind != tt.wantKind || pluginhost.IsTransportError(err) {
					t.Fatalf("got (%v, %v), want in-band %s", resp, err, tt.wantKind)
				}
				if tt.wantKind == provider.KindRateLimited && (pe.RetryAfter != 1500*time.Millisecond || !pe.Retryable || pe.UpstreamStatus != 429) {
					t.Fatalf("error fields lost: %+v", pe)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.Choices[0].Message.Content; got != tt.want || resp.Usage.TotalTokens != 3 {
					t.Fatalf("got %q usage %+v", got, resp.Usage)
				}
			}
			// The plugin survives whatever happened.
			if err := p.CheckHealth(context.Background()); err != nil {
				t.Fatalf("after call: %v", err)
			}
		})
	}
}

func TestStream(t *testing.T) {
	words := []string{"one ", "two ", "three"}
	send := func(out provider.ChunkSender, n int) error {
		for _, w := range words[:n] {
			if err := out.Send(&provider.Chunk{ID: "c1", Choices: []provider.Delta{{Content: w}}}); err != nil {
				return err
			}
		}
		return nil
	}
	tests := []struct {
		name          string
		fn            func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error)
		wantText      string
		wantUsage     bool
		wantKind      provider.Kind
		wantStarted   bool
		wantTransport bool
	}{
		{
			name: "deltas then usage",
			fn: func(_ context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
				return &provider.Usage{TotalTokens: 3}, send(out, 3)
			},
			wantText: "one two three", wantUsage: true,
		},
		{
			name: "no usage",
			fn: func(_ context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
				return nil, send(out, 1)
			},
			wantText: "one ",
		},
		{
			name: "failure before output",
			fn: func(context.Context, *provider.Request, provider.ChunkSender) (*provider.Usage, error) {
				return nil, provider.NewError(provider.KindUpstreamUnavailable, "overloaded")
			},
			wantKind: provider.KindUpstreamUnavailable,
		},
		{
			name: "failure after output marks output started",
			fn: func(_ context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
				_ = send(out, 2)
				return &provider.Usage{TotalTokens: 2}, provider.NewError(provider.KindUpstreamUnavailable, "connection reset")
			},
			wantText: "one two ", wantUsage: true, wantKind: provider.KindUpstreamUnavailable, wantStarted: true,
		},
		{
			name: "panic mid-stream",
			fn: func(_ context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
				_ = send(out, 1)
				panic("stream kaboom")
			},
			wantText: "one ", wantTransport: true,
		},
		{
			name: "plain error",
			fn: func(context.Context, *provider.Request, provider.ChunkSender) (*provider.Usage, error) {
				return nil, errors.New("bug")
			},
			wantTransport: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := connect(t, &fake{stream: tt.fn})
			out := &collect{}
			usage, err := p.Stream(context.Background(), &provider.Request{Model: "m1", Stream: true}, out)
			if got := out.text(); got != tt.wantText {
				t.Errorf("text = %q, want %q", got, tt.wantText)
			}
			if (usage != nil) != tt.wantUsage {
				t.Errorf("usage = %+v, want present=%v", usage, tt.wantUsage)
			}
			switch {
			case tt.wantTransport:
				if !pluginhost.IsTransportError(err) || status.Code(err) != codes.Internal {
					t.Fatalf("err = %v, want a codes.Internal transport error", err)
				}
			case tt.wantKind != "":
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Kind != tt.wantKind || pe.OutputStarted != tt.wantStarted {
					t.Fatalf("err = %#v, want %s output_started=%v", err, tt.wantKind, tt.wantStarted)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestStreamCancellation(t *testing.T) {
	serverDone := make(chan struct{})
	p := connect(t, &fake{stream: func(ctx context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
		defer close(serverDone)
		_ = out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: "a"}}})
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	out := &collect{}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Stream(ctx, &provider.Request{}, out)
		errc <- err
	}()
	for out.text() == "" {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindCancelled || pluginhost.IsTransportError(err) {
			t.Fatalf("err = %v, want in-band cancelled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Stream did not return after cancel")
	}
	select {
	case <-serverDone:
	case <-time.After(2 * time.Second):
		t.Fatal("the plugin's context was not cancelled")
	}
}

func TestCompleteDeadline(t *testing.T) {
	p := connect(t, &fake{complete: func(ctx context.Context, _ *provider.Request) (*provider.Response, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Complete(ctx, &provider.Request{})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindUpstreamTimeout {
		t.Fatalf("err = %v, want upstream_timeout", err)
	}
}

func TestStreamReceiverGone(t *testing.T) {
	stopped := make(chan error, 1)
	p := connect(t, &fake{stream: func(ctx context.Context, _ *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
		for {
			if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: "x"}}}); err != nil {
				stopped <- err
				return nil, err
			}
			time.Sleep(time.Millisecond)
		}
	}})
	out := &collect{err: errors.New("client went away")}
	_, err := p.Stream(context.Background(), &provider.Request{}, out)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindCancelled {
		t.Fatalf("err = %v, want cancelled", err)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("the plugin kept sending after the receiver left")
	}
}

// rawServer breaks the protocol: its stream ends without a final chunk.
type rawServer struct {
	providerv1.UnimplementedProviderServer
}

func (rawServer) Stream(_ *providerv1.ChatRequest, s providerv1.Provider_StreamServer) error {
	return s.Send(&providerv1.ChatChunk{Choices: []*providerv1.ChoiceDelta{{Content: "partial"}}})
}

func (rawServer) Complete(context.Context, *providerv1.ChatRequest) (*providerv1.ChatResponse, error) {
	return &providerv1.ChatResponse{Error: &providerv1.ProviderError{Kind: 99, Message: "from the future"}}, nil
}

func TestProtocolViolations(t *testing.T) {
	conn, server := plugin.TestGRPCConn(t, func(s *grpc.Server) {
		providerv1.RegisterProviderServer(s, rawServer{})
	})
	t.Cleanup(func() {
		_ = conn.Close()
		server.Stop()
	})
	p := pluginhost.NewClient(conn)

	t.Run("stream without final chunk", func(t *testing.T) {
		out := &collect{}
		_, err := p.Stream(context.Background(), &provider.Request{}, out)
		if !pluginhost.IsTransportError(err) || status.Code(err) != codes.DataLoss {
			t.Fatalf("err = %v, want a DataLoss transport error", err)
		}
		if out.text() != "partial" {
			t.Fatalf("text = %q", out.text())
		}
	})
	t.Run("unknown error kind", func(t *testing.T) {
		_, err := p.Complete(context.Background(), &provider.Request{})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindInternal || pe.Message != "from the future" {
			t.Fatalf("err = %v, want internal", err)
		}
	})
	t.Run("unimplemented method", func(t *testing.T) {
		err := p.CheckHealth(context.Background())
		if !pluginhost.IsTransportError(err) || status.Code(err) != codes.Unimplemented {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCheckHealth(t *testing.T) {
	p := connect(t, &fake{health: func(context.Context) error { return errors.New("upstream down") }})
	err := p.CheckHealth(context.Background())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindUpstreamUnavailable || !strings.Contains(pe.Message, "upstream down") {
		t.Fatalf("err = %v", err)
	}
}

func TestIsTransportError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"in-band", provider.NewError(provider.KindRateLimited, "slow down"), false},
		{"wrapped in-band", fmt.Errorf("call: %w", provider.NewError(provider.KindCancelled, "gone")), false},
		{"gRPC status", status.Error(codes.Unavailable, "connection refused"), true},
		{"plain error", errors.New("boom"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pluginhost.IsTransportError(tc.err); got != tc.want {
				t.Errorf("IsTransportError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
