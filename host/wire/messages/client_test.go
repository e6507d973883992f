package messages

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// fakeRouter serves /v1/messages and /v1/messages/count_tokens with this package's
// decoders and encoders, as the router's server would: the official client is on the
// other end, so its request bodies must decode and its client must read the answers.
type fakeRouter struct {
	mu      sync.Mutex
	decoded []*wire.ChatRequest
	// answer is the chat answer to send; nil sends a 400 for the request's max_tokens.
	answer *provider.Response
}

func (f *fakeRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	count := r.URL.Path == "/v1/messages/count_tokens"
	var cr *wire.ChatRequest
	var err error
	if count {
		cr, err = DecodeCountTokens(body)
	} else {
		cr, err = Decode(body)
	}
	if err == nil && f.answer == nil {
		err = wire.BadRequest("max_tokens", "max_tokens: 100000 is more than the model allows")
	}
	if err != nil {
		var we *wire.Error
		errors.As(err, &we)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_1")
		w.WriteHeader(we.Status)
		_, _ = w.Write(ErrorJSONWithRequestID(we, "req_1"))
		return
	}
	f.mu.Lock()
	f.decoded = append(f.decoded, cr)
	f.mu.Unlock()
	switch {
	case count:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(CountTokensJSON(EstimateTokens(cr)))
	case cr.Stream:
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(toolStream())
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(AppendMessage(nil, f.answer, "claude-test", "req_1"))
	}
}

func client(t *testing.T, f *fakeRouter) sdk.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return sdk.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(srv.URL),
		option.WithAPIKey("test-key"), option.WithMaxRetries(0))
}

// params is a conversation with what the official client sends most: a system prompt, a
// custom tool and a forced choice, an image, a tool call and its result.
func params() sdk.MessageNewParams {
	return sdk.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 512,
		System:    []sdk.TextBlockParam{{Text: "Be brief."}},
		Messages: []sdk.MessageParam{
			sdk.NewUserMessage(sdk.NewTextBlock("Weather in Paris? See the map."), sdk.NewImageBlockBase64("image/png", "iVBORw0KGgo=")),
			sdk.NewAssistantMessage(sdk.NewToolUseBlock("toolu_1", map[string]any{"city": "Paris"}, "get_weather")),
			sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_1", "18°C, sunny", false)),
		},
		Tools: []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{Name: "get_weather",
			InputSchema: sdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}}},
		ToolChoice:    sdk.ToolChoiceUnionParam{OfAuto: &sdk.ToolChoiceAutoParam{DisableParallelToolUse: sdk.Bool(true)}},
		StopSequences: []string{"END"},
		Metadata:      sdk.MetadataParam{UserID: sdk.String("user-7")},
	}
}

func TestOfficialClientMessage(t *testing.T) {
	f := &fakeRouter{answer: &provider.Response{Choices: []provider.Choice{{FinishReason: "stop",
		Message: provider.Message{Content: "It is 18°C and sunny."}}}, Usage: &provider.Usage{PromptTokens: 80, CompletionTokens: 9}}}
	c := client(t, f)
	m, err := c.Messages.New(context.Background(), params())
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "msg_req_1" || m.Content[0].Text != "It is 18°C and sunny." || m.StopReason != sdk.StopReasonEndTurn ||
		m.Usage.InputTokens != 80 || m.Usage.OutputTokens != 9 {
		t.Errorf("client got %s", m.RawJSON())
	}

	// What the client sent decoded into the expected chat request.
	cr := f.decoded[0]
	r := cr.Provider
	wantRoles := []string{"system", "user", "assistant", "tool"}
	if len(r.Messages) != len(wantRoles) {
		t.Fatalf("messages %+v", r.Messages)
	}
	for i, role := range wantRoles {
		if r.Messages[i].Role != role {
			t.Errorf("message %d role %q, want %q", i, r.Messages[i].Role, role)
		}
	}
	if tc := r.Messages[2].ToolCalls; len(tc) != 1 || tc[0].ID != "toolu_1" || tc[0].Arguments != `{"city":"Paris"}` {
		t.Errorf("tool calls %+v", tc)
	}
	if tm := r.Messages[3]; tm.ToolCallID != "toolu_1" || tm.Content != "18°C, sunny" {
		t.Errorf("tool message %+v", tm)
	}
	if !cr.HasImages || !cr.HasTools || r.MaxTokens != 512 || r.User != "user-7" || string(r.ToolChoice) != `"auto"` ||
		r.ParallelToolCalls == nil || *r.ParallelToolCalls || len(r.Stop) != 1 {
		t.Errorf("decoded %+v", r)
	}
}

func TestOfficialClientStream(t *testing.T) {
	f := &fakeRouter{answer: &provider.Response{}}
	c := client(t, f)
	st := c.Messages.NewStreaming(context.Background(), params())
	var m sdk.Message
	for st.Next() {
		if err := m.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 2 || m.Content[1].AsToolUse().Name != "get_weather" || m.StopReason != sdk.StopReasonToolUse {
		t.Errorf("client accumulated %s", m.RawJSON())
	}
	if !f.decoded[0].Stream {
		t.Error("the client's stream: true was not decoded")
	}
}

func TestOfficialClientError(t *testing.T) {
	c := client(t, &fakeRouter{})
	_, err := c.Messages.New(context.Background(), params())
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %T %v, want *sdk.Error", err, err)
	}
	if apiErr.StatusCode != http.StatusBadRequest || apiErr.Type() != sdk.ErrorTypeInvalidRequestError ||
		apiErr.Message != "max_tokens: 100000 is more than the model allows" || apiErr.RequestID != "req_1" {
		t.Errorf("status %d, type %q, message %q, request id %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, apiErr.RequestID)
	}
}

func TestOfficialClientCountTokens(t *testing.T) {
	f := &fakeRouter{answer: &provider.Response{}}
	c := client(t, f)
	p := params()
	res, err := c.Messages.CountTokens(context.Background(), sdk.MessageCountTokensParams{
		Model: p.Model, Messages: p.Messages,
		System: sdk.MessageCountTokensParamsSystemUnion{OfTextBlockArray: p.System},
		Tools:  []sdk.MessageCountTokensToolUnionParam{{OfTool: p.Tools[0].OfTool}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := EstimateTokens(f.decoded[0]); res.InputTokens != want || want <= f.decoded[0].PromptTokensEstimate {
		t.Errorf("input_tokens %d, want %d (more than the prompt's %d: the tool counts)", res.InputTokens, want, f.decoded[0].PromptTokensEstimate)
	}
}
