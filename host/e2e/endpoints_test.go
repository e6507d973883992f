package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// The APIs beside chat completions, through the built router and plugins, each driven by
// its official client: openai-go for Responses, legacy completions and embeddings,
// anthropic-sdk-go for Messages (to the mock, to the Anthropic plugin, which forwards the
// client's bytes, and to an OpenAI-compatible upstream, through translation), and the npm
// openai package for a Responses stream.

// anthropicClient is the official Anthropic Go client pointed at the router.
func (r *router) anthropicClient(key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(r.base), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

func weatherTool() responses.ToolUnionParam {
	return responses.ToolParamOfFunction("get_weather", map[string]any{
		"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}},
	}, false)
}

func TestResponsesOpenAIClient(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	c := r.client()
	t.Run("plain", func(t *testing.T) {
		var hr *http.Response
		resp, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("say hi")}}, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != "completed" || !strings.Contains(resp.OutputText(), "Hello from mock-small") {
			t.Fatalf("status %q, text %q", resp.Status, resp.OutputText())
		}
		if resp.Usage.InputTokens == 0 || resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens {
			t.Errorf("usage %+v", resp.Usage)
		}
		if hr.Header.Get("x-switchyard-provider") != "mock" || hr.Header.Get("x-switchyard-cost-usd") == "" {
			t.Errorf("headers %v", hr.Header)
		}
	})
	t.Run("stream", func(t *testing.T) {
		stream := c.Responses.NewStreaming(ctx(t), responses.ResponseNewParams{Model: "default",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("count to five please")}})
		var text string
		var types []string
		var final responses.Response
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				text += ev.Delta
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if types[0] != "response.created" || types[len(types)-1] != "response.completed" {
			t.Fatalf("events %v", types)
		}
		if text == "" || final.OutputText() != text {
			t.Errorf("deltas %q, final %q", text, final.OutputText())
		}
	})
	t.Run("tools", func(t *testing.T) {
		resp, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("please call tool for Paris")},
			Tools: []responses.ToolUnionParam{weatherTool()}})
		if err != nil {
			t.Fatal(err)
		}
		var call *responses.ResponseOutputItemUnion
		for i := range resp.Output {
			if resp.Output[i].Type == "function_call" {
				call = &resp.Output[i]
			}
		}
		if call == nil || call.Name != "get_weather" || !json.Valid([]byte(call.Arguments.OfString)) {
			t.Fatalf("want a get_weather call, got %+v", resp.Output)
		}
		// The tool's result goes back as a function_call_output item, statelessly.
		next, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default",
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("please call tool for Paris", responses.EasyInputMessageRoleUser),
				responses.ResponseInputItemParamOfFunctionCall(call.Arguments.OfString, call.CallID, call.Name),
				toolOutput(call.CallID, "sunny, 21 C"),
			}},
			Tools: []responses.ToolUnionParam{weatherTool()}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(next.OutputText(), "Tool result received") {
			t.Errorf("after the tool result: %q", next.OutputText())
		}
	})
	t.Run("json_schema", func(t *testing.T) {
		resp, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("give me json")},
			Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigParamOfJSONSchema("answer",
				map[string]any{"type": "object"})}})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid([]byte(resp.OutputText())) {
			t.Errorf("not JSON: %q", resp.OutputText())
		}
	})
	t.Run("stateful request to a translating target", func(t *testing.T) {
		code, _, body := r.post("/v1/responses", `{"model":"default","input":"hi","previous_response_id":"resp_123"}`)
		if code != 400 || !strings.Contains(string(body), "unsupported_endpoint_for_model") || !strings.Contains(string(body), `"param":"previous_response_id"`) {
			t.Errorf("got %d %s", code, body)
		}
	})
}

