package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frames are the events of a recorded stream, one string each.
func frames(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, f := range strings.SplitAfter(string(fixture(t, name)), "\n\n") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s *sink) rawEvents() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, c := range s.chunks {
		b.Write(c.RawEvent)
	}
	return b.String()
}

// messagesBody is a client's Messages request as the host forwards it (model replaced),
// with fields the chat translation could not carry.
const messagesBody = `{"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
  "messages": [{"role": "user", "content": "Weather in SF?"}], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
  "thinking": {"type": "enabled", "budget_tokens": 1024}, "x_vendor": [1, 2.50]}`

func messagesReq(body string, stream bool) *provider.Request {
	return &provider.Request{ID: "req_1", Model: "claude-sonnet-4-5", Endpoint: provider.EndpointMessages, RawBody: []byte(body), Stream: stream,
		// The typed fields, the request translated to chat, are not what is sent.
		Messages: []provider.Message{{Role: "user", Content: "typed, must not be sent"}}}
}

func TestInfoEndpoints(t *testing.T) {
	info, err := New().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Endpoints, []string{provider.EndpointChat, provider.EndpointMessages, provider.EndpointCountTokens}) ||
		!info.Native(provider.EndpointMessages) || !info.Native(provider.EndpointCountTokens) || info.Native(provider.EndpointChat) || info.Native(provider.EndpointResponses) {
		t.Errorf("Info = %+v, want chat by translation and messages natively", info)
	}
}

