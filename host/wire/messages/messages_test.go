package messages

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// body is a Messages request with model and max_tokens and the given fields (JSON members
// without the braces).
func body(fields string) []byte {
	return []byte(`{"model":"claude-test","max_tokens":256,` + fields + `}`)
}

func mustDecode(t *testing.T, b []byte) *wire.ChatRequest {
	t.Helper()
	cr, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(%s): %v", b, err)
	}
	return cr
}

func jsonEq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %q is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func TestDecodeBasics(t *testing.T) {
	b := []byte(`{"model":"claude-test","max_tokens":1024,"system":"Be brief.",` +
		`"messages":[{"role":"user","content":"Hello there"}],` +
		`"stop_sequences":["END","STOP"],"temperature":0.5,"top_p":0.9,"top_k":40,"stream":true,` +
		`"metadata":{"user_id":"u-1","switchyard.tier":"gold"}}`)
	cr := mustDecode(t, b)
	r := cr.Provider
	if cr.Endpoint != provider.EndpointMessages || r.Endpoint != provider.EndpointMessages {
		t.Errorf("Endpoint = %q / %q, want %q", cr.Endpoint, r.Endpoint, provider.EndpointMessages)
	}
	if cr.Model != "claude-test" || r.Model != "claude-test" {
		t.Errorf("Model = %q / %q", cr.Model, r.Model)
	}
	want := []provider.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hello there"}}
	if !reflect.DeepEqual(r.Messages, want) {
		t.Errorf("Messages = %+v, want %+v", r.Messages, want)
	}
	if r.MaxTokens != 1024 || cr.MaxTokensField != "max_tokens" {
		t.Errorf("MaxTokens = %d, field %q", r.MaxTokens, cr.MaxTokensField)
	}
	if !reflect.DeepEqual(r.Stop, []string{"END", "STOP"}) {
		t.Errorf("Stop = %q", r.Stop)
	}
	if r.Temperature == nil || *r.Temperature != 0.5 || r.TopP == nil || *r.TopP != 0.9 {
		t.Errorf("Temperature, TopP = %v, %v", r.Temperature, r.TopP)
	}
	jsonEq(t, "Extra", r.Extra, `{"top_k":40}`)
	if !cr.Stream || !r.Stream || !r.IncludeUsage {
		t.Errorf("Stream = %v / %v, IncludeUsage %v, want all true", cr.Stream, r.Stream, r.IncludeUsage)
	}
	if r.User != "u-1" || r.Metadata != nil {
		t.Errorf("User = %q, Metadata = %v; want u-1 and none", r.User, r.Metadata)
	}
	if len(cr.Metadata) != 2 || string(cr.Metadata["switchyard.tier"]) != `"gold"` {
		t.Errorf("ChatRequest.Metadata = %v, want both entries", cr.Metadata)
	}
	if string(cr.Body) != string(b) {
		t.Error("Body is not the client's body")
	}
	// Facts: 9 + 11 characters of text, two chat messages.
	if cr.Messages != 2 || cr.Chars != 20 || cr.PromptTokensEstimate != 20/4+4*2+3 {
		t.Errorf("facts: Messages %d, Chars %d, estimate %d", cr.Messages, cr.Chars, cr.PromptTokensEstimate)
	}
	if cr.HasTools || cr.HasImages || cr.JSONMode || cr.NativeOnly != "" {
		t.Errorf("flags: tools %v, images %v, json %v, native-only %q", cr.HasTools, cr.HasImages, cr.JSONMode, cr.NativeOnly)
	}
	// A native plugin gets the client's body, Switchyard's metadata keys removed.
	raw := cr.RawBody("claude-upstream", nil)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if string(top["model"]) != `"claude-upstream"` || strings.Contains(string(top["metadata"]), "switchyard") {
		t.Errorf("RawBody = %s", raw)
	}
}

