package mock

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// connect serves a configured Mock over the SDK's in-memory gRPC connection.
func connect(t *testing.T, instance, settings string) provider.Provider {
	t.Helper()
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := p.Configure(context.Background(), provider.Config{Instance: instance, Settings: json.RawMessage(settings)}); err != nil {
		t.Fatal(err)
	}
	return p
}

func userReq(model, text string, md map[string]string) *provider.Request {
	return &provider.Request{ID: "req_1", Model: model, Metadata: md,
		Messages: []provider.Message{{Role: "system", Content: "be nice"}, {Role: "user", Content: text}}}
}

type sink struct {
	mu     sync.Mutex
	deltas []provider.Delta
	first  chan struct{}
}

func (s *sink) Send(c *provider.Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deltas = append(s.deltas, c.Choices...)
	if s.first != nil && len(s.deltas) == len(c.Choices) {
		close(s.first)
	}
	return nil
}

func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, d := range s.deltas {
		b.WriteString(d.Content)
	}
	return b.String()
}

func asError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want an in-band *provider.Error", err)
	}
	return pe
}

func TestCompleteModels(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":0}`)
	tests := []struct {
		name, model, prompt, want string
	}{
		{name: "small", model: "mock-small", prompt: "hi there", want: "Hello from mock-small. You said: hi there "},
		{name: "large", model: "mock-large", prompt: "hi there", want: "Hello from mock-large. You said: hi there "},
		{name: "echo", model: "mock-echo", prompt: "repeat me exactly", want: "repeat me exactly"},
		{name: "echo of nothing", model: "mock-echo", prompt: "", want: "(no user message)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Complete(context.Background(), userReq(tt.model, tt.prompt, nil))
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if !strings.HasPrefix(c.Message.Content, tt.want) || c.FinishReason != "stop" || c.Message.Role != "assistant" {
				t.Fatalf("got %+v, want content starting %q", c, tt.want)
			}
			u := resp.Usage
			if u == nil || u.PromptTokens == 0 || u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Fatalf("usage = %+v", u)
			}
			again, err := p.Complete(context.Background(), userReq(tt.model, tt.prompt, nil))
			if err != nil || again.Choices[0].Message.Content != c.Message.Content || *again.Usage != *u || again.ID != resp.ID {
				t.Fatalf("not deterministic: %+v vs %+v", again, resp)
			}
		})
	}
}

func TestAnswerShapes(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":0}`)
	tools := []provider.Tool{{Type: "function", Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)},
		{Type: "function", Name: "other"}}
	t.Run("json_object", func(t *testing.T) {
		req := userReq("mock-small", "give me json", nil)
		req.ResponseFormat = &provider.ResponseFormat{Type: "json_object"}
		resp, err := p.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid([]byte(resp.Choices[0].Message.Content)) {
			t.Fatalf("not JSON: %q", resp.Choices[0].Message.Content)
		}
	})
	t.Run("tool call by prompt", func(t *testing.T) {
		req := userReq("mock-small", "please call tool now", nil)
		req.Tools = tools
		resp, err := p.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Name != "get_weather" ||
			!json.Valid([]byte(c.Message.ToolCalls[0].Arguments)) || c.Message.ToolCalls[0].ID == "" {
			t.Fatalf("got %+v", c)
		}
	})
	t.Run("tool call by tool_choice", func(t *testing.T) {
		req := userReq("mock-small", "hi", nil)
		req.Tools = tools
		req.ToolChoice = json.RawMessage(`{"type":"function","function":{"name":"other"}}`)
		resp, err := p.Complete(context.Background(), req)
		if err != nil || resp.Choices[0].Message.ToolCalls[0].Name != "other" {
			t.Fatalf("got %+v, %v", resp, err)
		}
	})
	t.Run("tool call streamed", func(t *testing.T) {
		req := userReq("mock-small", "hi", map[string]string{"mock.tool_call": "true"})
		req.Tools = tools
		out := &sink{}
		if _, err := p.Stream(context.Background(), req, out); err != nil {
			t.Fatal(err)
		}
		var args, finish string
		for _, d := range out.deltas {
			for _, tc := range d.ToolCalls {
				args += tc.Arguments
			}
			if d.FinishReason != "" {
				finish = d.FinishReason
			}
		}
		if !json.Valid([]byte(args)) || finish != "tool_calls" {
			t.Fatalf("args %q finish %q", args, finish)
		}
	})
	t.Run("tools offered but not asked for", func(t *testing.T) {
		req := userReq("mock-small", "hello", nil)
		req.Tools = tools
		resp, err := p.Complete(context.Background(), req)
		if err != nil || len(resp.Choices[0].Message.ToolCalls) != 0 || resp.Choices[0].Message.Content == "" {
			t.Fatalf("got %+v, %v", resp, err)
		}
	})
	t.Run("max_tokens cuts with length", func(t *testing.T) {
		req := userReq("mock-small", "a long enough prompt to have many words in the reply", nil)
		req.MaxTokens = 5
		resp, err := p.Complete(context.Background(), req)
		if err != nil || resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens > 5 {
			t.Fatalf("got %+v usage %+v, %v", resp.Choices, resp.Usage, err)
		}
	})
	t.Run("reply override", func(t *testing.T) {
		resp, err := p.Complete(context.Background(), userReq("mock-small", "x", map[string]string{"mock.reply": "fixed"}))
		if err != nil || resp.Choices[0].Message.Content != "fixed" {
			t.Fatalf("got %+v, %v", resp, err)
		}
	})
	t.Run("context window", func(t *testing.T) {
		long := strings.Repeat("word ", 8000) // ~10,000 tokens
		_, err := p.Complete(context.Background(), userReq("mock-small", long, nil))
		if pe := asError(t, err); pe.Kind != provider.KindContextLengthExceeded || pe.UpstreamStatus != 400 {
			t.Fatalf("got %+v", pe)
		}
		if _, err := p.Complete(context.Background(), userReq("mock-large", long, nil)); err != nil {
			t.Fatalf("mock-large: %v", err)
		}
	})
}

