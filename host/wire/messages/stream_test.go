package messages

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func delta(d provider.Delta) *provider.Chunk {
	return &provider.Chunk{ID: "chatcmpl-1", Model: "upstream", Choices: []provider.Delta{d}}
}

// toolStream is the scenario of testdata/stream_tool_call.sse: text in two deltas, then a
// tool call whose arguments come in two fragments, a delta of another choice (not
// streamed), the finish reason, and the usage.
func toolStream() []byte {
	s := NewStream("msg_01Test", "claude-test", 42)
	b := s.Start(nil)
	for _, c := range []*provider.Chunk{
		delta(provider.Delta{Role: "assistant"}),
		delta(provider.Delta{Content: "Let me check"}),
		delta(provider.Delta{Content: " the weather & more."}),
		delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, ID: "toolu_01A", Type: "function", Name: "get_weather"}}}),
		delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `{"city":`}}}),
		delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: ` "Paris"}`}}}),
		delta(provider.Delta{Index: 1, Content: "another choice"}),
		delta(provider.Delta{FinishReason: "tool_calls"}),
	} {
		b = s.Chunk(b, c)
	}
	return s.End(b, &provider.Usage{PromptTokens: 50, CompletionTokens: 20, TotalTokens: 70, CachedPromptTokens: 8, CacheWriteTokens: 2})
}

// TestStreamGolden checks the framing byte for byte against a stream written by hand in
// the format of Anthropic's recorded streams.
func TestStreamGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/stream_tool_call.sse")
	if err != nil {
		t.Fatal(err)
	}
	got := toolStream()
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("line %d:\ngot  %q\nwant %q", i+1, g, w)
			}
		}
	}
}

// sdkStream parses a stream's bytes with the official SDK's SSE decoder, as its client
// reads a response.
func sdkStream(b []byte) *ssestream.Stream[sdk.MessageStreamEventUnion] {
	req, _ := http.NewRequest(http.MethodPost, "http://switchyard.test/v1/messages", nil)
	res := &http.Response{StatusCode: http.StatusOK, Request: req, Body: io.NopCloser(bytes.NewReader(b)),
		Header: http.Header{"Content-Type": {"text/event-stream"}}}
	return ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
}

// TestStreamSDKAccumulates proves that the official client accumulates the stream into
// the message it stands for.
func TestStreamSDKAccumulates(t *testing.T) {
	st := sdkStream(toolStream())
	var m sdk.Message
	var types []string
	for st.Next() {
		ev := st.Current()
		types = append(types, ev.Type)
		if err := m.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.Type, err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
		t.Errorf("events %v", types)
	}
	if m.ID != "msg_01Test" || m.Model != "claude-test" || m.Role != "assistant" {
		t.Errorf("id %q, model %q, role %q", m.ID, m.Model, m.Role)
	}
	if len(m.Content) != 2 {
		t.Fatalf("%d blocks: %s", len(m.Content), m.RawJSON())
	}
	if b := m.Content[0]; b.Type != "text" || b.Text != "Let me check the weather & more." {
		t.Errorf("block 0 = %s", b.RawJSON())
	}
	tu := m.Content[1].AsToolUse()
	if m.Content[1].Type != "tool_use" || tu.ID != "toolu_01A" || tu.Name != "get_weather" || string(tu.Input) != `{"city": "Paris"}` {
		t.Errorf("block 1 = %s (input %s)", m.Content[1].RawJSON(), tu.Input)
	}
	if m.StopReason != sdk.StopReasonToolUse || m.StopSequence != "" {
		t.Errorf("stop_reason %q, stop_sequence %q", m.StopReason, m.StopSequence)
	}
	u := m.Usage
	if u.InputTokens != 40 || u.OutputTokens != 20 || u.CacheReadInputTokens != 8 || u.CacheCreationInputTokens != 2 {
		t.Errorf("usage = %+v", u)
	}
}

