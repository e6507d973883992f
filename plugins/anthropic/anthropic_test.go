package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func TestCompleteResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    provider.Message
		finish  string
		usage   provider.Usage
		modelID string
	}{
		{
			name:   "text",
			body:   textMessage("claude-haiku-4-5-20251001", "Hello!"),
			want:   provider.Message{Role: "assistant", Content: "Hello!"},
			finish: "stop", usage: provider.Usage{PromptTokens: 12, CompletionTokens: 6, TotalTokens: 18},
			modelID: "claude-haiku-4-5-20251001",
		},
		{
			name: "tool use with cache usage",
			body: `{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5",` +
				`"content":[{"type":"text","text":"Let me check."},` +
				`{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city":"Paris"}},` +
				`{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}],` +
				`"stop_reason":"tool_use","stop_sequence":null,` +
				`"usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":40}}`,
			want: provider.Message{Role: "assistant", Content: "Let me check.", ToolCalls: []provider.ToolCall{
				{Index: 0, ID: "toolu_01A09q90qw90lq917835lq9", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{Index: 1, ID: "toolu_02", Type: "function", Name: "get_time", Arguments: `{}`},
			}},
			finish:  "tool_calls",
			usage:   provider.Usage{PromptTokens: 420, CompletionTokens: 40, TotalTokens: 460, CachedPromptTokens: 300, CacheWriteTokens: 20},
			modelID: "claude-sonnet-4-5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { writeJSON(w, 200, tt.body) })
			p := connect(t, up.URL, "")
			resp, err := p.Complete(ctxT(t), userReq("claude-x", "hi"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Model != tt.modelID || !strings.HasPrefix(resp.ID, "msg_") || resp.Created == 0 {
				t.Errorf("id/model/created = %q %q %d", resp.ID, resp.Model, resp.Created)
			}
			c := resp.Choices[0]
			gm, _ := json.Marshal(c.Message)
			wm, _ := json.Marshal(tt.want)
			if string(gm) != string(wm) {
				t.Errorf("message:\n got %s\nwant %s", gm, wm)
			}
			if c.FinishReason != tt.finish {
				t.Errorf("finish = %q, want %q", c.FinishReason, tt.finish)
			}
			if resp.Usage == nil || *resp.Usage != tt.usage {
				t.Errorf("usage = %+v, want %+v", resp.Usage, tt.usage)
			}
		})
	}
}

func TestFinishReasons(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "model_context_window_exceeded": "length",
	} {
		t.Run(stop, func(t *testing.T) {
			body := strings.Replace(textMessage("claude-test", "x"), `"end_turn"`, quote(stop), 1)
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { writeJSON(w, 200, body) })
			resp, err := connect(t, up.URL, "").Complete(ctxT(t), userReq("claude-test", "hi"))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].FinishReason; got != want {
				t.Errorf("finish = %q, want %q", got, want)
			}
		})
	}
}

// toolStream is the documented event sequence of a streamed answer with text and two
// tool_use blocks whose input arrives in input_json_delta fragments.
var toolStream = []sse{
	{"message_start", `{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_sequence":null,"usage":{"input_tokens":472,"cache_read_input_tokens":128,"cache_creation_input_tokens":0,"output_tokens":2},"content":[],"stop_reason":null}}`},
	{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check"}}`},
	{"ping", `{"type": "ping"}`},
	{"content_block_stop", `{"type":"content_block_stop","index":0}`},
	{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}`},
	{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}`},
	{"content_block_stop", `{"type":"content_block_stop","index":1}`},
	{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}`},
	{"content_block_stop", `{"type":"content_block_stop","index":2}`},
	{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}`},
	{"message_stop", `{"type":"message_stop"}`},
}

func TestStream(t *testing.T) {
	t.Run("text with ping", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			writeSSE(w, r, 0, textStream("claude-test", "Hello", " there", "!"))
		})
		p := connect(t, up.URL, "")
		var s sink
		req := userReq("claude-test", "hi")
		req.Stream = true
		usage, err := p.Stream(ctxT(t), req, &s)
		if err != nil {
			t.Fatal(err)
		}
		if got := up.last(t).Body["stream"]; got != true {
			t.Errorf("body stream = %v, want true", got)
		}
		d := s.deltas()
		if len(d) != 4 || d[0].Role != "assistant" || d[1].Role != "" || s.text() != "Hello there!" || d[3].FinishReason != "stop" {
			t.Errorf("deltas = %+v", d)
		}
		if s.chunks[0].ID != "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" || s.chunks[0].Model != "claude-test" {
			t.Errorf("chunk id/model = %q %q", s.chunks[0].ID, s.chunks[0].Model)
		}
		want := provider.Usage{PromptTokens: 25, CompletionTokens: 15, TotalTokens: 40}
		if usage == nil || *usage != want {
			t.Errorf("usage = %+v, want %+v", usage, want)
		}
	})
	t.Run("tool use with input_json_delta", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { writeSSE(w, r, 0, toolStream) })
		p := connect(t, up.URL, "")
		var s sink
		usage, err := p.Stream(ctxT(t), userReq("claude-test", "weather?"), &s)
		if err != nil {
			t.Fatal(err)
		}
		type tc = provider.ToolCall
		want := []provider.Delta{
			{Role: "assistant", Content: "Okay, let's check"},
			{ToolCalls: []tc{{Index: 0, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Type: "function", Name: "get_weather"}}},
			{ToolCalls: []tc{{Index: 0, Arguments: `{"location":`}}},
			{ToolCalls: []tc{{Index: 0, Arguments: ` "San Francisco, CA"}`}}},
			{ToolCalls: []tc{{Index: 1, ID: "toolu_02", Type: "function", Name: "get_time"}}},
			{ToolCalls: []tc{{Index: 1, Arguments: `{}`}}},
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
	})
}