func TestStreamWordByWord(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":1}`)
	req := userReq("mock-small", "stream this please", nil)
	whole, err := p.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := &sink{}
	usage, err := p.Stream(context.Background(), req, out)
	if err != nil {
		t.Fatal(err)
	}
	if out.text() != whole.Choices[0].Message.Content {
		t.Fatalf("streamed %q, whole %q", out.text(), whole.Choices[0].Message.Content)
	}
	if len(out.deltas) < 4 || out.deltas[0].Role != "assistant" || out.deltas[len(out.deltas)-1].FinishReason != "stop" {
		t.Fatalf("deltas = %+v", out.deltas)
	}
	if usage == nil || *usage != *whole.Usage {
		t.Fatalf("usage %+v, want %+v", usage, whole.Usage)
	}
}

func TestInjectedKinds(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":0}`)
	for _, k := range provider.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			md := map[string]string{"mock.fail": string(k), "mock.retry_after_ms": "1500"}
			_, err := p.Complete(context.Background(), userReq("mock-small", "x", md))
			pe := asError(t, err)
			if pe.Kind != k || pe.UpstreamStatus != upstreamStatus[k] || pe.Retryable != k.DefaultRetryable() {
				t.Fatalf("got %+v", pe)
			}
			if k == provider.KindRateLimited && pe.RetryAfter != 1500*time.Millisecond {
				t.Fatalf("retry after = %v", pe.RetryAfter)
			}
			_, err = p.Stream(context.Background(), userReq("mock-small", "x", md), &sink{})
			if pe := asError(t, err); pe.Kind != k || pe.OutputStarted {
				t.Fatalf("stream: got %+v", pe)
			}
		})
	}
}

func TestTargeting(t *testing.T) {
	p := connect(t, "mock-a", `{"chunk_delay_ms":0}`)
	tests := []struct {
		name  string
		model string
		md    map[string]string
		fails bool
	}{
		{name: "all models", model: "mock-large", md: map[string]string{"mock.fail": "upstream_unavailable"}, fails: true},
		{name: "listed model", model: "mock-small", md: map[string]string{"mock.fail": "upstream_unavailable", "mock.fail_models": "mock-echo, mock-small"}, fails: true},
		{name: "other model", model: "mock-large", md: map[string]string{"mock.fail": "upstream_unavailable", "mock.fail_models": "mock-small"}},
		{name: "listed instance", model: "mock-small", md: map[string]string{"mock.fail": "rate_limited", "mock.fail_instances": "mock-a"}, fails: true},
		{name: "other instance", model: "mock-small", md: map[string]string{"mock.fail": "rate_limited", "mock.fail_instances": "mock-b"}},
		{name: "unknown model", model: "gpt-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Complete(context.Background(), userReq(tt.model, "x", tt.md))
			switch {
			case tt.md == nil:
				if pe := asError(t, err); pe.Kind != provider.KindNotFound || pe.UpstreamStatus != 404 {
					t.Fatalf("got %+v", pe)
				}
			case tt.fails && err == nil, !tt.fails && err != nil:
				t.Fatalf("err = %v, want failure=%v", err, tt.fails)
			}
		})
	}
}

