package responses

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/responses"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// FuzzDecode checks that Decode never panics, refuses only with a 400 *wire.Error, and
// that whatever it accepts encodes back (whole and streamed) into JSON openai-go reads.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","input":"hi"}`,
		toolsRequest,
		`{"model":"m","instructions":"s","input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:image/png;base64,AA"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`,
		`{"model":"m","input":[{"type":"reasoning","id":"rs"}],"previous_response_id":"p","store":true}`,
		`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"},"strict":true}},"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"f"}]}}`,
		`{"model":"m","input":"x","metadata":{"switchyard.a":1,"b":"c"},"include":["message.output_text.logprobs"],"top_logprobs":2,"x":[1]}`,
		`{"model":"m","input":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}],"tools":[{"type":"web_search"}]}`,
		`{"model":"m","input":"\u2028<&>"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := Decode(body)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest {
				t.Fatalf("error %v is not a 400 invalid_request", err)
			}
			return
		}
		r := cr.Provider
		if cr.Endpoint != provider.EndpointResponses || r.Endpoint != provider.EndpointResponses || cr.Model == "" || r.Model != cr.Model {
			t.Fatalf("endpoint %q/%q model %q/%q", cr.Endpoint, r.Endpoint, cr.Model, r.Model)
		}
		if cr.Messages != len(r.Messages) || cr.NativeOnly == "" && cr.Messages == 0 {
			t.Fatalf("messages %d, translated %d, NativeOnly %q", cr.Messages, len(r.Messages), cr.NativeOnly)
		}
		if cr.PromptTokensEstimate != int64(cr.Chars/4+4*cr.Messages+3) {
			t.Fatalf("estimate %d for %d chars", cr.PromptTokensEstimate, cr.Chars)
		}
		for name, v := range map[string][]byte{"extra": r.Extra, "tool_choice": r.ToolChoice} {
			if v != nil && !json.Valid(v) {
				t.Fatalf("%s is not JSON: %s", name, v)
			}
		}
		if r.ResponseFormat != nil && r.ResponseFormat.JSONSchema != nil && !json.Valid(r.ResponseFormat.JSONSchema) {
			t.Fatalf("json_schema is not JSON: %s", r.ResponseFormat.JSONSchema)
		}
		for _, m := range r.Messages {
			for _, c := range m.ToolCalls {
				if c.ID == "" || c.Name == "" {
					t.Fatalf("tool call without id or name: %+v", c)
				}
			}
		}

		answer := &provider.Response{Choices: []provider.Choice{{FinishReason: "stop", Message: provider.Message{Content: "ok",
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}}}, Usage: &provider.Usage{PromptTokens: 1, CompletionTokens: 1}}
		var got responses.Response
		if b := AppendResponse(nil, cr, answer, "m", "id", 1); json.Unmarshal(b, &got) != nil || got.OutputText() != "ok" {
			t.Fatalf("answer not read back: %s", b)
		}
		s := NewStream(cr, "id", "m", 1)
		b := s.Start(nil)
		b = s.Chunk(b, text("ok"))
		b = s.Chunk(b, call(0, "c", "f", "{}"))
		b = s.End(b, nil)
		for _, fr := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n") {
			ev, data, ok := strings.Cut(fr, "\ndata: ")
			var e responses.ResponseStreamEventUnion
			if !ok || !strings.HasPrefix(ev, "event: ") || strings.Contains(data, "\n") || json.Unmarshal([]byte(data), &e) != nil || "event: "+e.Type != ev {
				t.Fatalf("bad event %q", fr)
			}
		}
	})
}