func TestStreamFailures(t *testing.T) {
	head := textStream("claude-test", "Hel", "lo")[:5] // message_start … two deltas
	tests := []struct {
		name          string
		answer        func(w http.ResponseWriter, r *http.Request)
		kind          provider.Kind
		outputStarted bool
		msg           string
	}{
		{
			name: "overloaded error event mid-stream",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeSSE(w, r, 0, append(head[:len(head):len(head)],
					sse{"error", `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`}))
			},
			kind: provider.KindUpstreamUnavailable, outputStarted: true, msg: "Overloaded",
		},
		{
			name: "api_error event before any delta",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeSSE(w, r, 0, []sse{head[0], {"error", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`}})
			},
			kind: provider.KindUpstreamUnavailable, outputStarted: false, msg: "Internal server error",
		},
		{
			name: "connection cut mid-stream",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeSSE(w, r, 0, head)
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = buf.Flush()
					_ = conn.Close()
				}
			},
			kind: provider.KindUpstreamUnavailable, outputStarted: true, msg: "",
		},
		{
			name:   "clean end without message_stop",
			answer: func(w http.ResponseWriter, r *http.Request) { writeSSE(w, r, 0, head) },
			kind:   provider.KindUpstreamUnavailable, outputStarted: true, msg: "message_stop",
		},
		{
			name: "429 before the stream",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("retry-after", "7")
				writeJSON(w, 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`)
			},
			kind: provider.KindRateLimited, msg: "rate limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { tt.answer(w, r) })
			p := connect(t, up.URL, "")
			var s sink
			usage, err := p.Stream(ctxT(t), userReq("claude-test", "hi"), &s)
			pe := asError(t, err)
			if pe.Kind != tt.kind || pe.OutputStarted != tt.outputStarted || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("got %s output_started=%v %q; want %s output_started=%v containing %q",
					pe.Kind, pe.OutputStarted, pe.Message, tt.kind, tt.outputStarted, tt.msg)
			}
			if pe.Retryable != tt.kind.DefaultRetryable() {
				t.Errorf("retryable = %v", pe.Retryable)
			}
			if tt.outputStarted && (usage == nil || usage.PromptTokens != 25) {
				t.Errorf("usage = %+v, want the message_start counts", usage)
			}
		})
	}
}

func TestDeadlines(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		writeJSON(w, 200, textMessage("claude-test", "late"))
	}
	t.Run("host deadline before the first byte", func(t *testing.T) {
		up := newUpstream(t, slow)
		p := connect(t, up.URL, "")
		for _, stream := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			start := time.Now()
			var err error
			if stream {
				_, err = p.Stream(ctx, userReq("claude-test", "hi"), &sink{})
			} else {
				_, err = p.Complete(ctx, userReq("claude-test", "hi"))
			}
			cancel()
			if status.Code(errors.Unwrap(err)) == codes.DeadlineExceeded {
				// sdk/provider's client can see the RPC fail before its own context's
				// timer fires, and then reports a transport error (an SDK race, reported
				// to the lead). The plugin's own answer is checked without gRPC below.
				t.Logf("stream=%v: SDK race: %v", stream, err)
			} else if pe := asError(t, err); pe.Kind != provider.KindUpstreamTimeout || !pe.Retryable {
				t.Errorf("stream=%v: got %s retryable=%v, want upstream_timeout", stream, pe.Kind, pe.Retryable)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("stream=%v: returned after %v", stream, d)
			}
		}
	})
	t.Run("host deadline, the plugin's own answer", func(t *testing.T) {
		// The plugin without the gRPC layer: what it returns when the host's deadline
		// (propagated as its context's deadline) passes before the first byte.
		up := newUpstream(t, slow)
		a := New()
		err := a.Configure(context.Background(), provider.Config{Settings: json.RawMessage(`{"base_url":"` + up.URL + `"}`),
			Secrets: map[string]string{"api_key": testKey}})
		if err != nil {
			t.Fatal(err)
		}
		for _, stream := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if stream {
				_, err = a.Stream(ctx, userReq("claude-test", "hi"), &sink{})
			} else {
				_, err = a.Complete(ctx, userReq("claude-test", "hi"))
			}
			cancel()
			if pe := asError(t, err); pe.Kind != provider.KindUpstreamTimeout || !pe.Retryable {
				t.Errorf("stream=%v: got %s retryable=%v, want upstream_timeout", stream, pe.Kind, pe.Retryable)
			}
		}
	})
	t.Run("timeout_ms setting", func(t *testing.T) {
		up := newUpstream(t, slow)
		p := connect(t, up.URL, `,"timeout_ms":150`)
		_, err := p.Complete(ctxT(t), userReq("claude-test", "hi"))
		if pe := asError(t, err); pe.Kind != provider.KindUpstreamTimeout {
			t.Errorf("got %s %q, want upstream_timeout", pe.Kind, pe.Message)
		}
	})
	t.Run("host cancellation", func(t *testing.T) {
		up := newUpstream(t, slow)
		p := connect(t, up.URL, "")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := p.Complete(ctx, userReq("claude-test", "hi"))
		if pe := asError(t, err); pe.Kind != provider.KindCancelled {
			t.Errorf("got %s, want cancelled", pe.Kind)
		}
	})
}
