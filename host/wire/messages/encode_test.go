package messages

import (
	"encoding/json"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// TestAppendMessageSDK encodes an answer and decodes the bytes with the official SDK's
// Message type.
func TestAppendMessageSDK(t *testing.T) {
	r := &provider.Response{
		ID: "chatcmpl-1", Model: "upstream-model",
		Choices: []provider.Choice{
			{Index: 0, FinishReason: "tool_calls", Message: provider.Message{Role: "assistant", Content: "Looking <it> up & more.",
				ToolCalls: []provider.ToolCall{
					{ID: "call_1", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_2", Type: "function", Name: "broken", Arguments: `{"city":`},
					{ID: "", Type: "function", Name: "no_args", Arguments: ""},
					{ID: "call_4", Type: "function", Name: "array", Arguments: `[1,2]`},
				}}},
			{Index: 1, FinishReason: "stop", Message: provider.Message{Content: "second choice"}},
		},
		Usage: &provider.Usage{PromptTokens: 100, CompletionTokens: 30, TotalTokens: 130, CachedPromptTokens: 60, CacheWriteTokens: 15},
	}
	prefix := []byte("kept:")
	out := AppendMessage(prefix, r, "claude-test", "req-42")
	if !strings.HasPrefix(string(out), "kept:") {
		t.Fatalf("AppendMessage did not append to dst: %q", out)
	}
	out = out[len(prefix):]
	var m sdk.Message
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("the SDK cannot read %s: %v", out, err)
	}
	if m.ID != "msg_req-42" || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-test" {
		t.Errorf("id %q, type %q, role %q, model %q", m.ID, m.Type, m.Role, m.Model)
	}
	if m.StopReason != sdk.StopReasonToolUse || m.StopSequence != "" || !strings.Contains(string(out), `"stop_sequence":null`) {
		t.Errorf("stop_reason %q, stop_sequence %q", m.StopReason, m.StopSequence)
	}
	if len(m.Content) != 5 {
		t.Fatalf("content has %d blocks, want 5: %s", len(m.Content), out)
	}
	if b := m.Content[0]; b.Type != "text" || b.Text != "Looking <it> up & more." {
		t.Errorf("block 0 = %s", b.RawJSON())
	}
	tools := []struct{ id, name, input string }{
		{"call_1", "get_weather", `{"city":"Paris"}`},
		// Arguments that are not a JSON object become {}.
		{"call_2", "broken", `{}`},
		// A call without an id gets one made from the message's.
		{"toolu_req-42_2", "no_args", `{}`},
		{"call_4", "array", `{}`},
	}
	for i, want := range tools {
		b := m.Content[i+1]
		tu := b.AsToolUse()
		if b.Type != "tool_use" || tu.ID != want.id || tu.Name != want.name || string(tu.Input) != want.input {
			t.Errorf("block %d = %s, want tool_use %+v", i+1, b.RawJSON(), want)
		}
	}
	u := m.Usage
	if u.InputTokens != 25 || u.OutputTokens != 30 || u.CacheReadInputTokens != 60 || u.CacheCreationInputTokens != 15 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	// Anthropic leaves HTML characters literal.
	if !strings.Contains(string(out), `"Looking <it> up & more."`) {
		t.Errorf("HTML characters escaped: %s", out)
	}
}

func TestAppendMessageStopReasons(t *testing.T) {
	tests := []struct {
		finish string
		tools  bool
		want   sdk.StopReason
	}{
		{"stop", false, sdk.StopReasonEndTurn},
		{"", false, sdk.StopReasonEndTurn},
		{"length", false, sdk.StopReasonMaxTokens},
		{"tool_calls", true, sdk.StopReasonToolUse},
		{"content_filter", false, sdk.StopReasonRefusal},
		// Tool calls make it tool_use even when the upstream said stop.
		{"stop", true, sdk.StopReasonToolUse},
		{"something_new", false, sdk.StopReasonEndTurn},
		{"length", true, sdk.StopReasonMaxTokens},
	}
	for _, tt := range tests {
		msg := provider.Message{Content: "x"}
		if tt.tools {
			msg.ToolCalls = []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}
		}
		out := AppendMessage(nil, &provider.Response{Choices: []provider.Choice{{FinishReason: tt.finish, Message: msg}}}, "m", "msg_1")
		var m sdk.Message
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if m.StopReason != tt.want {
			t.Errorf("finish %q (tools %v): stop_reason %q, want %q", tt.finish, tt.tools, m.StopReason, tt.want)
		}
	}
}

func TestAppendMessageEdges(t *testing.T) {
	// No usage, no choices: a valid message all the same, with r's id and model.
	out := AppendMessage(nil, &provider.Response{ID: "msg_up", Model: "up-model"}, "", "")
	want := `{"id":"msg_up","type":"message","role":"assistant","model":"up-model","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	// A refusal is text; content parts' text too.
	out = AppendMessage(nil, &provider.Response{Choices: []provider.Choice{{FinishReason: "content_filter",
		Message: provider.Message{Refusal: "I can't help with that.", Parts: []provider.ContentPart{{Type: "text", Text: "part"}}}}}}, "m", "msg_1")
	var m sdk.Message
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 2 || m.Content[0].Text != "part" || m.Content[1].Text != "I can't help with that." || m.StopReason != sdk.StopReasonRefusal {
		t.Errorf("refusal answer = %s", out)
	}
	// Usage never goes negative when an upstream counts the cache outside the prompt.
	out = AppendMessage(nil, &provider.Response{Usage: &provider.Usage{PromptTokens: 5, CachedPromptTokens: 10}}, "m", "msg_1")
	if !strings.Contains(string(out), `"input_tokens":0,`) {
		t.Errorf("usage = %s", out)
	}
}