func TestCompletionsOpenAIClient(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	c := r.client()
	resp, err := c.Completions.New(ctx(t), openai.CompletionNewParams{Model: "default", MaxTokens: openai.Int(64),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "text_completion" || !strings.Contains(resp.Choices[0].Text, "Hello from mock-small") || resp.Usage.TotalTokens == 0 {
		t.Fatalf("%+v", resp)
	}
	stream := c.Completions.NewStreaming(ctx(t), openai.CompletionNewParams{Model: "default", MaxTokens: openai.Int(64),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say hi")}})
	var text string
	n := 0
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text += ch.Choices[0].Text
			n++
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 3 || text != resp.Choices[0].Text {
		t.Errorf("%d chunks adding up to %q, want the whole answer %q", n, text, resp.Choices[0].Text)
	}
}

func TestEmbeddingsOpenAIClient(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	c := r.client()
	var hr *http.Response
	resp, err := c.Embeddings.New(ctx(t), openai.EmbeddingNewParams{Model: "default",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world", "hello"}}}, option.WithResponseInto(&hr))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 3 || len(resp.Data[0].Embedding) == 0 || resp.Usage.PromptTokens == 0 {
		t.Fatalf("%+v", resp)
	}
	if fmt.Sprint(resp.Data[0].Embedding) != fmt.Sprint(resp.Data[2].Embedding) || fmt.Sprint(resp.Data[0].Embedding) == fmt.Sprint(resp.Data[1].Embedding) {
		t.Errorf("the mock's embeddings must be a function of the text")
	}
	if hr.Header.Get("x-switchyard-model") != "mock-small" || hr.Header.Get("x-switchyard-cost-usd") == "" {
		t.Errorf("headers %v", hr.Header)
	}
	small, err := c.Embeddings.New(ctx(t), openai.EmbeddingNewParams{Model: "default", Dimensions: openai.Int(8),
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(small.Data[0].Embedding) != 8 {
		t.Errorf("dimensions 8 gave %d", len(small.Data[0].Embedding))
	}
	// base64: the same vector as float32s, little-endian.
	code, _, body := r.post("/v1/embeddings", `{"model":"default","input":"hello","encoding_format":"base64"}`)
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &b64) != nil || len(b64.Data) != 1 {
		t.Fatalf("%d %s", code, body)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 4*len(resp.Data[0].Embedding) {
		t.Fatalf("base64 %v, %d bytes", err, len(raw))
	}
	for i, want := range resp.Data[0].Embedding {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != float32(want) {
			t.Fatalf("component %d: base64 %v, float %v", i, got, want)
		}
	}
}

// messagesTargets are the configs a Messages client is routed through: the mock (the host
// translates), the Anthropic plugin (native: the client's bytes are forwarded) and the
// OpenAI-compatible plugin (translated to chat).
func messagesTargets(t *testing.T) map[string]struct {
	cfg string
	up  *upstream
} {
	ant, oai := fakeAnthropic(t), fakeOpenAIAPIs(t)
	return map[string]struct {
		cfg string
		up  *upstream
	}{
		"mock": {cfg: baseConfig(t, "")},
		"anthropic": {up: ant, cfg: fmt.Sprintf(`
providers:
  - name: claude
    plugin: %s
    settings: {base_url: %s}
    secrets: {api_key: %s}
models:
  - {name: claude-test, provider: claude, model: claude-test-4, context_window: 200000, usd_per_mtok_in: 3, usd_per_mtok_out: 15}
routes:
  - {name: default, targets: [claude-test]}
`, built(t, "plugins/switchyard-provider-anthropic"), ant.URL, anthropicKey)},
		"openai-compatible": {up: oai, cfg: fmt.Sprintf(`
providers:
  - name: oai
    plugin: %s
    settings: {base_url: %s/v1}
    secrets: {api_key: sk-good-key-123456}
models:
  - {name: gpt-test, provider: oai, model: gpt-test-2026, context_window: 128000, usd_per_mtok_in: 2.5, usd_per_mtok_out: 10}
routes:
  - {name: default, targets: [gpt-test]}
`, built(t, "plugins/switchyard-provider-openai"), oai.URL)},
	}
}

func TestMessagesAnthropicClient(t *testing.T) {
	for name, tc := range messagesTargets(t) {
		t.Run(name, func(t *testing.T) {
			r := startRouter(t, tc.cfg)
			c := r.anthropicClient("unused")
			params := anthropic.MessageNewParams{Model: "default", MaxTokens: 128,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("say hi"))}}
			msg, err := c.Messages.New(ctx(t), params)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Role != "assistant" || len(msg.Content) == 0 || msg.Content[0].Type != "text" || strings.TrimSpace(msg.Content[0].Text) == "" {
				t.Fatalf("%+v", msg)
			}
			if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
			}

			stream := c.Messages.NewStreaming(ctx(t), params)
			var acc anthropic.Message
			var events []string
			for stream.Next() {
				ev := stream.Current()
				events = append(events, ev.Type)
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if events[0] != "message_start" || events[len(events)-1] != "message_stop" {
				t.Errorf("events %v", events)
			}
			if len(acc.Content) == 0 || acc.Content[0].Text != msg.Content[0].Text || acc.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("streamed %+v, whole %q", acc.Content, msg.Content[0].Text)
			}

			var hr *http.Response
			count, err := c.Messages.CountTokens(ctx(t), anthropic.MessageCountTokensParams{Model: "default",
				Messages: params.Messages}, aoption.WithResponseInto(&hr))
			if err != nil || count.InputTokens <= 0 {
				t.Fatalf("count_tokens %v %+v", err, count)
			}
			// The Anthropic plugin counts upstream; the others get the router's estimate.
			if src := hr.Header.Get("x-switchyard-token-count"); (name == "anthropic") != (src == "upstream" && count.InputTokens == 42) {
				t.Errorf("count_tokens %d from %q", count.InputTokens, src)
			}

			// A bad request gets Anthropic's envelope, which the client reads as its error.
			_, err = c.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 16})
			var ae *anthropic.Error
			if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.RawJSON(), `"type":"error"`) {
				t.Errorf("empty messages: %v", err)
			}
		})
	}
}

func TestMessagesTools(t *testing.T) {
	for name, tc := range messagesTargets(t) {
		t.Run(name, func(t *testing.T) {
			r := startRouter(t, tc.cfg)
			c := r.anthropicClient("unused")
			tools := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"query": map[string]any{"type": "string"}}}}}}
			msg, err := c.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 128, Tools: tools,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("please call tool for Paris"))}})
			if err != nil {
				t.Fatal(err)
			}
			var use *anthropic.ContentBlockUnion
			for i := range msg.Content {
				if msg.Content[i].Type == "tool_use" {
					use = &msg.Content[i]
				}
			}
			if use == nil || use.Name != "get_weather" || msg.StopReason != anthropic.StopReasonToolUse || !json.Valid(use.Input) {
				t.Fatalf("want a get_weather tool_use, got %+v stop %q", msg.Content, msg.StopReason)
			}
			next, err := c.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 128, Tools: tools,
				Messages: []anthropic.MessageParam{
					anthropic.NewUserMessage(anthropic.NewTextBlock("please call tool for Paris")),
					msg.ToParam(),
					anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny, 21 C", false)),
				}})
			if err != nil {
				t.Fatal(err)
			}
			if len(next.Content) == 0 {
				t.Fatalf("no answer after the tool result")
			}
			if name == "mock" && !strings.Contains(next.Content[0].Text, "Tool result received") {
				t.Errorf("after the tool result: %+v", next.Content)
			}
			if name == "openai-compatible" {
				// The tool result went upstream as a chat tool message answering the call.
				up := string(tc.up.body("/v1/chat/completions"))
				if !strings.Contains(up, `"role":"tool"`) || !strings.Contains(up, `"tool_call_id":"call_abc"`) || !strings.Contains(up, "sunny, 21 C") {
					t.Errorf("upstream got %s", up)
				}
			}
		})
	}
}

