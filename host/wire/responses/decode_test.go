package responses

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func mustDecode(t *testing.T, body string) *wire.ChatRequest {
	t.Helper()
	cr, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	return cr
}

func TestDecodeTranslatesToChat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		check func(t *testing.T, cr *wire.ChatRequest)
	}{
		{"input string and instructions", `{"model":"m","instructions":"Be brief.","input":"Hello"}`, func(t *testing.T, cr *wire.ChatRequest) {
			want := []provider.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello"}}
			if !reflect.DeepEqual(cr.Provider.Messages, want) {
				t.Errorf("messages = %+v", cr.Provider.Messages)
			}
			if cr.Model != "m" || cr.Provider.Model != "m" || cr.Endpoint != provider.EndpointResponses || cr.Provider.Endpoint != provider.EndpointResponses {
				t.Errorf("model %q/%q endpoint %q/%q", cr.Model, cr.Provider.Model, cr.Endpoint, cr.Provider.Endpoint)
			}
			if cr.Messages != 2 || cr.Chars != len("Be brief.")+len("Hello") || cr.PromptTokensEstimate != int64(14/4+4*2+3) {
				t.Errorf("facts: messages %d chars %d estimate %d", cr.Messages, cr.Chars, cr.PromptTokensEstimate)
			}
			if cr.NativeOnly != "" || cr.Stream || cr.HasTools || cr.HasImages || cr.JSONMode || cr.MaxTokensField != "" {
				t.Errorf("flags: %+v", cr)
			}
		}},
		{"message items with every part kind", `{"model":"m","input":[
			{"role":"developer","content":"Rules."},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"What is this?"},{"type":"input_image","image_url":"https://x/cat.png","detail":"low"}]},
			{"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"A cat","annotations":[]},{"type":"output_text","text":"."}]},
			{"role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]},
			{"role":"system","content":[{"type":"input_text","text":"S"}]}]}`, func(t *testing.T, cr *wire.ChatRequest) {
			want := []provider.Message{
				{Role: "developer", Content: "Rules."},
				{Role: "user", Parts: []provider.ContentPart{{Type: "text", Text: "What is this?"}, {Type: "image_url", ImageURL: "https://x/cat.png", ImageDetail: "low"}}},
				{Role: "assistant", Content: "A cat."},
				{Role: "assistant", Refusal: "I can't."},
				{Role: "system", Content: "S"},
			}
			if !reflect.DeepEqual(cr.Provider.Messages, want) {
				t.Errorf("messages =\n%+v\nwant\n%+v", cr.Provider.Messages, want)
			}
			if !cr.HasImages || cr.NativeOnly != "" || cr.Messages != 5 {
				t.Errorf("HasImages %v NativeOnly %q Messages %d", cr.HasImages, cr.NativeOnly, cr.Messages)
			}
		}},
		{"function calls merge, outputs become tool messages", `{"model":"m","input":[
			{"role":"user","content":"Weather in Paris and Rome?"},
			{"type":"function_call","id":"fc_1","call_id":"c1","name":"w","arguments":"{\"city\":\"Paris\"}","status":"completed"},
			{"type":"function_call","call_id":"c2","name":"w","arguments":"{\"city\":\"Rome\"}"},
			{"type":"function_call_output","call_id":"c1","output":"18C"},
			{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"21"},{"type":"input_text","text":"C"}]},
			{"type":"function_call","call_id":"c3","name":"w","arguments":"{}"}]}`, func(t *testing.T, cr *wire.ChatRequest) {
			want := []provider.Message{
				{Role: "user", Content: "Weather in Paris and Rome?"},
				{Role: "assistant", ToolCalls: []provider.ToolCall{
					{Index: 0, ID: "c1", Type: "function", Name: "w", Arguments: `{"city":"Paris"}`},
					{Index: 1, ID: "c2", Type: "function", Name: "w", Arguments: `{"city":"Rome"}`}}},
				{Role: "tool", ToolCallID: "c1", Content: "18C"},
				{Role: "tool", ToolCallID: "c2", Content: "21C"},
				{Role: "assistant", ToolCalls: []provider.ToolCall{{Index: 0, ID: "c3", Type: "function", Name: "w", Arguments: "{}"}}},
			}
			if !reflect.DeepEqual(cr.Provider.Messages, want) {
				t.Errorf("messages =\n%+v\nwant\n%+v", cr.Provider.Messages, want)
			}
			if cr.NativeOnly != "" {
				t.Errorf("NativeOnly = %q", cr.NativeOnly)
			}
		}},
		{"function tools and tool_choice", `{"model":"m","input":"x","tools":[{"type":"function","name":"w","description":"Weather","parameters":{"type":"object"},"strict":true},{"type":"function","name":"v"}],"tool_choice":{"type":"function","name":"w"},"parallel_tool_calls":false}`, func(t *testing.T, cr *wire.ChatRequest) {
			want := []provider.Tool{{Type: "function", Name: "w", Description: "Weather", Parameters: json.RawMessage(`{"type":"object"}`), Strict: true}, {Type: "function", Name: "v"}}
			if !reflect.DeepEqual(cr.Provider.Tools, want) {
				t.Errorf("tools = %+v", cr.Provider.Tools)
			}
			if string(cr.Provider.ToolChoice) != `{"type":"function","function":{"name":"w"}}` {
				t.Errorf("tool_choice = %s", cr.Provider.ToolChoice)
			}
			if !cr.HasTools || cr.Provider.ParallelToolCalls == nil || *cr.Provider.ParallelToolCalls {
				t.Errorf("HasTools %v parallel %v", cr.HasTools, cr.Provider.ParallelToolCalls)
			}
		}},
		{"tool_choice modes", `{"model":"m","input":"x","tool_choice":"required"}`, func(t *testing.T, cr *wire.ChatRequest) {
			if string(cr.Provider.ToolChoice) != `"required"` {
				t.Errorf("tool_choice = %s", cr.Provider.ToolChoice)
			}
		}},
		{"allowed tools", `{"model":"m","input":"x","tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"w"}]}}`, func(t *testing.T, cr *wire.ChatRequest) {
			if string(cr.Provider.ToolChoice) != `{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"w"}}]}}` {
				t.Errorf("tool_choice = %s", cr.Provider.ToolChoice)
			}
		}},
		{"json schema", `{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"p","schema":{"type":"object"},"strict":true},"verbosity":"low"}}`, func(t *testing.T, cr *wire.ChatRequest) {
			rf := cr.Provider.ResponseFormat
			if rf == nil || rf.Type != "json_schema" || string(rf.JSONSchema) != `{"name":"p","schema":{"type":"object"},"strict":true}` || !cr.JSONMode {
				t.Errorf("response format %+v JSONMode %v", rf, cr.JSONMode)
			}
			if string(cr.Provider.Extra) != `{"verbosity":"low"}` {
				t.Errorf("extra = %s", cr.Provider.Extra)
			}
		}},
		{"json object and text", `{"model":"m","input":"x","text":{"format":{"type":"json_object"}}}`, func(t *testing.T, cr *wire.ChatRequest) {
			if rf := cr.Provider.ResponseFormat; rf == nil || rf.Type != "json_object" || !cr.JSONMode {
				t.Errorf("response format %+v", rf)
			}
		}},
		{"plain text format", `{"model":"m","input":"x","text":{"format":{"type":"text"}}}`, func(t *testing.T, cr *wire.ChatRequest) {
			if rf := cr.Provider.ResponseFormat; rf == nil || rf.Type != "text" || cr.JSONMode {
				t.Errorf("response format %+v JSONMode %v", rf, cr.JSONMode)
			}
		}},
		{"sampling, limits, user, reasoning, stream", `{"model":"m","input":"x","max_output_tokens":300,"temperature":0.2,"top_p":0.9,"user":"u1","reasoning":{"effort":"high","summary":"auto"},"stream":true,"store":false,"background":false,"truncation":"auto","include":["message.output_text.logprobs"],"top_logprobs":3}`, func(t *testing.T, cr *wire.ChatRequest) {
			r := cr.Provider
			if r.MaxTokens != 300 || cr.MaxTokensField != "max_output_tokens" || *r.Temperature != 0.2 || *r.TopP != 0.9 || r.User != "u1" || r.ReasoningEffort != "high" {
				t.Errorf("request %+v", r)
			}
			if !cr.Stream || !r.Stream || !r.IncludeUsage || cr.NativeOnly != "" || !r.Logprobs || r.TopLogprobs == nil || *r.TopLogprobs != 3 {
				t.Errorf("stream %v/%v NativeOnly %q logprobs %v %v", cr.Stream, r.Stream, cr.NativeOnly, r.Logprobs, r.TopLogprobs)
			}
			if r.Extra != nil {
				t.Errorf("extra = %s", r.Extra)
			}
		}},
		{"metadata", `{"model":"m","input":"x","metadata":{"team":"a","switchyard.tier":"gold","n":3}}`, func(t *testing.T, cr *wire.ChatRequest) {
			if len(cr.Metadata) != 3 || string(cr.Metadata["switchyard.tier"]) != `"gold"` {
				t.Errorf("metadata for rules = %v", cr.Metadata)
			}
			if want := map[string]string{"team": "a", "n": "3"}; !reflect.DeepEqual(cr.Provider.Metadata, want) {
				t.Errorf("upstream metadata = %v", cr.Provider.Metadata)
			}
		}},
		{"unknown fields go to Extra", `{"model":"m","input":"x","service_tier":"flex","prompt_cache_key":"k"}`, func(t *testing.T, cr *wire.ChatRequest) {
			if string(cr.Provider.Extra) != `{"prompt_cache_key":"k","service_tier":"flex"}` {
				t.Errorf("extra = %s", cr.Provider.Extra)
			}
		}},
		{"empty previous_response_id is no state", `{"model":"m","input":"x","previous_response_id":""}`, func(t *testing.T, cr *wire.ChatRequest) {
			if cr.NativeOnly != "" {
				t.Errorf("NativeOnly = %q", cr.NativeOnly)
			}
		}},
		{"body kept", `{"model":"m","input":"x","store":true}`, func(t *testing.T, cr *wire.ChatRequest) {
			if v, ok := cr.Field("store"); !ok || string(v) != "true" || string(cr.Body) != `{"model":"m","input":"x","store":true}` {
				t.Errorf("field store = %s %v", v, ok)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mustDecode(t, tc.body)) })
	}
}

