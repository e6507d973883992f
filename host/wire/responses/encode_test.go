package responses

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

const toolsRequest = `{"model":"gpt-x","instructions":"Be brief.","input":"Weather in Paris?","tools":[{"type":"function","name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}],"temperature":0.5,"metadata":{"team":"a","switchyard.tier":"gold"},"max_output_tokens":100,"user":"u1","reasoning":{"effort":"low"}}`

func textAndCall() *provider.Response {
	return &provider.Response{
		ID: "chatcmpl-1", Model: "gpt-x", Choices: []provider.Choice{{
			FinishReason: "tool_calls",
			Message: provider.Message{Role: "assistant", Content: "Let me check.", ToolCalls: []provider.ToolCall{
				{ID: "call_w1", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{Type: "function", Name: "get_weather", Arguments: `{"city":"Lyon"}`}}},
		}},
		Usage: &provider.Usage{PromptTokens: 40, CompletionTokens: 12, CachedPromptTokens: 8, ReasoningTokens: 4},
	}
}

// decodeOfficial reads an answer with openai-go's own type.
func decodeOfficial(t *testing.T, b []byte) responses.Response {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not JSON: %s", b)
	}
	var r responses.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("openai-go cannot read %s: %v", b, err)
	}
	return r
}

func TestAppendResponseReadByOpenAIGo(t *testing.T) {
	cr := mustDecode(t, toolsRequest)
	b := AppendResponse([]byte("prefix:"), cr, textAndCall(), "gpt-x-2025", "abc", 1700000000)
	if string(b[:7]) != "prefix:" {
		t.Fatalf("dst not appended to: %s", b)
	}
	r := decodeOfficial(t, b[7:])
	if r.ID != "resp_abc" || r.Object != "response" || r.CreatedAt != 1700000000 || r.Model != "gpt-x-2025" || r.Status != "completed" {
		t.Errorf("head: id %q object %q created %v model %q status %q", r.ID, r.Object, r.CreatedAt, r.Model, r.Status)
	}
	if got := r.OutputText(); got != "Let me check." {
		t.Errorf("OutputText() = %q", got)
	}
	if len(r.Output) != 3 {
		t.Fatalf("output = %d items", len(r.Output))
	}
	msg := r.Output[0].AsMessage()
	if msg.Type != "message" || msg.Role != "assistant" || msg.Status != "completed" || msg.ID == "" {
		t.Errorf("message item %+v", msg)
	}
	for i, want := range []struct{ callID, args string }{{"call_w1", `{"city":"Paris"}`}, {"", `{"city":"Lyon"}`}} {
		fc := r.Output[i+1].AsFunctionCall()
		if fc.Type != "function_call" || fc.Name != "get_weather" || fc.Arguments != want.args || fc.Status != "completed" || fc.ID == "" || fc.ID == msg.ID {
			t.Errorf("function call %d: %+v", i, fc)
		}
		if want.callID != "" && fc.CallID != want.callID || fc.CallID == "" {
			t.Errorf("function call %d: call_id %q", i, fc.CallID)
		}
	}
	if r.Output[1].ID == r.Output[2].ID || r.Output[1].CallID == r.Output[2].CallID {
		t.Errorf("two calls share an id: %s", b)
	}
	u := r.Usage
	if u.InputTokens != 40 || u.InputTokensDetails.CachedTokens != 8 || u.OutputTokens != 12 || u.OutputTokensDetails.ReasoningTokens != 4 || u.TotalTokens != 52 {
		t.Errorf("usage %+v", u)
	}
	// The request's parameters come back as the official object carries them.
	if r.Instructions.OfString != "Be brief." || r.Temperature != 0.5 || r.MaxOutputTokens != 100 || r.User != "u1" || !r.ParallelToolCalls {
		t.Errorf("echo: instructions %q temperature %v max %d user %q parallel %v", r.Instructions.OfString, r.Temperature, r.MaxOutputTokens, r.User, r.ParallelToolCalls)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "get_weather" || r.Tools[0].Type != "function" {
		t.Errorf("tools echo %+v", r.Tools)
	}
	if r.ToolChoice.OfToolChoiceMode != "auto" || r.Text.Format.Type != "text" || string(r.Reasoning.Effort) != "low" || r.JSON.ExtraFields["store"].Raw() != "false" {
		t.Errorf("tool_choice %q text %q effort %q store %s", r.ToolChoice.OfToolChoiceMode, r.Text.Format.Type, r.Reasoning.Effort, r.JSON.ExtraFields["store"].Raw())
	}
	if r.Metadata["team"] != "a" || r.Metadata["switchyard.tier"] != "gold" {
		t.Errorf("metadata %v", r.Metadata)
	}
	if r.JSON.Error.Raw() != "null" || r.JSON.IncompleteDetails.Raw() != "null" {
		t.Errorf("error %s incomplete %s", r.JSON.Error.Raw(), r.JSON.IncompleteDetails.Raw())
	}
}

func TestAppendResponseStatuses(t *testing.T) {
	cr := mustDecode(t, `{"model":"m","input":"x"}`)
	for _, tc := range []struct {
		finish, status, reason, itemStatus string
	}{
		{"stop", "completed", "", "completed"},
		{"", "completed", "", "completed"},
		{"length", "incomplete", "max_output_tokens", "incomplete"},
		{"content_filter", "incomplete", "content_filter", "incomplete"},
	} {
		r := &provider.Response{Choices: []provider.Choice{{FinishReason: tc.finish, Message: provider.Message{Content: "Once upon"}}}}
		got := decodeOfficial(t, AppendResponse(nil, cr, r, "m", "resp_1", 1))
		if got.Status != responses.ResponseStatus(tc.status) || got.IncompleteDetails.Reason != tc.reason || got.Output[0].Status != tc.itemStatus {
			t.Errorf("finish %q: status %q reason %q item %q", tc.finish, got.Status, got.IncompleteDetails.Reason, got.Output[0].Status)
		}
		if got.ID != "resp_1" {
			t.Errorf("id %q gained a second prefix", got.ID)
		}
	}
}

func TestAppendResponseRefusalAndEmpty(t *testing.T) {
	cr := mustDecode(t, `{"model":"m","input":"x"}`)
	r := &provider.Response{Choices: []provider.Choice{{FinishReason: "stop", Message: provider.Message{Refusal: "I can't help with that."}}}}
	got := decodeOfficial(t, AppendResponse(nil, cr, r, "m", "r", 1))
	msg := got.Output[0].AsMessage()
	if len(msg.Content) != 1 || msg.Content[0].Type != "refusal" || msg.Content[0].AsRefusal().Refusal != "I can't help with that." || got.OutputText() != "" {
		t.Errorf("refusal: %+v", msg.Content)
	}
	// No usage and no content: an empty message, usage null; no choice at all: no output.
	got = decodeOfficial(t, AppendResponse(nil, nil, &provider.Response{Choices: []provider.Choice{{}}}, "m", "r", 1))
	if len(got.Output) != 1 || got.OutputText() != "" || got.JSON.Usage.Raw() != "null" {
		t.Errorf("empty answer: %+v usage %s", got.Output, got.JSON.Usage.Raw())
	}
	got = decodeOfficial(t, AppendResponse(nil, nil, &provider.Response{}, "m", "r", 1))
	if len(got.Output) != 0 || got.Status != "completed" || got.JSON.Output.Raw() != "[]" {
		t.Errorf("no choice: %+v", got)
	}
}

func TestAppendResponseLogprobs(t *testing.T) {
	cr := mustDecode(t, `{"model":"m","input":"x","include":["message.output_text.logprobs"],"top_logprobs":1}`)
	r := &provider.Response{Choices: []provider.Choice{{FinishReason: "stop", Message: provider.Message{Content: "Hi"},
		Logprobs: json.RawMessage(`{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.1,"bytes":[72,105]}]}],"refusal":null}`)}}}
	got := decodeOfficial(t, AppendResponse(nil, cr, r, "m", "r", 1))
	lp := got.Output[0].AsMessage().Content[0].AsOutputText().Logprobs
	if len(lp) != 1 || lp[0].Token != "Hi" || lp[0].Logprob != -0.1 || len(lp[0].TopLogprobs) != 1 || got.TopLogprobs != 1 {
		t.Errorf("logprobs %+v top %d", lp, got.TopLogprobs)
	}
}

// officialClient is openai-go's client against a server answering with h.
func officialClient(t *testing.T, h http.HandlerFunc) openai.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
}

// TestOfficialClientReadsResponse goes through openai-go's client, not only its types.
func TestOfficialClientReadsResponse(t *testing.T) {
	var cr *wire.ChatRequest
	c := officialClient(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/responses" {
			http.NotFound(w, req)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err == nil {
			cr, err = Decode(body)
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(err.(*wire.Error).JSON())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(AppendResponse(nil, cr, textAndCall(), "gpt-x", "abc", 1700000000))
	})
	r, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "gpt-x", Instructions: openai.String("Be brief."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Let me check." || r.Usage.TotalTokens != 52 || r.Instructions.OfString != "Be brief." {
		t.Errorf("client read %q usage %d instructions %q", r.OutputText(), r.Usage.TotalTokens, r.Instructions.OfString)
	}
	if len(cr.Provider.Messages) != 2 || cr.Provider.Messages[1].Content != "Weather in Paris?" {
		t.Errorf("the client's request decoded to %+v", cr.Provider.Messages)
	}
}
