package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func TestInfo(t *testing.T) {
	p := connect(t, `{}`, nil)
	info, err := p.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "openai" || !info.OpenAINative {
		t.Errorf("Info = %+v, want name openai, OpenAINative", info)
	}
	if want := []string{"stream", "tools", "json", "vision"}; !reflect.DeepEqual(info.Capabilities, want) {
		t.Errorf("capabilities = %v, want %v", info.Capabilities, want)
	}
}

// TestTypedRequest checks the body, method, path and headers the upstream receives when
// the host sends typed fields (no RawBody).
func TestTypedRequest(t *testing.T) {
	full := &provider.Request{
		Model: "gpt-4o",
		Messages: []provider.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "developer", Content: "Answer in French."},
			{Role: "user", Name: "ann", Parts: []provider.ContentPart{
				{Type: "text", Text: "What is in this image?"},
				{Type: "image_url", ImageURL: "https://example.com/cat.png", ImageDetail: "high"},
				{Type: "input_audio", Raw: json.RawMessage(`{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}`)},
			}},
			{Role: "assistant", ToolCalls: []provider.ToolCall{{ID: "call_1", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: "tool", ToolCallID: "call_1", Content: `{"temp":21}`},
			{Role: "assistant", Refusal: "I can't.", Extra: json.RawMessage(`{"audio":{"id":"audio_1"}}`)},
			{Role: "user", Content: "ok", Extra: json.RawMessage(`{"cache_control":{"type":"ephemeral"}}`)},
		},
		Tools: []provider.Tool{{Type: "function", Name: "get_weather", Description: "Weather by city",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`), Strict: true}},
		ToolChoice:        json.RawMessage(`{"type":"function","function":{"name":"get_weather"}}`),
		Temperature:       ptr(0.2),
		TopP:              ptr(0.9),
		PresencePenalty:   ptr(0.5),
		FrequencyPenalty:  ptr(-0.5),
		Seed:              ptr(int64(42)),
		MaxTokens:         300,
		Stop:              []string{"END", "STOP"},
		ResponseFormat:    &provider.ResponseFormat{Type: "json_schema", JSONSchema: json.RawMessage(`{"name":"w","strict":true,"schema":{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"string"}}}}`)},
		N:                 2,
		User:              "user-1",
		ReasoningEffort:   "low",
		ParallelToolCalls: ptr(false),
		Metadata:          map[string]string{"team": "a"},
		Extra:             json.RawMessage(`{"logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"Bonjour"},"service_tier":"flex"}`),
	}
	tests := []struct {
		name     string
		settings string
		req      *provider.Request
		wantBody string
	}{{
		name:     "minimal",
		req:      &provider.Request{Model: "gpt-4o-mini", Messages: []provider.Message{{Role: "user", Content: "Hi"}}},
		wantBody: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`,
	}, {
		name:     "max_tokens for a compatible server",
		req:      &provider.Request{Model: "llama3", MaxTokens: 64, Messages: []provider.Message{{Role: "user", Content: "Hi"}}},
		wantBody: `{"model":"llama3","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`,
	}, {
		name:     "max_completion_tokens by setting",
		settings: `"max_tokens_field":"max_completion_tokens"`,
		req:      &provider.Request{Model: "o3", MaxTokens: 64, Messages: []provider.Message{{Role: "user", Content: "Hi"}}},
		wantBody: `{"model":"o3","max_completion_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`,
	}, {
		name: "every field",
		req:  full,
		wantBody: `{
		  "model":"gpt-4o",
		  "messages":[
		    {"role":"system","content":"Be brief."},
		    {"role":"developer","content":"Answer in French."},
		    {"role":"user","name":"ann","content":[
		      {"type":"text","text":"What is in this image?"},
		      {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"high"}},
		      {"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]},
		    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		    {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21}"},
		    {"role":"assistant","content":null,"refusal":"I can't.","audio":{"id":"audio_1"}},
		    {"role":"user","content":"ok","cache_control":{"type":"ephemeral"}}],
		  "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","strict":true,
		    "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}],
		  "tool_choice":{"type":"function","function":{"name":"get_weather"}},
		  "temperature":0.2,"top_p":0.9,"presence_penalty":0.5,"frequency_penalty":-0.5,"seed":42,
		  "max_tokens":300,"stop":["END","STOP"],
		  "response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"string"}}}}},
		  "n":2,"user":"user-1","reasoning_effort":"low","parallel_tool_calls":false,"metadata":{"team":"a"},
		  "logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"Bonjour"},"service_tier":"flex"}`,
	}, {
		name:     "json_object",
		req:      &provider.Request{Model: "m", ResponseFormat: &provider.ResponseFormat{Type: "json_object"}, Messages: []provider.Message{{Role: "user", Content: "x"}}},
		wantBody: `{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeJSON(w, 200, fixture(t, "completion.json"))
			})
			p := connect(t, settingsFor(up.URL, tc.settings), map[string]string{"api_key": "sk-test-123456789"})
			if _, err := p.Complete(context.Background(), tc.req); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			got := up.last(t)
			if got.Method != http.MethodPost || got.Path != "/v1/chat/completions" {
				t.Errorf("upstream got %s %s, want POST /v1/chat/completions", got.Method, got.Path)
			}
			if a := got.Header.Get("Authorization"); a != "Bearer sk-test-123456789" {
				t.Errorf("Authorization = %q", a)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			jsonEqual(t, "upstream body", got.Body, tc.wantBody)
		})
	}
}

// TestTypedSchemaKeyOrder checks that a tool's and a response format's JSON schema keep
// the client's key order (structured outputs follow it).
func TestTypedSchemaKeyOrder(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "completion.json"))
	})
	p := connect(t, settingsFor(up.URL, ""), nil)
	schema := `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}}}`
	_, err := p.Complete(context.Background(), &provider.Request{Model: "m",
		Messages:       []provider.Message{{Role: "user", Content: "x"}},
		Tools:          []provider.Tool{{Name: "f", Parameters: json.RawMessage(schema)}},
		ResponseFormat: &provider.ResponseFormat{Type: "json_schema", JSONSchema: json.RawMessage(`{"name":"s","schema":` + schema + `}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := string(up.last(t).Body)
	if n := countSubstr(body, schema); n != 2 {
		t.Errorf("schema bytes appear %d times in %s, want 2", n, body)
	}
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// TestHeadersAndQuery checks organization, project, extra headers, query parameters, and
// that an empty api_key sends no Authorization (local servers).
func TestHeadersAndQuery(t *testing.T) {
	tests := []struct {
		name       string
		settings   string
		secrets    map[string]string
		wantHeader map[string]string
		wantQuery  string
	}{{
		name:     "openai org and project",
		settings: `"organization":"org-1","project":"proj_1"`,
		secrets:  map[string]string{"api_key": "sk-abc-123456789"},
		wantHeader: map[string]string{"Authorization": "Bearer sk-abc-123456789",
			"Openai-Organization": "org-1", "Openai-Project": "proj_1"},
	}, {
		name:       "openrouter headers",
		settings:   `"headers":{"HTTP-Referer":"https://example.com","X-Title":"Switchyard"}`,
		secrets:    map[string]string{"api_key": "sk-or-v1-abcdef"},
		wantHeader: map[string]string{"Http-Referer": "https://example.com", "X-Title": "Switchyard", "Authorization": "Bearer sk-or-v1-abcdef"},
	}, {
		name:       "local server without key",
		settings:   `"query":{"tenant":"t1"}`,
		wantHeader: map[string]string{"Authorization": ""},
		wantQuery:  "tenant=t1",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeJSON(w, 200, fixture(t, "completion.json"))
			})
			p := connect(t, settingsFor(up.URL, tc.settings), tc.secrets)
			if _, err := p.Complete(context.Background(), &provider.Request{Model: "m", Messages: []provider.Message{{Role: "user", Content: "x"}}}); err != nil {
				t.Fatal(err)
			}
			got := up.last(t)
			for k, v := range tc.wantHeader {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if got.RawQuery != tc.wantQuery {
				t.Errorf("query = %q, want %q", got.RawQuery, tc.wantQuery)
			}
		})
	}
}