// TestMessagesNativePassthrough: to the Anthropic plugin, the client's bytes go upstream
// (model replaced) and the upstream's events come back as they were framed.
func TestMessagesNativePassthrough(t *testing.T) {
	tc := messagesTargets(t)["anthropic"]
	r := startRouter(t, tc.cfg)
	body := `{"model":"default","max_tokens":64,"top_k":5,"messages":[{"role":"user","content":"say hi"}]}`
	code, _, _ := r.post("/v1/messages", body, "x-api-key", "unused", "anthropic-version", "2023-06-01")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if got := string(tc.up.body("/v1/messages")); !strings.Contains(got, `"top_k":5`) || !strings.Contains(got, `"model":"claude-test-4"`) {
		t.Errorf("upstream got %s", got)
	}
	code, _, raw := r.post("/v1/messages", strings.Replace(body, `"max_tokens":64`, `"max_tokens":64,"stream":true`, 1), "anthropic-version", "2023-06-01")
	if code != 200 || !strings.Contains(string(raw), "event: ping\ndata: {\"type\": \"ping\"}\n\n") {
		t.Errorf("the upstream's own framing did not come through: %d %s", code, raw)
	}
	if strings.Count(string(raw), "event: message_stop") != 1 {
		t.Errorf("want exactly one message_stop: %s", raw)
	}
}

