package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// awkward are strings whose JSON quoting has every special case.
var awkward = []string{"", "plain", "quote \" back \\ slash", "<html> & </html>", "\b\f\n\r\t\x00\x1f\x7f",
	"é ü 日本 🎉", "bad \xff utf8 \xc3", "line\u2028sep\u2029", "\u00a0"}

func TestEncodersMatchEncodingJSON(t *testing.T) {
	for _, s := range awkward {
		calls := []provider.ToolCall{{Index: 1, ID: s, Name: s, Arguments: s}, {Arguments: "{}"}, {Type: "custom", Name: "f"}}
		usage := &provider.Usage{PromptTokens: 3, CompletionTokens: 4, CachedPromptTokens: 1, ReasoningTokens: 2}
		for _, r := range []*provider.Response{
			{ID: s, Created: 17, Choices: []provider.Choice{{Message: provider.Message{Content: s}, FinishReason: "stop"}}},
			{ID: "x", SystemFingerprint: s, Usage: usage, Choices: []provider.Choice{
				{Index: 0, Message: provider.Message{Role: "assistant", ToolCalls: calls, Refusal: s}, FinishReason: "tool_calls"},
				{Index: 1, Message: provider.Message{Content: s, ToolCalls: calls}}}},
			{Usage: &provider.Usage{PromptTokens: 1, TotalTokens: 9}},
			{ServiceTier: s, SystemFingerprint: "fp", Choices: []provider.Choice{{Message: provider.Message{Content: "a"},
				Logprobs: json.RawMessage(` {"content": [{"token": "<a&b>", "logprob": -0.5}]} `)}, {Logprobs: json.RawMessage(`{not json`)}}},
		} {
			if got, want := EncodeCompletion(r, s), refEncodeCompletion(r, s); !bytes.Equal(got, want) {
				t.Errorf("completion\n got %s\nwant %s", got, want)
			}
		}
		for _, c := range []*provider.Chunk{
			{Choices: []provider.Delta{{Role: "assistant", Content: s}}},
			{Choices: []provider.Delta{{Index: 2, Refusal: s, ToolCalls: calls, FinishReason: s}, {}}},
			{},
			{ServiceTier: "default", SystemFingerprint: s, Choices: []provider.Delta{{Content: "a", Logprobs: json.RawMessage(`{"content":[]}`)}}},
		} {
			if got, want := EncodeChunk(c, s, s, 42), refEncodeChunk(c, s, s, 42); !bytes.Equal(got, want) {
				t.Errorf("chunk\n got %s\nwant %s", got, want)
			}
		}
		for _, u := range []*provider.Usage{usage, nil} {
			if got, want := EncodeUsageChunk(u, s, s, 42), refEncodeUsageChunk(u, s, s, 42); !bytes.Equal(got, want) {
				t.Errorf("usage chunk\n got %s\nwant %s", got, want)
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

// FuzzScanner checks that the scanner accepts exactly what encoding/json accepts.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`, `{"a":-0.5e+3}`, `{"a":01}`,
		`{"a":"\x01"}`, `{"a":tru}`, `{"a":1,}`, `{"a" 1}`, "{\"\xff\":\"\xc3\"}", `{"a":"\ud800"}`, ` {} `, `{}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := scanObject(b, nil)
		valid := json.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if (err == nil) != valid {
			t.Fatalf("%q: scanner ok %v, encoding/json valid object %v", b, err == nil, valid)
		}
		if err != nil {
			return
		}
		var want map[string]json.RawMessage
		_ = json.Unmarshal(b, &want)
		o, _ := scanObject(b, nil)
		for _, m := range o {
			var s string
			if decodeString(m.val, &s) {
				var ref string
				if json.Unmarshal(m.val, &ref) != nil || ref != s {
					t.Fatalf("%q: string %q, encoding/json %q", m.val, s, ref)
				}
			}
			if strings.TrimSpace(string(m.val)) != string(m.val) {
				t.Fatalf("value with spaces %q", m.val)
			}
		}
	})
}

func TestExtraFieldsMatchEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"b":1,"a":{"x":[1, 2]},"c":"<&>","d":"\u2028","model":"m"}`,
		`{"z":true,"y":null,"x":"plain","w":{"k":"v"}}`,
		"{\"e\":\"\xe2\x80\xa8\",\"f\":\"é\"}",
	} {
		o, err := scanObject([]byte(body), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]json.RawMessage{}
		for _, f := range o {
			if !knownFields[string(f.key)] {
				want[string(f.key)] = f.val
			}
		}
		wantJSON, _ := json.Marshal(want)
		if got := extraFields(o, knownFields); !bytes.Equal(got, wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", body, got, wantJSON)
		}
	}
}