func TestMessagesComplete(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeJSON(w, 200, string(fixture(t, "message.json")))
	})
	p := connect(t, up.URL, `,"beta":["interleaved-thinking-2025-05-14"],"headers":{"X-Team":"a"}`)
	resp, err := p.Complete(ctxT(t), messagesReq(messagesBody, false))
	if err != nil {
		t.Fatal(err)
	}
	got := up.last(t)
	if got.Method != http.MethodPost || got.Path != "/v1/messages" || string(got.Raw) != messagesBody {
		t.Errorf("upstream got %s %s:\n%s", got.Method, got.Path, got.Raw)
	}
	for k, want := range map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01",
		"anthropic-beta": "interleaved-thinking-2025-05-14", "X-Team": "a", "Content-Type": "application/json"} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if !bytes.Equal(resp.RawBody, fixture(t, "message.json")) {
		t.Errorf("RawBody is not the upstream's answer:\n%s", resp.RawBody)
	}
	want := provider.Message{Role: "assistant", Content: "Let me check the weather.", ToolCalls: []provider.ToolCall{
		{ID: "toolu_01A09q90qw90lq917835lq9", Type: "function", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "celsius"}`}}}
	gm, _ := json.Marshal(resp.Choices[0].Message)
	wm, _ := json.Marshal(want)
	if string(gm) != string(wm) || resp.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("message:\n got %s %q\nwant %s tool_calls", gm, resp.Choices[0].FinishReason, wm)
	}
	if resp.ID != "msg_01Aq9w938a90dw8q" || resp.Model != "claude-sonnet-4-5-20250929" {
		t.Errorf("id/model = %q %q", resp.ID, resp.Model)
	}
	wu := provider.Usage{PromptTokens: 3695, CompletionTokens: 503, TotalTokens: 4198, CachedPromptTokens: 1500, CacheWriteTokens: 100}
	if resp.Usage == nil || *resp.Usage != wu {
		t.Errorf("usage = %+v, want %+v", resp.Usage, wu)
	}
}

// TestCountTokens forwards a count_tokens body and reads the count as usage.
func TestCountTokens(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeJSON(w, 200, `{"input_tokens":2095}`)
	})
	p := connect(t, up.URL, "")
	body := `{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello"}]}`
	resp, err := p.Complete(ctxT(t), &provider.Request{Model: "claude-sonnet-4-5", Endpoint: provider.EndpointCountTokens, RawBody: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.last(t); got.Path != "/v1/messages/count_tokens" || string(got.Raw) != body || got.Header.Get("x-api-key") != testKey {
		t.Errorf("upstream got %s %s", got.Path, got.Raw)
	}
	if resp.Usage == nil || resp.Usage.PromptTokens != 2095 || string(resp.RawBody) != `{"input_tokens":2095}` || len(resp.Choices) != 0 {
		t.Errorf("answer %+v", resp)
	}
}

// TestMessagesStreamField checks that the body's stream field is made to agree with the
// RPC called, every other byte kept.
func TestMessagesStreamField(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
		raw    string
		want   string
	}{
		{name: "stream body to Stream", stream: true, raw: `{"model": "m", "stream": true, "max_tokens": 5}`, want: `{"model": "m", "stream": true, "max_tokens": 5}`},
		{name: "plain body to Stream", stream: true, raw: `{"model": "m", "max_tokens": 5}`, want: `{"model": "m", "max_tokens": 5,"stream":true}`},
		{name: "stream body to Complete", raw: `{"model": "m", "stream": true, "max_tokens": 5}`, want: `{"model": "m", "max_tokens": 5}`},
		{name: "plain body to Complete", raw: `{"model": "m", "max_tokens": 5}`, want: `{"model": "m", "max_tokens": 5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
				if tc.stream {
					writeSSE(w, r, 0, textStream("m", "Hi"))
				} else {
					writeJSON(w, 200, textMessage("m", "Hi"))
				}
			})
			p := connect(t, up.URL, "")
			var err error
			if tc.stream {
				_, err = p.Stream(ctxT(t), messagesReq(tc.raw, true), &sink{})
			} else {
				_, err = p.Complete(ctxT(t), messagesReq(tc.raw, false))
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(up.last(t).Raw); got != tc.want {
				t.Errorf("upstream body:\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMessagesStream(t *testing.T) {
	stream := fixture(t, "stream.sse")
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = w.Write(stream)
	})
	p := connect(t, up.URL, "")
	var s sink
	usage, err := p.Stream(ctxT(t), messagesReq(strings.Replace(messagesBody, `"max_tokens": 1024`, `"max_tokens": 1024, "stream": true`, 1), true), &s)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.rawEvents(); got != string(stream) {
		t.Errorf("the raw events are not the upstream's stream:\n%s", got)
	}
	ev := frames(t, "stream.sse")
	// message_start waits for the first content event and goes with it; the ping after it
	// is a chunk of its own, without a delta.
	if got := string(s.chunks[0].RawEvent); got != ev[0]+ev[1] || len(s.chunks[0].Choices) != 0 {
		t.Errorf("first chunk %q with %d deltas", got, len(s.chunks[0].Choices))
	}
	if got := string(s.chunks[1].RawEvent); got != ev[2] || len(s.chunks[1].Choices) != 0 {
		t.Errorf("second chunk %q", got)
	}
	last := s.chunks[len(s.chunks)-1]
	if string(last.RawEvent) != ev[len(ev)-1] || len(last.Choices) != 0 {
		t.Errorf("last chunk %q, want message_stop alone", last.RawEvent)
	}
	for _, c := range s.chunks {
		if c.ID != "msg_014p7gG3wDgGV9EUtLvnow3U" || c.Model != "claude-sonnet-4-5-20250929" || c.Created == 0 {
			t.Fatalf("chunk id/model/created = %q %q %d", c.ID, c.Model, c.Created)
		}
	}
	type tc = provider.ToolCall
	want := []provider.Delta{
		{Role: "assistant", Content: "Okay"},
		{Content: ", let's check the weather for San Francisco, CA:"},
		{ToolCalls: []tc{{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Type: "function", Name: "get_weather"}}},
		{ToolCalls: []tc{{Index: 0, Arguments: `{"location":`}}},
		{ToolCalls: []tc{{Index: 0, Arguments: ` "San Francisco, CA"}`}}},
		{FinishReason: "tool_calls"},
	}
	gb, _ := json.Marshal(s.deltas())
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("deltas:\n got %s\nwant %s", gb, wb)
	}
	wu := provider.Usage{PromptTokens: 600, CompletionTokens: 89, TotalTokens: 689, CachedPromptTokens: 128}
	if usage == nil || *usage != wu {
		t.Errorf("usage = %+v, want %+v", usage, wu)
	}
	if got := up.last(t); got.Body["stream"] != true || got.Path != "/v1/messages" {
		t.Errorf("upstream got %s %s", got.Path, got.Raw)
	}
}

func TestMessagesStreamFailures(t *testing.T) {
	ev := frames(t, "stream.sse")
	head := strings.Join(ev[:4], "") // message_start, block start, ping, "Okay"
	overloaded := "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n"
	tests := []struct {
		name          string
		body          string
		cut           bool
		kind          provider.Kind
		outputStarted bool
		msg           string
		wantRaw       string
	}{
		{name: "overloaded error event mid-stream", body: head + overloaded, kind: provider.KindUpstreamUnavailable, outputStarted: true, msg: "Overloaded", wantRaw: head},
		{name: "rate limit error event mid-stream", body: head + "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"rate_limit_error\", \"message\": \"Output tokens per minute exceeded\"}}\n\n",
			kind: provider.KindRateLimited, outputStarted: true, msg: "per minute", wantRaw: head},
		{name: "error event before any output", body: ev[0] + "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"api_error\", \"message\": \"Internal server error\"}}\n\n",
			kind: provider.KindUpstreamUnavailable, msg: "Internal server error", wantRaw: ""},
		{name: "clean end without message_stop", body: head, kind: provider.KindUpstreamUnavailable, outputStarted: true, msg: "message_stop", wantRaw: head},
		{name: "connection cut inside an event", body: head + ev[4][:30], cut: true, kind: provider.KindUpstreamUnavailable, outputStarted: true, wantRaw: head},
		{name: "an event that is not JSON", body: head + "event: content_block_delta\ndata: {\"type\": \n\n", kind: provider.KindUpstreamUnavailable, outputStarted: true, msg: "not valid JSON", wantRaw: head},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				w.WriteHeader(200)
				_, _ = w.Write([]byte(tt.body))
				if tt.cut {
					w.(http.Flusher).Flush()
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						_ = conn.Close()
					}
				}
			})
			p := connect(t, up.URL, "")
			var s sink
			usage, err := p.Stream(ctxT(t), messagesReq(messagesBody, true), &s)
			pe := asError(t, err)
			if pe.Kind != tt.kind || pe.OutputStarted != tt.outputStarted || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("got %s output_started=%v %q; want %s output_started=%v containing %q",
					pe.Kind, pe.OutputStarted, pe.Message, tt.kind, tt.outputStarted, tt.msg)
			}
			if pe.Retryable != tt.kind.DefaultRetryable() {
				t.Errorf("retryable = %v", pe.Retryable)
			}
			if got := s.rawEvents(); got != tt.wantRaw {
				t.Errorf("forwarded:\n%s\nwant:\n%s", got, tt.wantRaw)
			}
			if usage == nil || usage.PromptTokens != 600 {
				t.Errorf("usage = %+v, want the message_start counts", usage)
			}
		})
	}
}

func TestMessagesUpstreamErrors(t *testing.T) {
	for _, stream := range []bool{false, true} {
		up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("retry-after", "7")
			writeJSON(w, 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`)
		})
		p := connect(t, up.URL, "")
		var err error
		if stream {
			_, err = p.Stream(ctxT(t), messagesReq(messagesBody, true), &sink{})
		} else {
			_, err = p.Complete(ctxT(t), messagesReq(messagesBody, false))
		}
		if pe := asError(t, err); pe.Kind != provider.KindRateLimited || pe.UpstreamStatus != 429 || pe.RetryAfter.Seconds() != 7 || pe.OutputStarted {
			t.Errorf("stream=%v: got %+v", stream, pe)
		}
	}
	t.Run("body not an object", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {})
		_, err := connect(t, up.URL, "").Complete(ctxT(t), messagesReq(`[1]`, false))
		if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest || up.count() != 0 {
			t.Errorf("got %+v after %d calls", pe, up.count())
		}
	})
	t.Run("answer not JSON", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { writeJSON(w, 200, `<html>`) })
		_, err := connect(t, up.URL, "").Complete(ctxT(t), messagesReq(messagesBody, false))
		if pe := asError(t, err); pe.Kind != provider.KindUpstreamUnavailable {
			t.Errorf("got %+v", pe)
		}
	})
}