// TestMessagesKeys: with client keys configured, Anthropic clients authenticate with
// x-api-key, and a wrong key gets Anthropic's authentication_error.
func TestMessagesKeys(t *testing.T) {
	r := startRouter(t, baseConfig(t, "keys:\n  - {name: team-a, key: sk-sy-team-a-0123456789}\n"))
	good, bad := r.anthropicClient("sk-sy-team-a-0123456789"), r.anthropicClient("sk-wrong")
	if _, err := good.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}); err != nil {
		t.Fatal(err)
	}
	_, err := bad.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.RawJSON(), "authentication_error") || strings.Contains(ae.RawJSON(), "sk-wrong") {
		t.Errorf("wrong key: %v", err)
	}
}

// TestResponsesNative: the OpenAI plugin forwards Responses requests, so state kept
// upstream (previous_response_id) works there, and streams keep the upstream's events.
func TestResponsesNative(t *testing.T) {
	up := fakeOpenAIAPIs(t)
	r := startRouter(t, openAIConfig(t, up.URL, "sk-good-key-123456"))
	c := r.client()
	resp, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "gpt-test", PreviousResponseID: openai.String("resp_prev"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and then?")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "Hello from Responses" || resp.Usage.TotalTokens != 123 {
		t.Errorf("%q %+v", resp.OutputText(), resp.Usage)
	}
	if got := string(up.body("/v1/responses")); !strings.Contains(got, `"previous_response_id":"resp_prev"`) {
		t.Errorf("upstream got %s", got)
	}
	stream := c.Responses.NewStreaming(ctx(t), responses.ResponseNewParams{Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var text string
	n := 0
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "response.output_text.delta" {
			text += ev.Delta
		}
		if ev.Type == "response.completed" {
			n++
		}
	}
	if err := stream.Err(); err != nil || text != "Hello from Responses" || n != 1 {
		t.Errorf("stream: %v %q, %d response.completed", err, text, n)
	}
	// Legacy completions and embeddings are forwarded too.
	comp, err := c.Completions.New(ctx(t), openai.CompletionNewParams{Model: "gpt-test",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say hi")}})
	if err != nil || comp.Choices[0].Text != "Hello from completions" {
		t.Errorf("completions: %v %+v", err, comp)
	}
	emb, err := c.Embeddings.New(ctx(t), openai.EmbeddingNewParams{Model: "gpt-test",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil || len(emb.Data) != 2 || fmt.Sprint(emb.Data[1].Embedding) != "[0.5 -0.25 1]" {
		t.Errorf("embeddings: %v %+v", err, emb)
	}
}

// frontsConfig has a target that fails after its stream started and a route whose first
// target fails before it.
func frontsConfig(t *testing.T) string {
	mock := built(t, "plugins/switchyard-provider-mock")
	return fmt.Sprintf(`
providers:
  - name: mock
    plugin: %[1]s
    settings: {chunk_delay_ms: 1}
  - name: flaky
    plugin: %[1]s
    settings: {chunk_delay_ms: 1, fail: mid_stream, fail_after_chunks: 3}
  - name: down
    plugin: %[1]s
    settings: {fail: upstream_unavailable}
models:
  - {name: mock-small, provider: mock, context_window: 8192}
  - {name: flaky-small, provider: flaky, model: mock-small, context_window: 8192}
  - {name: down-small, provider: down, model: mock-small, context_window: 8192}
  - {name: claude-only, provider: claude, model: claude-x, context_window: 8192}
routes:
  - {name: midfail, targets: [flaky-small, mock-small]}
  - {name: recover, targets: [down-small, mock-small]}
retry: {max_attempts: 1}
`, mock)
}

// sseLines reads a raw stream's event names and data lines.
func sseLines(raw []byte) (events, data []string) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, v)
		}
	}
	return events, data
}

// TestStreamingContractFronts: in every API, a failure before the first byte falls back
// invisibly, and one after it ends the stream with the API's own error event, never its
// normal end.
func TestStreamingContractFronts(t *testing.T) {
	r := startRouter(t, strings.Replace(frontsConfig(t), "  - {name: claude-only, provider: claude, model: claude-x, context_window: 8192}\n", "", 1))
	cases := []struct {
		path, body   string
		errEvent     string // the event (or data prefix) that reports the failure
		normalEnd    string
		normalEndsIn string // "event" or "data"
	}{
		{"/v1/messages", `{"model":"%s","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"one two three four five six seven"}]}`, "error", "message_stop", "event"},
		{"/v1/responses", `{"model":"%s","stream":true,"input":"one two three four five six seven"}`, "response.failed", "response.completed", "event"},
		{"/v1/completions", `{"model":"%s","stream":true,"max_tokens":256,"prompt":"one two three four five six seven"}`, `{"error":`, "[DONE]", "data"},
		{"/v1/chat/completions", `{"model":"%s","stream":true,"messages":[{"role":"user","content":"one two three four five six seven"}]}`, `{"error":`, "[DONE]", "data"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			code, h, raw := r.post(tc.path, fmt.Sprintf(tc.body, "midfail"))
			events, data := sseLines(raw)
			if code != 200 || h.Get("x-switchyard-model") != "flaky-small" {
				t.Fatalf("status %d model %q", code, h.Get("x-switchyard-model"))
			}
			got := events
			if tc.normalEndsIn == "data" {
				got = data
			}
			failed, ended := false, false
			for _, v := range got {
				failed = failed || strings.HasPrefix(v, tc.errEvent)
				ended = ended || v == tc.normalEnd
			}
			if !failed || ended {
				t.Errorf("after a failure mid-stream: error event %v, normal end %v:\n%s", failed, ended, raw)
			}

			code, h, raw = r.post(tc.path, fmt.Sprintf(tc.body, "recover"))
			events, data = sseLines(raw)
			got = events
			if tc.normalEndsIn == "data" {
				got = data
			}
			if code != 200 || h.Get("x-switchyard-fallbacks") != "1" || len(got) == 0 || got[len(got)-1] != tc.normalEnd {
				t.Errorf("a failure before the first byte must fall back invisibly: %d fallbacks %q:\n%s", code, h.Get("x-switchyard-fallbacks"), raw)
			}
		})
	}
}