func TestCompleteResponse(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		want    *provider.Response
	}{{
		name:    "text",
		fixture: "completion.json",
		want: &provider.Response{ID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Model: "gpt-4o-2024-08-06", Created: 1741569952,
			SystemFingerprint: "fp_fc9f1d7035", ServiceTier: "default",
			Choices: []provider.Choice{{Index: 0, FinishReason: "stop", Message: provider.Message{Role: "assistant",
				Content: "Hello! How can I assist you today?", Extra: json.RawMessage(`{"annotations":[]}`)}}},
			Usage: &provider.Usage{PromptTokens: 19, CompletionTokens: 10, TotalTokens: 29, CachedPromptTokens: 12, ReasoningTokens: 3}},
	}, {
		name:    "tool calls and refusal",
		fixture: "completion_tool_calls.json",
		want: &provider.Response{ID: "chatcmpl-abc123", Model: "gpt-4o-mini", Created: 1699896916,
			Choices: []provider.Choice{
				{Index: 0, FinishReason: "tool_calls", Message: provider.Message{Role: "assistant",
					ToolCalls: []provider.ToolCall{{Index: 0, ID: "call_abc123", Type: "function", Name: "get_current_weather", Arguments: "{\n\"location\": \"Boston, MA\"\n}"}},
					Extra:     json.RawMessage(`{"annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com","title":"x","start_index":0,"end_index":1}}]}`)}},
				{Index: 1, FinishReason: "stop", Message: provider.Message{Role: "assistant", Refusal: "I can't help with that."}},
			},
			Usage: &provider.Usage{PromptTokens: 82, CompletionTokens: 17, TotalTokens: 99}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeJSON(w, 200, fixture(t, tc.fixture))
			})
			p := connect(t, settingsFor(up.URL, ""), nil)
			got, err := p.Complete(context.Background(), &provider.Request{Model: "gpt-4o", Messages: []provider.Message{{Role: "user", Content: "x"}}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range got.Choices {
				if i < len(tc.want.Choices) {
					jsonOrNil(t, got.Choices[i].Message.Extra, tc.want.Choices[i].Message.Extra)
					got.Choices[i].Message.Extra, tc.want.Choices[i].Message.Extra = nil, nil
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("response:\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func jsonOrNil(t *testing.T, got, want json.RawMessage) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("message extra = %s, want none", got)
		}
		return
	}
	jsonEqual(t, "message extra", got, string(want))
}

func TestStream(t *testing.T) {
	tests := []struct {
		name      string
		fixture   string
		want      []provider.Delta // the deltas in order, one per chunk
		wantUsage *provider.Usage
	}{{
		name:      "text",
		fixture:   "stream_text.sse",
		want:      []provider.Delta{{Role: "assistant"}, {Content: "Hello"}, {Content: " there!"}, {FinishReason: "stop"}},
		wantUsage: &provider.Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12, CachedPromptTokens: 4, ReasoningTokens: 1},
	}, {
		name:    "tool call fragments",
		fixture: "stream_tool_calls.sse",
		want: []provider.Delta{
			{Role: "assistant", ToolCalls: []provider.ToolCall{{Index: 0, ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Type: "function", Name: "get_weather"}}},
			{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `{"`}}},
			{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `location`}}},
			{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `":"Paris, France"}`}}},
			{ToolCalls: []provider.ToolCall{{Index: 1, ID: "call_2", Type: "function", Name: "get_time", Arguments: "{}"}}},
			{FinishReason: "tool_calls"},
		},
		wantUsage: &provider.Usage{PromptTokens: 60, CompletionTokens: 25, TotalTokens: 85},
	}, {
		name:      "refusal",
		fixture:   "stream_refusal.sse",
		want:      []provider.Delta{{Role: "assistant"}, {Refusal: "I cannot"}, {Refusal: " help.", FinishReason: "stop"}},
		wantUsage: &provider.Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				writeSSE(w, fixture(t, tc.fixture))
			})
			p := connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": "sk-test-123456789"})
			out := &sink{}
			usage, err := p.Stream(context.Background(), &provider.Request{Model: "gpt-4o", Stream: true,
				Messages: []provider.Message{{Role: "user", Content: "Hi"}}}, out)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			var got []provider.Delta
			for _, c := range out.chunks {
				if len(c.Choices) != 1 {
					t.Fatalf("chunk with %d choices", len(c.Choices))
				}
				got = append(got, c.Choices[0])
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("deltas:\ngot  %+v\nwant %+v", got, tc.want)
			}
			if !reflect.DeepEqual(usage, tc.wantUsage) {
				t.Errorf("usage = %+v, want %+v", usage, tc.wantUsage)
			}
			req := up.last(t)
			if req.Path != "/v1/chat/completions" {
				t.Errorf("path = %q", req.Path)
			}
			jsonEqual(t, "upstream body", req.Body,
				`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`)
		})
	}
}
