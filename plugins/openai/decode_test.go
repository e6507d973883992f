package openai

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// TestDecodeCompletionLenient checks that fields of an unexpected type read as their zero
// value, as they did with openai-go's decoder, and that only a body that is not JSON fails.
func TestDecodeCompletionLenient(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    *provider.Response
		wantErr bool
	}{{
		name: "escapes and unicode",
		body: `{"id":"c","created":1.7e9,"choices":[{"index":"1","message":{"content":"a\"b\u00e9\n","role":null},"finish_reason":"stop"}]}`,
		want: &provider.Response{ID: "c", Created: 1700000000, Choices: []provider.Choice{{Index: 1, FinishReason: "stop",
			Message: provider.Message{Role: "assistant", Content: "a\"bé\n"}}}},
	}, {
		name: "wrong types read as zero",
		body: `{"id":5,"model":["x"],"created":"soon","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text"}],"tool_calls":"x","audio":null,"annotations":[]},"finish_reason":null}],"usage":{"prompt_tokens":"3","total_tokens":4.0}}`,
		want: &provider.Response{Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Extra: json.RawMessage(`{"annotations":[]}`)}}},
			Usage: &provider.Usage{PromptTokens: 3, TotalTokens: 4}},
	}, {
		name: "message not an object",
		body: `{"choices":[{"message":"hi","finish_reason":"stop"}],"usage":null}`,
		want: &provider.Response{Choices: []provider.Choice{{Message: provider.Message{Role: "assistant"}, FinishReason: "stop"}}},
	}, {
		name: "custom tool call",
		body: `{"choices":[{"message":{"tool_calls":[{"id":"t","type":"custom","custom":{"name":"n","input":"i"}}]}}]}`,
		want: &provider.Response{Choices: []provider.Choice{{Message: provider.Message{Role: "assistant",
			ToolCalls: []provider.ToolCall{{ID: "t", Type: "custom", Name: "n", Arguments: "i"}}}}}},
	}, {
		name: "invalid UTF-8 is replaced",
		body: "{\"choices\":[{\"message\":{\"content\":\"a\xffb\"}}]}",
		want: &provider.Response{Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: "a\uFFFDb"}}}},
	}, {
		name: "html", body: `<html>Bad Gateway</html>`, wantErr: true,
	}, {
		name: "truncated", body: `{"id":"c","choices":[{"index":0,`, wantErr: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCompletion([]byte(tc.body))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeChunkErrorEvent(t *testing.T) {
	for _, data := range []string{
		`{"error":{"message":"m","type":"server_error"}}`,
		`{"error":{"message":"m"},"choices":"not a list"}`,
	} {
		var c wireChunk
		err := decodeChunk(ssestream.Event{Data: []byte(data)}, &c)
		if _, ok := err.(*ssestream.StreamError); !ok {
			t.Errorf("%s: err = %v, want a stream error", data, err)
		}
	}
	var c wireChunk
	if err := decodeChunk(ssestream.Event{Data: []byte(`{"choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}`)}, &c); err != nil || c.Usage != nil || len(c.Choices) != 1 {
		t.Errorf("plain chunk: %v %+v", err, c)
	}
}

func TestMayHoldStreamKey(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"model":"m","messages":[]}`:                       false,
		`{"model":"m","stream":false}`:                      true,
		`{"model":"m","stream_options":null}`:               true,
		`{"model":"m","\u0073tream":true}`:                  true, // escaped key
		`{"messages":[{"content":"say \"stream\" twice"}]}`: true, // harmless false positive
	} {
		if got := mayHoldStreamKey([]byte(raw)); got != want {
			t.Errorf("mayHoldStreamKey(%s) = %v, want %v", raw, got, want)
		}
	}
}

func FuzzDecodeCompletion(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi","x":1},"finish_reason":"stop"}],"usage":{"total_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"message":{"tool_calls":[{"type":"custom","custom":{}}]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeCompletion(body)
		if err != nil {
			return
		}
		for _, c := range r.Choices {
			if c.Message.Extra != nil && !json.Valid(c.Message.Extra) {
				t.Fatalf("invalid extra %s", c.Message.Extra)
			}
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`))
	f.Add([]byte(`{"error":{"type":"rate_limit_error"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c wireChunk
		if decodeChunk(ssestream.Event{Data: data}, &c) == nil {
			_ = chunkFrom(&c)
		}
	})
}