// TestUnsupportedEndpointForModel: a model whose plugin does not serve an API gets a 400
// saying so, in the API's own envelope, and validate lists what each model serves.
func TestUnsupportedEndpointForModel(t *testing.T) {
	cfg := strings.Replace(frontsConfig(t), "providers:\n", fmt.Sprintf("providers:\n  - name: claude\n    plugin: %s\n    settings: {base_url: http://127.0.0.1:9}\n    secrets: {api_key: %s}\n",
		built(t, "plugins/switchyard-provider-anthropic"), anthropicKey), 1)
	r := startRouter(t, cfg)
	code, _, body := r.post("/v1/embeddings", `{"model":"claude-only","input":"hi"}`)
	if code != 400 || !strings.Contains(string(body), `"code":"unsupported_endpoint_for_model"`) {
		t.Errorf("embeddings to an Anthropic model: %d %s", code, body)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, cfg)
	out, err := exec.Command(built(t, "switchyard"), "validate", "--config", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "claude-only (claude): chat.completions, responses, messages (native), completions") ||
		!strings.Contains(string(out), "mock-small (mock): chat.completions, responses, messages, completions, embeddings") {
		t.Errorf("validate: %v\n%s", err, out)
	}
}

// TestResponsesNodeClient streams a Responses request with the npm openai package.
func TestResponsesNodeClient(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	script := filepath.Join(root(t), "host", "e2e", "node", "responses_stream.mjs")
	out, err := exec.Command("node", script, r.base+"/v1", "default").Output()
	if err != nil {
		t.Fatalf("node: %v (install with make test, which runs npm ci in host/e2e/node)", err)
	}
	var got struct {
		Types      []string        `json:"types"`
		Text       string          `json:"text"`
		Status     string          `json:"status"`
		OutputText string          `json:"output_text"`
		Usage      json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Status != "completed" || got.Text == "" || got.OutputText != got.Text || got.Types[0] != "response.created" || len(got.Usage) < 5 {
		t.Errorf("%s", out)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// toolOutput is a function_call_output input item.
func toolOutput(callID, output string) responses.ResponseInputItemUnionParam {
	item := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	item.OfFunctionCallOutput.CallID = openai.String(callID)
	return item
}

// TestContentRules: the shipped content-aware rules, through the built router, whatever
// API the client speaks: the guard rejects a prompt with a card number (naming the
// detector, never the number) and sends one with an e-mail address only to the model
// allowed to see it; the content router sends code to the coder model.
func TestContentRules(t *testing.T) {
	mock := built(t, "plugins/switchyard-provider-mock")
	cfg := fmt.Sprintf(`
providers:
  - {name: mock, plugin: %s, settings: {chunk_delay_ms: 1}}
models:
  - {name: mock-small, provider: mock, context_window: 8192}
  - {name: mock-large, provider: mock, context_window: 128000, capabilities: [private, code]}
routes:
  - {name: default, targets: [mock-small, mock-large]}
rules:
  - name: guard
    module: %s
    content: {max_bytes: 4096}
    on_error: fail
    deadline: 50ms
    config:
      detectors:
        - {detector: card_number}
        - {detector: email, action: route, capability: private}
  - name: content-router
    module: %s
    content: {max_bytes: 4096}
    deadline: 50ms
    config:
      routes:
        - {name: code, when: {has_code_fence: true}, capability: code}
`, mock, built(t, "rules/guard.wasm"), built(t, "rules/content-router.wasm"))
	r := startRouter(t, cfg)
	const card = "4111 1111 1111 1111"
	for _, api := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":%q}]}`},
		{"/v1/messages", `{"model":"default","max_tokens":64,"messages":[{"role":"user","content":%q}]}`},
		{"/v1/responses", `{"model":"default","input":%q}`},
	} {
		t.Run(api.path, func(t *testing.T) {
			code, _, body := r.post(api.path, fmt.Sprintf(api.body, "charge my card "+card+" please"))
			if code != 400 || !strings.Contains(string(body), "card_number") || strings.Contains(string(body), "4111") {
				t.Errorf("card number: %d %s", code, body)
			}
			code, h, body := r.post(api.path, fmt.Sprintf(api.body, "write to ada@example.com about it"))
			if code != 200 || h.Get("x-switchyard-model") != "mock-large" || !strings.HasPrefix(h.Get("x-switchyard-rule"), "guard@") {
				t.Errorf("e-mail address: %d model %q rule %q %s", code, h.Get("x-switchyard-model"), h.Get("x-switchyard-rule"), body)
			}
			code, h, _ = r.post(api.path, fmt.Sprintf(api.body, "fix this:\n```go\nfunc main() {}\n```"))
			if code != 200 || h.Get("x-switchyard-model") != "mock-large" || !strings.HasPrefix(h.Get("x-switchyard-rule"), "content-router@") {
				t.Errorf("code: %d model %q rule %q", code, h.Get("x-switchyard-model"), h.Get("x-switchyard-rule"))
			}
			code, h, _ = r.post(api.path, fmt.Sprintf(api.body, "say hi"))
			if code != 200 || h.Get("x-switchyard-model") != "mock-small" || h.Get("x-switchyard-rule") != "default" {
				t.Errorf("plain prompt: %d model %q rule %q", code, h.Get("x-switchyard-model"), h.Get("x-switchyard-rule"))
			}
		})
	}
	if strings.Contains(r.log.String(), "4111") || strings.Contains(r.log.String(), "ada@example.com") {
		t.Errorf("the log holds prompt content:\n%s", r.log.String())
	}
}

// TestResponsesToAnthropic: an OpenAI Responses client routed to the Anthropic plugin,
// through the translation both ways: text, usage with cached tokens, and a tool call.
func TestResponsesToAnthropic(t *testing.T) {
	tc := messagesTargets(t)["anthropic"]
	r := startRouter(t, tc.cfg)
	c := r.client()
	resp, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("say hi")}})
	if err != nil {
		t.Fatal(err)
	}
	// The fake answered 12 input tokens of which 4 were read from the cache, and 6 out.
	if resp.OutputText() != "Hello from Claude" || resp.Usage.InputTokens != 16 || resp.Usage.InputTokensDetails.CachedTokens != 4 || resp.Usage.OutputTokens != 6 {
		t.Errorf("%q %+v", resp.OutputText(), resp.Usage)
	}
	if got := string(tc.up.body("/v1/messages")); !strings.Contains(got, `"model":"claude-test-4"`) || !strings.Contains(got, `"say hi"`) {
		t.Errorf("upstream got %s", got)
	}
	tools, err := c.Responses.New(ctx(t), responses.ResponseNewParams{Model: "default", Tools: []responses.ToolUnionParam{weatherTool()},
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather in Paris?")}})
	if err != nil {
		t.Fatal(err)
	}
	var call *responses.ResponseOutputItemUnion
	for i := range tools.Output {
		if tools.Output[i].Type == "function_call" {
			call = &tools.Output[i]
		}
	}
	if call == nil || call.Name != "get_weather" || call.CallID != "toolu_01A" || call.Arguments.OfString != `{"city":"Paris"}` {
		t.Fatalf("want the upstream's tool_use as a function_call, got %+v", tools.Output)
	}
	stream := c.Responses.NewStreaming(ctx(t), responses.ResponseNewParams{Model: "default",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("say hi")}})
	var text string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "response.output_text.delta" {
			text += ev.Delta
		}
	}
	if err := stream.Err(); err != nil || text != "Hello from Claude" {
		t.Errorf("stream: %v %q", err, text)
	}
}

// TestMessagesCachedTokens: an Anthropic client routed to an OpenAI-compatible upstream
// sees the upstream's cached prompt tokens as cache reads, the rest as input.
func TestMessagesCachedTokens(t *testing.T) {
	tc := messagesTargets(t)["openai-compatible"]
	r := startRouter(t, tc.cfg)
	c := r.anthropicClient("unused")
	msg, err := c.Messages.New(ctx(t), anthropic.MessageNewParams{Model: "default", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("cached please"))}})
	if err != nil {
		t.Fatal(err)
	}
	// The fake's chat usage: 10 prompt tokens, 4 of them cached, 2 completion tokens.
	if msg.Usage.InputTokens != 6 || msg.Usage.CacheReadInputTokens != 4 || msg.Usage.OutputTokens != 2 || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("usage %+v stop %q", msg.Usage, msg.StopReason)
	}
}