func TestDecodeMessages(t *testing.T) {
	tests := []struct {
		name   string
		fields string
		want   []provider.Message
		images bool
		chars  int
	}{
		{
			name:   "system as text blocks",
			fields: `"system":[{"type":"text","text":"One."},{"type":"text","text":"Two.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Hi"}]`,
			want:   []provider.Message{{Role: "system", Content: "One.\nTwo."}, {Role: "user", Content: "Hi"}},
			chars:  len("One.\nTwo.") + 2,
		},
		{
			name:   "empty system makes no message",
			fields: `"system":[],"messages":[{"role":"user","content":"Hi"}]`,
			want:   []provider.Message{{Role: "user", Content: "Hi"}},
			chars:  2,
		},
		{
			name:   "text blocks",
			fields: `"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"bc"}]}]`,
			want: []provider.Message{{Role: "user", Parts: []provider.ContentPart{
				{Type: "text", Text: "a"}, {Type: "text", Text: "bc"}}}},
			chars: 3,
		},
		{
			name: "images: base64 and url sources",
			fields: `"messages":[{"role":"user","content":[` +
				`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},` +
				`{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},` +
				`{"type":"text","text":"What are these?"}]}]`,
			want: []provider.Message{{Role: "user", Parts: []provider.ContentPart{
				{Type: "image_url", ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: "image_url", ImageURL: "https://example.com/cat.jpg"},
				{Type: "text", Text: "What are these?"}}}},
			images: true,
			chars:  len("What are these?"),
		},
		{
			name: "assistant text and tool_use",
			fields: `"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":[` +
				`{"type":"text","text":"Checking"},{"type":"text","text":" now."},` +
				`{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Paris", "units":"c" }},` +
				`{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]}]`,
			want: []provider.Message{{Role: "user", Content: "Weather?"}, {Role: "assistant", Content: "Checking now.",
				ToolCalls: []provider.ToolCall{
					{Index: 0, ID: "toolu_1", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris","units":"c"}`},
					{Index: 1, ID: "toolu_2", Type: "function", Name: "get_time", Arguments: `{}`}}}},
			chars: len("Weather?") + len("Checking now.") + len(`{"city":"Paris","units":"c"}`) + 2,
		},
		{
			name: "tool_use without input has {} arguments",
			fields: `"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[` +
				`{"type":"tool_use","id":"toolu_1","name":"ping"}]}]`,
			want: []provider.Message{{Role: "user", Content: "x"}, {Role: "assistant",
				ToolCalls: []provider.ToolCall{{ID: "toolu_1", Type: "function", Name: "ping", Arguments: `{}`}}}},
			chars: 1 + 2,
		},
		{
			name: "tool_result: string, text blocks, error, then user text",
			fields: `"messages":[{"role":"user","content":[` +
				`{"type":"tool_result","tool_use_id":"toolu_1","content":"18°C"},` +
				`{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"line 1"},{"type":"text","text":"line 2"}]},` +
				`{"type":"tool_result","tool_use_id":"toolu_3","content":"no such city","is_error":true},` +
				`{"type":"tool_result","tool_use_id":"toolu_4","is_error":true},` +
				`{"type":"tool_result","tool_use_id":"toolu_5"},` +
				`{"type":"text","text":"Thanks"}]}]`,
			want: []provider.Message{
				{Role: "tool", ToolCallID: "toolu_1", Content: "18°C"},
				{Role: "tool", ToolCallID: "toolu_2", Content: "line 1\nline 2"},
				{Role: "tool", ToolCallID: "toolu_3", Content: "Error: no such city"},
				{Role: "tool", ToolCallID: "toolu_4", Content: "Error"},
				{Role: "tool", ToolCallID: "toolu_5"},
				{Role: "user", Parts: []provider.ContentPart{{Type: "text", Text: "Thanks"}}}},
			chars: len("18°C") + len("line 1\nline 2") + len("Error: no such city") + len("Error") + len("Thanks"),
		},
		{
			name: "tool results only make no user message",
			fields: `"messages":[{"role":"user","content":[` +
				`{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]`,
			want:  []provider.Message{{Role: "tool", ToolCallID: "toolu_1", Content: "ok"}},
			chars: 2,
		},
		{
			name: "thinking blocks are left out",
			fields: `"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":[` +
				`{"type":"thinking","thinking":"Easy.","signature":"sig"},{"type":"redacted_thinking","data":"abc"},` +
				`{"type":"text","text":"4"}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"}]}]`,
			want: []provider.Message{{Role: "user", Content: "2+2?"}, {Role: "assistant", Content: "4"},
				{Role: "assistant"}},
			chars: 5,
		},
		{
			name:   "an empty user message keeps its turn",
			fields: `"messages":[{"role":"user","content":[]}]`,
			want:   []provider.Message{{Role: "user", Parts: []provider.ContentPart{}}},
		},
		{
			name:   "assistant string content",
			fields: `"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]`,
			want:   []provider.Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}},
			chars:  7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := mustDecode(t, body(tt.fields))
			if !reflect.DeepEqual(cr.Provider.Messages, tt.want) {
				t.Errorf("Messages =\n%+v\nwant\n%+v", cr.Provider.Messages, tt.want)
			}
			if cr.HasImages != tt.images {
				t.Errorf("HasImages = %v, want %v", cr.HasImages, tt.images)
			}
			if cr.Chars != tt.chars {
				t.Errorf("Chars = %d, want %d", cr.Chars, tt.chars)
			}
			if cr.Messages != len(tt.want) {
				t.Errorf("Messages fact = %d, want %d", cr.Messages, len(tt.want))
			}
			if want := int64(tt.chars/4 + 4*len(tt.want) + 3); cr.PromptTokensEstimate != want {
				t.Errorf("PromptTokensEstimate = %d, want %d", cr.PromptTokensEstimate, want)
			}
		})
	}
}

