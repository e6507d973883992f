package provider

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
)

// wire sends m through protobuf's binary encoding, as the transport does.
func wire[M proto.Message](t *testing.T, m M, into M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
	return into
}

func ptr[T any](v T) *T { return &v }

func TestRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		req  *Request
	}{
		{name: "zero", req: &Request{}},
		{name: "zero-valued pointers stay set", req: &Request{
			Temperature: ptr(0.0), TopP: ptr(0.0), PresencePenalty: ptr(0.0), FrequencyPenalty: ptr(0.0),
			Seed: ptr(int64(0)), ParallelToolCalls: ptr(false), ResponseFormat: &ResponseFormat{},
		}},
		{name: "full", req: &Request{
			ID: "req_1", Model: "gpt-4o-mini",
			Messages: []Message{
				{Role: "system", Content: "be brief"},
				{Role: "user", Parts: []ContentPart{
					{Type: "text", Text: "what is this?"},
					{Type: "image_url", ImageURL: "data:image/png;base64,AAAA", ImageDetail: "low"},
					{Type: "input_audio", Raw: json.RawMessage(`{"type":"input_audio","input_audio":{"data":"x"}}`)},
				}, Name: "bob", Extra: json.RawMessage(`{"cache_control":{"type":"ephemeral"}}`)},
				{Role: "assistant", ToolCalls: []ToolCall{
					{Index: 0, ID: "call_1", Type: "function", Name: "lookup", Arguments: `{"q":"a"}`},
					{Index: 1, ID: "call_2", Type: "function", Name: "lookup", Arguments: `{}`},
				}, Refusal: "no"},
				{Role: "tool", ToolCallID: "call_1", Content: "42"},
			},
			Tools:       []Tool{{Type: "function", Name: "lookup", Description: "look up", Parameters: json.RawMessage(`{"type":"object"}`), Strict: true}},
			ToolChoice:  json.RawMessage(`"auto"`),
			Temperature: ptr(0.7), TopP: ptr(0.9), PresencePenalty: ptr(-1.5), FrequencyPenalty: ptr(2.0),
			Seed: ptr(int64(-7)), MaxTokens: 1024, Stop: []string{"\n\n", "END"},
			ResponseFormat: &ResponseFormat{Type: "json_schema", JSONSchema: json.RawMessage(`{"name":"x","schema":{}}`)},
			IncludeUsage:   true, N: 2, User: "u1", ReasoningEffort: "low", ParallelToolCalls: ptr(true),
			Metadata: map[string]string{"tier": "free", "n": "3"},
			Extra:    json.RawMessage(`{"logprobs":true}`),
			RawBody:  []byte(`{"model":"gpt-4o-mini","messages":[]}`),
			Stream:   true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestFromProto(wire(t, requestToProto(tt.req), &providerv1.ChatRequest{}))
			if !reflect.DeepEqual(got, tt.req) {
				t.Fatalf("round trip changed the request:\n got %#v\nwant %#v", got, tt.req)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		resp *Response
	}{
		{name: "zero", resp: &Response{}},
		{name: "zero usage stays set", resp: &Response{Usage: &Usage{}}},
		{name: "full", resp: &Response{
			ID: "chatcmpl-1", Model: "m", Created: 1764000000, SystemFingerprint: "fp",
			Choices: []Choice{
				{Index: 0, Message: Message{Role: "assistant", Content: "hello"}, FinishReason: "stop"},
				{Index: 1, Message: Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c", Type: "function", Name: "f", Arguments: `{"a":1}`}}}, FinishReason: "tool_calls"},
			},
			Usage: &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, CachedPromptTokens: 4, ReasoningTokens: 5, CacheWriteTokens: 6},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := responseFromProto(wire(t, responseToProto(tt.resp), &providerv1.ChatResponse{}))
			if !reflect.DeepEqual(got, tt.resp) {
				t.Fatalf("got %#v\nwant %#v", got, tt.resp)
			}
		})
	}
}

func TestChunkInfoConfigErrorRoundTrip(t *testing.T) {
	chunk := &Chunk{ID: "c", Model: "m", Created: 5, Choices: []Delta{
		{Index: 0, Role: "assistant", Content: "he"},
		{Index: 1, ToolCalls: []ToolCall{{Index: 2, Arguments: `{"a`}}, FinishReason: "length", Refusal: "r"},
	}}
	if got := chunkFromProto(wire(t, chunkToProto(chunk), &providerv1.ChatChunk{})); !reflect.DeepEqual(got, chunk) {
		t.Errorf("chunk: got %#v", got)
	}
	info := Info{Name: "x", Version: "1", Models: []ModelInfo{{ID: "a", ContextWindow: 9, Capabilities: []string{"tools"}}, {ID: "b"}},
		Capabilities: []string{"stream"}, OpenAINative: true}
	if got := infoFromProto(wire(t, infoToProto(info), &providerv1.GetInfoResponse{})); !reflect.DeepEqual(got, info) {
		t.Errorf("info: got %#v", got)
	}
	cfg := Config{Instance: "i", Settings: json.RawMessage(`{"a":1}`), Secrets: map[string]string{"k": "v"}, HostVersion: "h"}
	if got := configFromProto(wire(t, configToProto(cfg), &providerv1.ConfigureRequest{})); !reflect.DeepEqual(got, cfg) {
		t.Errorf("config: got %#v", got)
	}
	for _, k := range Kinds() {
		e := &Error{Kind: k, Message: "m", Retryable: true, UpstreamStatus: 503, RetryAfter: 250 * time.Millisecond, OutputStarted: true}
		if got := errorFromProto(wire(t, errorToProto(e), &providerv1.ProviderError{})); !reflect.DeepEqual(got, e) {
			t.Errorf("error %s: got %#v", k, got)
		}
	}
	if len(Kinds()) != len(providerv1.ErrorKind_name)-1 {
		t.Errorf("Kinds() has %d kinds, the proto %d", len(Kinds()), len(providerv1.ErrorKind_name)-1)
	}
}