func TestStreamShapes(t *testing.T) {
	events := func(b []byte) []string {
		var names []string
		for _, frame := range strings.SplitAfter(string(b), "\n\n") {
			if frame == "" {
				continue
			}
			name, data, ok := strings.Cut(frame, "\ndata: ")
			if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasSuffix(data, "}\n\n") || strings.Contains(data[:len(data)-2], "\n") {
				t.Fatalf("malformed frame %q", frame)
			}
			names = append(names, strings.TrimPrefix(name, "event: "))
		}
		return names
	}

	t.Run("Chunk and End start the stream when Start was not called", func(t *testing.T) {
		s := NewStream("abc", "m", 3)
		b := s.Chunk(nil, delta(provider.Delta{Content: "hi"}))
		b = s.End(b, nil)
		got := strings.Join(events(b), " ")
		if got != "message_start ping content_block_start content_block_delta content_block_stop message_delta message_stop" {
			t.Errorf("events: %s", got)
		}
		// The id is prefixed; without usage only output_tokens is sent, so a client keeps
		// message_start's input count.
		if !strings.Contains(string(b), `"id":"msg_abc"`) || !strings.Contains(string(b), `"delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":0}}`) {
			t.Errorf("stream:\n%s", b)
		}
		var m sdk.Message
		st := sdkStream(b)
		for st.Next() {
			if err := m.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if m.Usage.InputTokens != 3 || m.Content[0].Text != "hi" {
			t.Errorf("accumulated %s", m.RawJSON())
		}
	})

	t.Run("an empty answer", func(t *testing.T) {
		s := NewStream("msg_1", "m", 0)
		b := s.End(s.Start(nil), &provider.Usage{CompletionTokens: 1})
		if got := strings.Join(events(b), " "); got != "message_start ping message_delta message_stop" {
			t.Errorf("events: %s", got)
		}
	})

	t.Run("two tool calls, then refusal text", func(t *testing.T) {
		s := NewStream("msg_1", "m", 0)
		b := s.Start(nil)
		for _, c := range []*provider.Chunk{
			delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, ID: "a", Name: "f", Arguments: `{"x":`}}}),
			delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `1}`}}}),
			// Two calls' first fragments in one delta.
			delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 1, ID: "b", Name: "g"}, {Index: 2, Name: "h", Arguments: `{"y":2}`}}}),
			delta(provider.Delta{Refusal: "no more", FinishReason: "stop"}),
		} {
			b = s.Chunk(b, c)
		}
		b = s.End(b, nil)
		want := "message_start ping " +
			"content_block_start content_block_delta content_block_delta content_block_stop " +
			"content_block_start content_block_stop content_block_start content_block_delta content_block_stop " +
			"content_block_start content_block_delta content_block_stop message_delta message_stop"
		if got := strings.Join(events(b), " "); got != want {
			t.Errorf("events:\n%s\nwant\n%s", got, want)
		}
		var m sdk.Message
		st := sdkStream(b)
		for st.Next() {
			if err := m.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if st.Err() != nil || len(m.Content) != 4 {
			t.Fatalf("err %v, message %s", st.Err(), m.RawJSON())
		}
		calls := []struct{ id, name, input string }{{"a", "f", `{"x":1}`}, {"b", "g", `{}`}, {"toolu_1_2", "h", `{"y":2}`}}
		for i, want := range calls {
			tu := m.Content[i].AsToolUse()
			if tu.ID != want.id || tu.Name != want.name || string(tu.Input) != want.input {
				t.Errorf("block %d = %s, want %+v", i, m.Content[i].RawJSON(), want)
			}
		}
		if m.Content[3].Type != "text" || m.Content[3].Text != "no more" {
			t.Errorf("block 3 = %s", m.Content[3].RawJSON())
		}
		// finish "stop" with tool calls: tool_use, for clients that run tools on it.
		if m.StopReason != sdk.StopReasonToolUse {
			t.Errorf("stop_reason %q", m.StopReason)
		}
	})

	t.Run("a late fragment goes to its call's block", func(t *testing.T) {
		s := NewStream("msg_1", "m", 0)
		b := s.Chunk(nil, delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, ID: "a", Name: "f", Arguments: `{"x":`}}}))
		b = s.Chunk(b, delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 1, ID: "b", Name: "g", Arguments: `{}`}}}))
		n := len(b)
		b = s.Chunk(b, delta(provider.Delta{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `1}`}}}))
		const late = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n"
		if string(b[n:]) != late {
			t.Errorf("late fragment: %q", b[n:])
		}
	})

	t.Run("finish reasons", func(t *testing.T) {
		for finish, want := range map[string]sdk.StopReason{"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal", "": "end_turn"} {
			s := NewStream("msg_1", "m", 0)
			b := s.Chunk(nil, delta(provider.Delta{Content: "x", FinishReason: finish}))
			b = s.End(b, nil)
			if !strings.Contains(string(b), `"stop_reason":"`+string(want)+`"`) {
				t.Errorf("finish %q: %s", finish, b)
			}
		}
	})

	t.Run("nothing after End", func(t *testing.T) {
		s := NewStream("msg_1", "m", 0)
		b := s.End(nil, nil)
		n := len(b)
		b = s.Chunk(b, delta(provider.Delta{Content: "late"}))
		b = s.End(b, nil)
		b = s.Fail(b, wire.BadRequest("", "late"))
		b = s.Start(b)
		if len(b) != n {
			t.Errorf("wrote after End: %q", b[n:])
		}
	})
}

// TestStreamFail checks that a failed stream ends with an error event in Anthropic's
// envelope, never message_stop, and that the official client reports it as an API error.
func TestStreamFail(t *testing.T) {
	s := NewStream("msg_1", "claude-test", 10)
	b := s.Start(nil)
	b = s.Chunk(b, delta(provider.Delta{Content: "partial"}))
	b = s.Fail(b, &wire.Error{Status: http.StatusServiceUnavailable, Type: wire.TypeAPI, Message: "no target answered"})
	const tail = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"no target answered\"}}\n\n"
	if !strings.HasSuffix(string(b), tail) {
		t.Errorf("stream does not end with the error event:\n%s", b)
	}
	if strings.Contains(string(b), "message_stop") || strings.Contains(string(b), "message_delta") || strings.Contains(string(b), "content_block_stop") {
		t.Errorf("a failed stream has an end:\n%s", b)
	}
	// Nothing more after Fail.
	if n := len(b); len(s.End(b, nil)) != n || len(s.Fail(b, nil)) != n {
		t.Error("wrote after Fail")
	}

	st := sdkStream(b)
	var m sdk.Message
	for st.Next() {
		if err := m.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	var apiErr *sdk.Error
	if !errors.As(st.Err(), &apiErr) {
		t.Fatalf("the SDK's error is %T %v, want *sdk.Error", st.Err(), st.Err())
	}
	if apiErr.Type() != sdk.ErrorTypeOverloadedError || apiErr.Message != "no target answered" {
		t.Errorf("SDK error type %q, message %q", apiErr.Type(), apiErr.Message)
	}
	if m.Content[0].Text != "partial" {
		t.Errorf("accumulated %s", m.RawJSON())
	}
}