// TestDecodeNativeOnly covers what only a plugin serving the Responses API natively can
// honour: Decode accepts the body and names the field; the translation leaves it out.
func TestDecodeNativeOnly(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"model":"m","input":"x","previous_response_id":"resp_1"}`, "previous_response_id"},
		{`{"model":"m","previous_response_id":"resp_1"}`, "previous_response_id"},
		{`{"model":"m","input":"x","store":true}`, "store"},
		{`{"model":"m","input":"x","background":true}`, "background"},
		{`{"model":"m","input":"x","conversation":"conv_1"}`, "conversation"},
		{`{"model":"m","prompt":{"id":"pmpt_1"}}`, "prompt"},
		{`{"model":"m","input":[{"role":"user","content":"x"},{"type":"reasoning","id":"rs_1","summary":[]}]}`, "input[1]"},
		{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]"},
		{`{"model":"m","input":[{"role":"user","content":"x"},{"type":"web_search_call","id":"ws"},{"type":"file_search_call","id":"fs"}]}`, "input[1]"},
		{`{"model":"m","input":[{"type":"computer_call","id":"cc"}]}`, "input[0]"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_file","file_id":"file_1"}]}]}`, "input[0].content[1]"},
		{`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x/y.png"}]}]}`, "input[0].output[0]"},
		{`{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search"}]}`, "tools[1]"},
		{`{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}`, "tool_choice"},
		{`{"model":"m","input":"x","tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"mcp","server_label":"s"}]}}`, "tool_choice.tools[0]"},
		// The state-keeping fields are named first whatever the body's order.
		{`{"model":"m","input":[{"type":"reasoning"}],"store":true,"previous_response_id":"r"}`, "previous_response_id"},
	} {
		cr := mustDecode(t, tc.body)
		if cr.NativeOnly != tc.want {
			t.Errorf("%s: NativeOnly = %q, want %q", tc.body, cr.NativeOnly, tc.want)
		}
	}
	// The items a native plugin needs are skipped in the translation, the rest kept.
	cr := mustDecode(t, `{"model":"m","input":[{"role":"user","content":"x"},{"type":"reasoning","id":"rs_1"},{"role":"user","content":"y"}]}`)
	if len(cr.Provider.Messages) != 2 || cr.Provider.Messages[1].Content != "y" {
		t.Errorf("messages = %+v", cr.Provider.Messages)
	}
	cr = mustDecode(t, `{"model":"m","input":"x","tools":[{"type":"web_search"},{"type":"function","name":"f"}]}`)
	if len(cr.Provider.Tools) != 1 || cr.Provider.Tools[0].Name != "f" || !cr.HasTools {
		t.Errorf("tools = %+v", cr.Provider.Tools)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ body, param string }{
		{`[]`, ""},
		{`{"model":"m","input":"x"`, ""},
		{`{"model":"m","model":"n","input":"x"}`, "model"},
		{`{"input":"x"}`, "model"},
		{`{"model":3,"input":"x"}`, "model"},
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":[]}`, "input"},
		{`{"model":"m","input":3}`, "input"},
		{`{"model":"m","input":[3]}`, "input[0]"},
		{`{"model":"m","input":[{"content":"x"}]}`, "input[0].type"},
		{`{"model":"m","input":[{"type":"message","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"role":"user"}]}`, "input[0].content"},
		{`{"model":"m","input":[{"role":"user","content":5}]}`, "input[0].content"},
		{`{"model":"m","input":[{"role":"user","content":[{"text":"x"}]}]}`, "input[0].content[0].type"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":1}]}]}`, "input[0].content[0].text"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0].file_id"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]}`, "input[0].content[0].image_url"},
		{`{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}`, "input[0].name"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]}`, "input[0].arguments"},
		{`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{`{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}`, "input[0].output"},
		{`{"model":"m","input":"x","instructions":7}`, "instructions"},
		{`{"model":"m","input":"x","tools":{}}`, "tools"},
		{`{"model":"m","input":"x","tools":[{"name":"f"}]}`, "tools[0].type"},
		{`{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name"},
		{`{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":"x"}]}`, "tools[0].parameters"},
		{`{"model":"m","input":"x","tools":[{"type":"function","name":"f","strict":"yes"}]}`, "tools[0].strict"},
		{`{"model":"m","input":"x","tool_choice":"sometimes"}`, "tool_choice"},
		{`{"model":"m","input":"x","tool_choice":{"type":"function"}}`, "tool_choice.name"},
		{`{"model":"m","input":"x","tool_choice":{}}`, "tool_choice.type"},
		{`{"model":"m","input":"x","text":"json"}`, "text"},
		{`{"model":"m","input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type"},
		{`{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name"},
		{`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n"}}}`, "text.format.schema"},
		{`{"model":"m","input":"x","text":{"verbosity":1}}`, "text.verbosity"},
		{`{"model":"m","input":"x","max_output_tokens":0}`, "max_output_tokens"},
		{`{"model":"m","input":"x","max_output_tokens":1.5}`, "max_output_tokens"},
		{`{"model":"m","input":"x","temperature":3}`, "temperature"},
		{`{"model":"m","input":"x","top_p":"high"}`, "top_p"},
		{`{"model":"m","input":"x","parallel_tool_calls":"yes"}`, "parallel_tool_calls"},
		{`{"model":"m","input":"x","user":1}`, "user"},
		{`{"model":"m","input":"x","stream":"yes"}`, "stream"},
		{`{"model":"m","input":"x","store":1}`, "store"},
		{`{"model":"m","input":"x","reasoning":"high"}`, "reasoning"},
		{`{"model":"m","input":"x","reasoning":{"effort":1}}`, "reasoning.effort"},
		{`{"model":"m","input":"x","metadata":[1]}`, "metadata"},
		{`{"model":"m","input":"x","include":"all"}`, "include"},
		{`{"model":"m","input":"x","top_logprobs":21}`, "top_logprobs"},
		{`{"model":"m","input":"x","previous_response_id":5}`, "previous_response_id"},
	} {
		_, err := Decode([]byte(tc.body))
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("%s: err = %v, want a *wire.Error", tc.body, err)
			continue
		}
		if we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest || we.Param != tc.param {
			t.Errorf("%s: status %d code %s param %q (%s), want 400 %s param %q", tc.body, we.Status, we.Code, we.Param, we.Message, wire.CodeInvalidRequest, tc.param)
		}
	}
}
