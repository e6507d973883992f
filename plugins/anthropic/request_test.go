package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func f64(v float64) *float64 { return &v }
func boolp(v bool) *bool     { return &v }

var weatherTool = provider.Tool{Type: "function", Name: "get_weather", Description: "Get the weather",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)}

// TestRequestTranslation checks what the upstream receives for OpenAI-style requests.
func TestRequestTranslation(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeJSON(w, 200, textMessage("claude-test", "ok"))
	})
	p := connect(t, up.URL, `,"default_max_tokens":1000,"beta":["b1","b2"],"headers":{"x-team":"core"}`)

	tests := []struct {
		name string
		req  provider.Request
		// want maps top-level body keys to their expected JSON; absent lists keys that
		// must not be sent.
		want   map[string]string
		absent []string
	}{
		{
			name: "system and developer concatenated, default max_tokens",
			req: provider.Request{Messages: []provider.Message{
				{Role: "system", Content: "You are terse."},
				{Role: "developer", Content: "Answer in French."},
				{Role: "user", Content: "hi"},
			}},
			want: map[string]string{
				"system":     `[{"type":"text","text":"You are terse.\n\nAnswer in French."}]`,
				"messages":   `[{"role":"user","content":[{"type":"text","text":"hi"}]}]`,
				"max_tokens": `1000`,
				"model":      `"claude-test"`,
			},
			absent: []string{"stream", "tools", "tool_choice", "temperature", "top_p", "stop_sequences", "metadata", "thinking"},
		},
		{
			name: "consecutive same-role turns merged",
			req: provider.Request{MaxTokens: 50, Messages: []provider.Message{
				{Role: "user", Content: "one"},
				{Role: "user", Parts: []provider.ContentPart{{Type: "text", Text: "two"}, {Type: "text", Text: "three"}}},
				{Role: "assistant", Content: "a"},
				{Role: "assistant", Content: "b"},
				{Role: "user", Content: "four"},
			}},
			want: map[string]string{
				"messages": `[{"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"},{"type":"text","text":"three"}]},` +
					`{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},` +
					`{"role":"user","content":[{"type":"text","text":"four"}]}]`,
				"max_tokens": `50`,
			},
		},
		{
			name: "tool calls and merged tool results",
			req: provider.Request{Tools: []provider.Tool{weatherTool}, Messages: []provider.Message{
				{Role: "user", Content: "weather in Paris and Rome?"},
				{Role: "assistant", ToolCalls: []provider.ToolCall{
					{ID: "toolu_01", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "toolu_02", Type: "function", Name: "get_weather", Arguments: `{"city":"Rome"}`},
				}},
				{Role: "tool", ToolCallID: "toolu_01", Content: "18C"},
				{Role: "tool", ToolCallID: "toolu_02", Content: "24C"},
				{Role: "user", Content: "thanks"},
			}},
			want: map[string]string{
				"messages": `[{"role":"user","content":[{"type":"text","text":"weather in Paris and Rome?"}]},` +
					`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"toolu_02","name":"get_weather","input":{"city":"Rome"}}]},` +
					`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"18C"}]},{"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"24C"}]},{"type":"text","text":"thanks"}]}]`,
				"tools": `[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]`,
			},
			absent: []string{"tool_choice"},
		},
		{
			name: "images: data URL and https URL",
			req: provider.Request{Messages: []provider.Message{{Role: "user", Parts: []provider.ContentPart{
				{Type: "text", Text: "compare"},
				{Type: "image_url", ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: "image_url", ImageURL: "https://example.com/cat.jpg"},
			}}}},
			want: map[string]string{
				"messages": `[{"role":"user","content":[{"type":"text","text":"compare"},` +
					`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},` +
					`{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}]`,
			},
		},
		{
			name: "tool_choice required and parallel_tool_calls false",
			req: provider.Request{Tools: []provider.Tool{weatherTool}, ToolChoice: json.RawMessage(`"required"`), ParallelToolCalls: boolp(false),
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{"tool_choice": `{"type":"any","disable_parallel_tool_use":true}`},
		},
		{
			name: "tool_choice a named function",
			req: provider.Request{Tools: []provider.Tool{weatherTool}, ToolChoice: json.RawMessage(`{"type":"function","function":{"name":"get_weather"}}`),
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{"tool_choice": `{"type":"tool","name":"get_weather"}`},
		},
		{
			name: "tool_choice none",
			req: provider.Request{Tools: []provider.Tool{weatherTool}, ToolChoice: json.RawMessage(`"none"`),
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{"tool_choice": `{"type":"none"}`},
		},
		{
			name: "tool_choice auto with parallel_tool_calls false",
			req: provider.Request{Tools: []provider.Tool{weatherTool}, ToolChoice: json.RawMessage(`"auto"`), ParallelToolCalls: boolp(false),
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{"tool_choice": `{"type":"auto","disable_parallel_tool_use":true}`},
		},
		{
			name: "sampling, stop, user, top_k extra",
			req: provider.Request{Temperature: f64(1.7), TopP: f64(0.9), Stop: []string{"END", "STOP"}, User: "user-42",
				Extra: json.RawMessage(`{"top_k":40,"logit_bias":{"1":2}}`), Metadata: map[string]string{"tier": "free"},
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{
				"temperature":    `1`,
				"top_p":          `0.9`,
				"top_k":          `40`,
				"stop_sequences": `["END","STOP"]`,
				"metadata":       `{"user_id":"user-42"}`,
			},
			absent: []string{"logit_bias"},
		},
		{
			name: "response_format json_schema becomes a system instruction",
			req: provider.Request{ResponseFormat: &provider.ResponseFormat{Type: "json_schema",
				JSONSchema: json.RawMessage(`{"name":"r","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}`)},
				Messages: []provider.Message{{Role: "system", Content: "Be exact."}, {Role: "user", Content: "x"}}},
			want: map[string]string{
				"system": `[{"type":"text","text":"Be exact.\n\nRespond with a single valid JSON object and nothing else (no prose, no Markdown code fences) that conforms to this JSON Schema: {\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}"}]`,
			},
		},
		{
			name: "reasoning_effort medium enables thinking and drops temperature",
			req: provider.Request{ReasoningEffort: "medium", MaxTokens: 8000, Temperature: f64(0.2),
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want:   map[string]string{"thinking": `{"type":"enabled","budget_tokens":4096}`, "max_tokens": `8000`},
			absent: []string{"temperature"},
		},
		{
			name: "reasoning_effort high is capped below max_tokens",
			req: provider.Request{ReasoningEffort: "high", MaxTokens: 2000,
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			want: map[string]string{"thinking": `{"type":"enabled","budget_tokens":1999}`},
		},
		{
			name: "reasoning_effort with too small max_tokens is ignored",
			req: provider.Request{ReasoningEffort: "low", MaxTokens: 500,
				Messages: []provider.Message{{Role: "user", Content: "x"}}},
			absent: []string{"thinking"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Model = "claude-test"
			resp, err := p.Complete(ctxT(t), &req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != "ok" {
				t.Errorf("content = %q", got)
			}
			got := up.last(t)
			if got.Method != "POST" || got.Path != "/v1/messages" {
				t.Errorf("request %s %s, want POST /v1/messages", got.Method, got.Path)
			}
			for k, want := range map[string]string{"X-Api-Key": testKey, "Anthropic-Version": "2023-06-01", "Anthropic-Beta": "b1,b2", "X-Team": "core"} {
				if v := got.Header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if v := got.Header.Get("Authorization"); v != "" {
				t.Errorf("Authorization header sent: %q", v)
			}
			for k, want := range tt.want {
				v, ok := got.Body[k]
				if !ok {
					t.Errorf("body has no %q: %s", k, got.Raw)
					continue
				}
				jsonEq(t, k, v, want)
			}
			for _, k := range tt.absent {
				if _, ok := got.Body[k]; ok {
					t.Errorf("body has %q, want none: %s", k, got.Raw)
				}
			}
		})
	}
}

// TestRequestRefused checks requests refused before any upstream call.
func TestRequestRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeJSON(w, 200, textMessage("claude-test", "ok"))
	})
	p := connect(t, up.URL, "")
	user := provider.Message{Role: "user", Content: "x"}
	tests := []struct {
		name string
		req  provider.Request
		kind provider.Kind
		msg  string
	}{
		{"invalid tool call arguments", provider.Request{Messages: []provider.Message{user,
			{Role: "assistant", ToolCalls: []provider.ToolCall{{ID: "t1", Name: "f", Arguments: `{"city":`}}}}},
			provider.KindInvalidRequest, "arguments"},
		{"tool call arguments not an object", provider.Request{Messages: []provider.Message{user,
			{Role: "assistant", ToolCalls: []provider.ToolCall{{ID: "t1", Name: "f", Arguments: `[1]`}}}}},
			provider.KindInvalidRequest, "arguments"},
		{"no messages", provider.Request{Messages: []provider.Message{{Role: "system", Content: "s"}}},
			provider.KindInvalidRequest, "at least one"},
		{"unknown role", provider.Request{Messages: []provider.Message{{Role: "function", Content: "s"}}},
			provider.KindInvalidRequest, "role"},
		{"image of unsupported type", provider.Request{Messages: []provider.Message{{Role: "user",
			Parts: []provider.ContentPart{{Type: "image_url", ImageURL: "data:image/bmp;base64,AAAA"}}}}},
			provider.KindInvalidRequest, "media type"},
		{"image from ftp", provider.Request{Messages: []provider.Message{{Role: "user",
			Parts: []provider.ContentPart{{Type: "image_url", ImageURL: "ftp://x/y.png"}}}}},
			provider.KindInvalidRequest, "image_url"},
		{"audio part", provider.Request{Messages: []provider.Message{{Role: "user",
			Parts: []provider.ContentPart{{Type: "input_audio", Raw: json.RawMessage(`{"type":"input_audio"}`)}}}}},
			provider.KindUnsupported, "input_audio"},
		{"n above 1", provider.Request{N: 2, Messages: []provider.Message{user}}, provider.KindUnsupported, "n=2"},
		{"bad tool schema", provider.Request{Messages: []provider.Message{user},
			Tools: []provider.Tool{{Type: "function", Name: "f", Parameters: json.RawMessage(`{"type":"string"}`)}}},
			provider.KindInvalidRequest, "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Model = "claude-test"
			_, err := p.Complete(ctxT(t), &req)
			pe := asError(t, err)
			if pe.Kind != tt.kind || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", pe.Kind, pe.Message, tt.kind, tt.msg)
			}
		})
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream got %d requests, want 0", n)
	}
}