func TestDecodeTools(t *testing.T) {
	cr := mustDecode(t, body(`"messages":[{"role":"user","content":"Hi"}],"tools":[`+
		`{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object", "properties":{"city":{"type":"string"}},"required":["city"]},"cache_control":{"type":"ephemeral"}},`+
		`{"type":"custom","name":"noop","input_schema":{"type":"object"},"strict":true}]`))
	want := []provider.Tool{
		{Type: "function", Name: "get_weather", Description: "Weather of a city",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
		{Type: "function", Name: "noop", Parameters: json.RawMessage(`{"type":"object"}`), Strict: true},
	}
	if !reflect.DeepEqual(cr.Provider.Tools, want) {
		t.Errorf("Tools = %+v\nwant %+v", cr.Provider.Tools, want)
	}
	if !cr.HasTools {
		t.Error("HasTools is false")
	}
}

func TestDecodeToolChoice(t *testing.T) {
	tests := []struct {
		choice   string
		want     string
		parallel *bool
	}{
		{`{"type":"auto"}`, `"auto"`, nil},
		{`{"type":"any"}`, `"required"`, nil},
		{`{"type":"none"}`, `"none"`, nil},
		{`{"type":"tool","name":"get_weather"}`, `{"type":"function","function":{"name":"get_weather"}}`, nil},
		{`{"type":"auto","disable_parallel_tool_use":true}`, `"auto"`, new(false)},
		{`{"type":"any","disable_parallel_tool_use":true}`, `"required"`, new(false)},
		{`{"type":"tool","name":"f","disable_parallel_tool_use":true}`, `{"type":"function","function":{"name":"f"}}`, new(false)},
		{`{"type":"any","disable_parallel_tool_use":false}`, `"required"`, nil},
		// none calls no tool: whether calls may be parallel does not apply.
		{`{"type":"none","disable_parallel_tool_use":true}`, `"none"`, nil},
	}
	// Without tools, a tool_choice is checked but not translated: OpenAI refuses
	// tool_choice and parallel_tool_calls without tools.
	cr := mustDecode(t, body(`"messages":[{"role":"user","content":"Hi"}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}`))
	if cr.Provider.ToolChoice != nil || cr.Provider.ParallelToolCalls != nil {
		t.Errorf("without tools: ToolChoice %s, ParallelToolCalls %v", cr.Provider.ToolChoice, cr.Provider.ParallelToolCalls)
	}
	for _, tt := range tests {
		cr := mustDecode(t, body(`"messages":[{"role":"user","content":"Hi"}],`+
			`"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":`+tt.choice))
		jsonEq(t, tt.choice, cr.Provider.ToolChoice, tt.want)
		if !reflect.DeepEqual(cr.Provider.ParallelToolCalls, tt.parallel) {
			t.Errorf("%s: ParallelToolCalls = %v, want %v", tt.choice, cr.Provider.ParallelToolCalls, tt.parallel)
		}
	}
}

func TestDecodeReasoningAndFormat(t *testing.T) {
	tests := []struct {
		fields string
		effort string
		format string // ResponseFormat.JSONSchema, "" for none
	}{
		{`"thinking":{"type":"enabled","budget_tokens":1024}`, "low", ""},
		{`"thinking":{"type":"enabled","budget_tokens":4096}`, "medium", ""},
		{`"thinking":{"type":"enabled","budget_tokens":32000}`, "high", ""},
		{`"thinking":{"type":"disabled"}`, "", ""},
		{`"thinking":{"type":"adaptive"}`, "", ""},
		{`"thinking":{"type":"adaptive"},"output_config":{"effort":"low"}`, "low", ""},
		{`"output_config":{"effort":"max"}`, "high", ""},
		{`"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}`,
			"", `{"name":"output","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}`},
	}
	for _, tt := range tests {
		cr := mustDecode(t, body(`"messages":[{"role":"user","content":"Hi"}],`+tt.fields))
		r := cr.Provider
		if r.ReasoningEffort != tt.effort {
			t.Errorf("%s: ReasoningEffort = %q, want %q", tt.fields, r.ReasoningEffort, tt.effort)
		}
		if tt.format == "" {
			if r.ResponseFormat != nil || cr.JSONMode {
				t.Errorf("%s: ResponseFormat = %+v, JSONMode %v", tt.fields, r.ResponseFormat, cr.JSONMode)
			}
		} else {
			if r.ResponseFormat == nil || r.ResponseFormat.Type != "json_schema" || !cr.JSONMode {
				t.Fatalf("%s: ResponseFormat = %+v, JSONMode %v", tt.fields, r.ResponseFormat, cr.JSONMode)
			}
			jsonEq(t, tt.fields, r.ResponseFormat.JSONSchema, tt.format)
		}
		// Nothing of either reaches Extra, whose fields chat upstreams receive.
		if r.Extra != nil {
			t.Errorf("%s: Extra = %s, want none", tt.fields, r.Extra)
		}
	}
}

func TestDecodeCountTokens(t *testing.T) {
	b := []byte(`{"model":"claude-test","messages":[{"role":"user","content":"Hi"}]}`)
	if _, err := Decode(b); err == nil {
		t.Error("Decode accepted a body without max_tokens")
	}
	cr, err := DecodeCountTokens(b)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Provider.MaxTokens != 0 || cr.MaxTokensField != "" || cr.Endpoint != provider.EndpointMessages {
		t.Errorf("MaxTokens %d, field %q, endpoint %q", cr.Provider.MaxTokens, cr.MaxTokensField, cr.Endpoint)
	}
	// A max_tokens it is given is still checked.
	if _, err := DecodeCountTokens([]byte(`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"Hi"}]}`)); err == nil {
		t.Error("DecodeCountTokens accepted max_tokens 0")
	}
}

// TestDecodeRefusals checks that each request Decode refuses gets a 400 naming the field
// at fault, in Param and at the start of the message.
func TestDecodeRefusals(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"Hi"}]`
	user := func(blocks string) string { return `"messages":[{"role":"user","content":[` + blocks + `]}]` }
	asst := func(blocks string) string {
		return `"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[` + blocks + `]}]`
	}
	tests := []struct {
		name  string
		body  string
		param string
	}{
		{"not JSON", `{"model":`, ""},
		{"not an object", `[1]`, ""},
		{"repeated field", `{"model":"a","model":"b"}`, "model"},
		{"no model", `{"max_tokens":5,` + msgs + `}`, "model"},
		{"model not a string", `{"model":5,"max_tokens":5,` + msgs + `}`, "model"},
		{"no max_tokens", `{"model":"m",` + msgs + `}`, "max_tokens"},
		{"max_tokens 0", `{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens"},
		{"max_tokens not whole", `{"model":"m","max_tokens":1.5,` + msgs + `}`, "max_tokens"},
		{"max_tokens a string", `{"model":"m","max_tokens":"5",` + msgs + `}`, "max_tokens"},
		{"no messages", string(body(`"stream":false`)), "messages"},
		{"empty messages", string(body(`"messages":[]`)), "messages"},
		{"messages not an array", string(body(`"messages":{}`)), "messages"},
		{"message not an object", string(body(`"messages":["hi"]`)), "messages[0]"},
		{"system role", string(body(`"messages":[{"role":"system","content":"x"}]`)), "messages[0].role"},
		{"no role", string(body(`"messages":[{"content":"x"}]`)), "messages[0].role"},
		{"no content", string(body(`"messages":[{"role":"user"}]`)), "messages[0].content"},
		{"content a number", string(body(`"messages":[{"role":"user","content":5}]`)), "messages[0].content"},
		{"block without type", string(body(user(`{"text":"x"}`))), "messages[0].content[0].type"},
		{"text without text", string(body(user(`{"type":"text"}`))), "messages[0].content[0].text"},
		{"text not a string", string(body(user(`{"type":"text","text":5}`))), "messages[0].content[0].text"},
		{"thinking in a user message", string(body(user(`{"type":"thinking","thinking":"x","signature":"s"}`))), "messages[0].content[0].type"},
		{"tool_use in a user message", string(body(user(`{"type":"tool_use","id":"t","name":"f","input":{}}`))), "messages[0].content[0].type"},
		{"image without source", string(body(user(`{"type":"image"}`))), "messages[0].content[0].source"},
		{"image base64 without media type", string(body(user(`{"type":"image","source":{"type":"base64","data":"x"}}`))), "messages[0].content[0].source.media_type"},
		{"image base64 without data", string(body(user(`{"type":"image","source":{"type":"base64","media_type":"image/png"}}`))), "messages[0].content[0].source.data"},
		{"image url without url", string(body(user(`{"type":"image","source":{"type":"url"}}`))), "messages[0].content[0].source.url"},
		{"tool_result without id", string(body(user(`{"type":"tool_result","content":"x"}`))), "messages[0].content[0].tool_use_id"},
		{"tool_result content a number", string(body(user(`{"type":"tool_result","tool_use_id":"t","content":5}`))), "messages[0].content[0].content"},
		{"tool_result is_error a string", string(body(user(`{"type":"tool_result","tool_use_id":"t","is_error":"yes"}`))), "messages[0].content[0].is_error"},
		{"tool_use without id", string(body(asst(`{"type":"tool_use","name":"f","input":{}}`))), "messages[1].content[0].id"},
		{"tool_use without name", string(body(asst(`{"type":"tool_use","id":"t","input":{}}`))), "messages[1].content[0].name"},
		{"tool_use input an array", string(body(asst(`{"type":"tool_use","id":"t","name":"f","input":[1]}`))), "messages[1].content[0].input"},
		{"tool_result in an assistant message", string(body(asst(`{"type":"tool_result","tool_use_id":"t"}`))), "messages[1].content[0].type"},
		{"image in an assistant message", string(body(asst(`{"type":"image","source":{"type":"url","url":"https://x/y.png"}}`))), "messages[1].content[0].type"},
		{"system a number", string(body(`"system":5,` + msgs)), "system"},
		{"system block not text", string(body(`"system":[{"type":"image","source":{}}],` + msgs)), "system[0].type"},
		{"system block without text", string(body(`"system":[{"type":"text"}],` + msgs)), "system[0].text"},
		{"temperature above 1", string(body(`"temperature":1.5,` + msgs)), "temperature"},
		{"temperature a string", string(body(`"temperature":"hot",` + msgs)), "temperature"},
		{"top_p below 0", string(body(`"top_p":-0.1,` + msgs)), "top_p"},
		{"top_k negative", string(body(`"top_k":-1,` + msgs)), "top_k"},
		{"stop_sequences a string", string(body(`"stop_sequences":"END",` + msgs)), "stop_sequences"},
		{"stop sequence a number", string(body(`"stop_sequences":["a",5],` + msgs)), "stop_sequences[1]"},
		{"stream a string", string(body(`"stream":"yes",` + msgs)), "stream"},
		{"tools not an array", string(body(`"tools":{},` + msgs)), "tools"},
		{"tool without name", string(body(`"tools":[{"input_schema":{"type":"object"}}],` + msgs)), "tools[0].name"},
		{"tool without schema", string(body(`"tools":[{"name":"f"}],` + msgs)), "tools[0].input_schema"},
		{"tool schema not an object", string(body(`"tools":[{"name":"f","input_schema":"object"}],` + msgs)), "tools[0].input_schema"},
		{"tool_choice a string", string(body(`"tool_choice":"auto",` + msgs)), "tool_choice"},
		{"tool_choice without type", string(body(`"tool_choice":{},` + msgs)), "tool_choice.type"},
		{"tool_choice unknown type", string(body(`"tool_choice":{"type":"required"},` + msgs)), "tool_choice.type"},
		{"tool_choice tool without name", string(body(`"tool_choice":{"type":"tool"},` + msgs)), "tool_choice.name"},
		{"metadata not an object", string(body(`"metadata":[],` + msgs)), "metadata"},
		{"user_id not a string", string(body(`"metadata":{"user_id":5},` + msgs)), "metadata.user_id"},
		{"thinking not an object", string(body(`"thinking":true,` + msgs)), "thinking"},
		{"thinking without type", string(body(`"thinking":{"budget_tokens":2048},` + msgs)), "thinking.type"},
		{"thinking without budget", string(body(`"thinking":{"type":"enabled"},` + msgs)), "thinking.budget_tokens"},
		{"output_config unknown effort", string(body(`"output_config":{"effort":"extreme"},` + msgs)), "output_config.effort"},
		{"output_config format not json_schema", string(body(`"output_config":{"format":{"type":"xml"}},` + msgs)), "output_config.format.type"},
		{"output_config schema missing", string(body(`"output_config":{"format":{"type":"json_schema"}},` + msgs)), "output_config.format.schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, err := Decode([]byte(tt.body))
			if err == nil {
				t.Fatalf("Decode accepted %s: %+v", tt.body, cr.Provider)
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %T %v is not a *wire.Error", err, err)
			}
			if we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest || we.Type != wire.TypeInvalidRequest {
				t.Errorf("status %d, code %q, type %q; want 400 invalid_request", we.Status, we.Code, we.Type)
			}
			if we.Param != tt.param {
				t.Errorf("Param = %q, want %q (message %q)", we.Param, tt.param, we.Message)
			}
			// (A repeated field is wire.KeepBody's refusal, in its own words.)
			if tt.param != "" && tt.name != "repeated field" && !strings.HasPrefix(we.Message, tt.param+": ") {
				t.Errorf("message %q does not start with the field", we.Message)
			}
		})
	}
}

func TestDecodeMaxTokensMessage(t *testing.T) {
	_, err := Decode([]byte(`{"model":"m","messages":[{"role":"user","content":"Hi"}]}`))
	var we *wire.Error
	if !errors.As(err, &we) || we.Message != "max_tokens: Field required" || we.Param != "max_tokens" {
		t.Errorf("error = %#v, want Anthropic's \"max_tokens: Field required\"", err)
	}
}

// TestDecodeNativeOnly: what chat completions cannot carry is left out of the translation
// and marks the request NativeOnly at its path, so only a plugin that forwards Messages
// bodies as is serves it (the pipeline refuses it with 400 naming the path otherwise).
func TestDecodeNativeOnly(t *testing.T) {
	user := func(blocks string) string { return `"messages":[{"role":"user","content":[` + blocks + `]}]` }
	asst := func(blocks string) string {
		return `"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[` + blocks + `]}]`
	}
	msgs := `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct{ name, body, param string }{
		{"document", string(body(user(`{"type":"text","text":"x"},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}`))), "messages[0].content[1].type"},
		{"search_result", string(body(user(`{"type":"search_result","source":"s","title":"t","content":[]}`))), "messages[0].content[0].type"},
		{"unknown block", string(body(user(`{"type":"hologram"}`))), "messages[0].content[0].type"},
		{"image file source", string(body(user(`{"type":"image","source":{"type":"file","file_id":"file_1"}}`))), "messages[0].content[0].source.type"},
		{"tool_result with an image", string(body(user(`{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}`))), "messages[0].content[0].content[1].type"},
		{"server tool use", string(body(asst(`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"x"}}`))), "messages[1].content[0].type"},
		{"web search result", string(body(asst(`{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}`))), "messages[1].content[0].type"},
		{"server tool", string(body(`"tools":[{"name":"f","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],` + msgs)), "tools[1].type"},
		{"bash tool", string(body(`"tools":[{"type":"bash_20250124","name":"bash"}],` + msgs)), "tools[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("Decode refused %s: %v", tt.body, err)
			}
			if cr.NativeOnly != tt.param {
				t.Errorf("NativeOnly = %q, want %q", cr.NativeOnly, tt.param)
			}
		})
	}
}