func TestFailTimes(t *testing.T) {
	p := connect(t, "mock", `{"fail":"rate_limited","fail_times":2,"retry_after_ms":10}`)
	var kinds []string
	for range 4 {
		_, err := p.Complete(context.Background(), userReq("mock-small", "x", nil))
		if err != nil {
			kinds = append(kinds, string(asError(t, err).Kind))
		} else {
			kinds = append(kinds, "ok")
		}
	}
	if got := strings.Join(kinds, ","); got != "rate_limited,rate_limited,ok,ok" {
		t.Fatalf("got %s", got)
	}
}

func TestStreamFailures(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":1}`)
	t.Run("mid_stream", func(t *testing.T) {
		out := &sink{}
		usage, err := p.Stream(context.Background(), userReq("mock-small", "a b c d e f", map[string]string{"mock.fail": "mid_stream", "mock.fail_after_chunks": "3"}), out)
		pe := asError(t, err)
		if pe.Kind != provider.KindUpstreamUnavailable || !pe.OutputStarted || len(out.deltas) != 3 || usage == nil {
			t.Fatalf("got %+v after %d deltas, usage %+v", pe, len(out.deltas), usage)
		}
	})
	t.Run("empty", func(t *testing.T) {
		resp, err := p.Complete(context.Background(), userReq("mock-small", "x", map[string]string{"mock.fail": "empty"}))
		if err != nil || resp.Choices[0].Message.Content != "" || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("got %+v, %v", resp, err)
		}
		out := &sink{}
		if _, err := p.Stream(context.Background(), userReq("mock-small", "x", map[string]string{"mock.fail": "empty"}), out); err != nil || out.text() != "" {
			t.Fatalf("stream: %q, %v", out.text(), err)
		}
	})
	for _, mode := range []string{"stall", "hang"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out := &sink{first: make(chan struct{})}
			done := make(chan error, 1)
			go func() {
				_, err := p.Stream(ctx, userReq("mock-small", "x y z", map[string]string{"mock.fail": mode, "mock.fail_after_chunks": "1"}), out)
				done <- err
			}()
			if mode == "stall" {
				<-out.first
			}
			select {
			case err := <-done:
				t.Fatalf("returned before cancel: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			cancel()
			select {
			case err := <-done:
				if pe := asError(t, err); pe.Kind != provider.KindCancelled {
					t.Fatalf("got %+v", pe)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("did not return after cancel")
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		if err := connect(t, "mock", "").CheckHealth(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail_health", func(t *testing.T) {
		if err := connect(t, "mock", `{"fail_health":true}`).CheckHealth(context.Background()); err == nil {
			t.Fatal("healthy")
		}
	})
	t.Run("hang_health by request", func(t *testing.T) {
		p := connect(t, "mock", "")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _ = p.Complete(ctx, userReq("mock-small", "x", map[string]string{"mock.fail": "hang", "mock.hang_health": "true"}))
		hctx, hcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer hcancel()
		if err := p.CheckHealth(hctx); err == nil {
			t.Fatal("health answered")
		}
	})
}

func TestBadKnobs(t *testing.T) {
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, s := range []string{`{"nope":1}`, `{"fail":"explode"}`, `{"chunk_delay_ms":-1}`, `{"chunk_delay_ms":"5"}`} {
		if err := p.Configure(context.Background(), provider.Config{Settings: json.RawMessage(s)}); err == nil {
			t.Errorf("settings %s accepted", s)
		}
	}
	for _, md := range []map[string]string{{"mock.fail": "explode"}, {"mock.chunk_delay_ms": "soon"}, {"mock.nope": "1"}} {
		_, err := p.Complete(context.Background(), userReq("mock-small", "x", md))
		if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest {
			t.Errorf("metadata %v: got %+v", md, pe)
		}
	}
	// Other metadata passes untouched.
	if _, err := p.Complete(context.Background(), userReq("mock-small", "x", map[string]string{"tier": "free"})); err != nil {
		t.Fatal(err)
	}
}