// TestMessagesWithoutBody: a messages request without RawBody (a host that translated it)
// is served by the typed translation, as any chat request.
func TestMessagesWithoutBody(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeJSON(w, 200, textMessage("claude-test", "Hi"))
	})
	req := userReq("claude-test", "hello")
	req.Endpoint = provider.EndpointMessages
	resp, err := connect(t, up.URL, "").Complete(ctxT(t), req)
	if err != nil || resp.RawBody != nil || resp.Choices[0].Message.Content != "Hi" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	jsonEq(t, "body", up.last(t).Body["messages"], `[{"role":"user","content":[{"type":"text","text":"hello"}]}]`)
}

func TestMessagesCancel(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(strings.Join(frames(t, "stream.sse")[:4], "")))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	p := connect(t, up.URL, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan struct{})
	s := &cancelSink{first: first}
	done := make(chan error, 1)
	go func() {
		_, err := p.Stream(ctx, messagesReq(messagesBody, true), s)
		done <- err
	}()
	<-first
	cancel()
	if pe := asError(t, <-done); pe.Kind != provider.KindCancelled {
		t.Errorf("got %+v, want cancelled", pe)
	}
}

// cancelSink signals its first chunk.
type cancelSink struct {
	first chan struct{}
	n     int
}

func (s *cancelSink) Send(*provider.Chunk) error {
	if s.n++; s.n == 1 {
		close(s.first)
	}
	return nil
}
