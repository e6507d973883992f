package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// rawEvents is every RawEvent the stream sent, in order.
func (s *sink) rawEvents() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, c := range s.chunks {
		b = append(b, c.RawEvent...)
	}
	return b
}

// deltas is every typed delta the stream sent, in order.
func (s *sink) deltas() []provider.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []provider.Delta
	for _, c := range s.chunks {
		out = append(out, c.Choices...)
	}
	return out
}

// responsesBody is a client's Responses request as the host forwards it (model replaced).
const responsesBody = `{"model":"gpt-4.1-2025-04-14", "input":[{"role":"user","content":"Weather in Paris?"}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"store":false,"include":["message.output_text.logprobs"],"x_vendor":[1, 2.50]}`

func responsesReq(body string, stream bool) *provider.Request {
	return &provider.Request{Model: "gpt-4.1-2025-04-14", Endpoint: provider.EndpointResponses, RawBody: []byte(body), Stream: stream,
		// The typed fields, the request translated to chat, are not what is sent.
		Messages: []provider.Message{{Role: "user", Content: "typed, must not be sent"}}}
}

func TestInfoEndpoints(t *testing.T) {
	info, err := connect(t, `{}`, nil).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{provider.EndpointChat, provider.EndpointResponses, provider.EndpointCompletions, provider.EndpointEmbeddings}
	if !slices.Equal(info.Endpoints, want) {
		t.Errorf("Endpoints = %v, want %v", info.Endpoints, want)
	}
	for _, k := range []string{provider.EndpointChat, provider.EndpointResponses, provider.EndpointCompletions} {
		if !info.Native(k) {
			t.Errorf("not native for %s", k)
		}
	}
	if info.Native(provider.EndpointMessages) || info.Native(provider.EndpointEmbeddings) {
		t.Errorf("NativeEndpoints = %v: messages is the host's translation, embeddings is not a chat body", info.NativeEndpoints)
	}
}

func TestResponsesComplete(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "responses.json"))
	})
	p := connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": "sk-test-123456789"})
	resp, err := p.Complete(context.Background(), responsesReq(responsesBody, false))
	if err != nil {
		t.Fatal(err)
	}
	got := up.last(t)
	if got.Path != "/v1/responses" || got.Header.Get("Authorization") != "Bearer sk-test-123456789" {
		t.Errorf("upstream got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
	}
	if string(got.Body) != responsesBody {
		t.Errorf("upstream body:\ngot  %s\nwant %s", got.Body, responsesBody)
	}
	if !bytes.Equal(resp.RawBody, fixture(t, "responses.json")) {
		t.Errorf("RawBody is not the upstream's answer: %s", resp.RawBody)
	}
	want := &provider.Response{ID: "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", Model: "gpt-4.1-2025-04-14", Created: 1741476542,
		ServiceTier: "default",
		Choices: []provider.Choice{{FinishReason: "tool_calls", Message: provider.Message{Role: "assistant", Content: "Let me check.",
			ToolCalls: []provider.ToolCall{{ID: "call_12345xyz", Type: "function", Name: "get_weather", Arguments: `{"location":"Paris, France"}`}}}}},
		Usage: &provider.Usage{PromptTokens: 36, CompletionTokens: 87, TotalTokens: 123, CachedPromptTokens: 12, ReasoningTokens: 64}}
	jsonEqual(t, "logprobs", resp.Choices[0].Logprobs, `{"content":[
		{"token":"Let","logprob":-0.01,"bytes":[76,101,116],"top_logprobs":[]},
		{"token":" me","logprob":-0.2,"bytes":[32,109,101],"top_logprobs":[]},
		{"token":" check.","logprob":-0.3,"bytes":[32,99,104,101,99,107,46],"top_logprobs":[]}],"refusal":null}`)
	resp.RawBody, resp.Choices[0].Logprobs = nil, nil
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("response:\ngot  %+v\nwant %+v", resp, want)
	}
}

func TestResponsesCompleteShapes(t *testing.T) {
	tests := []struct {
		name       string
		answer     []byte
		wantFinish string
		wantText   string
		wantKind   provider.Kind
	}{
		{name: "incomplete at max_output_tokens", answer: fixture(t, "responses_incomplete.json"), wantFinish: "length", wantText: "The history of"},
		{name: "incomplete by the content filter", answer: []byte(`{"id":"r","status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`), wantFinish: "content_filter"},
		{name: "refusal", answer: []byte(`{"id":"r","status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"No."}]}]}`), wantFinish: "stop"},
		{name: "failed", answer: []byte(`{"id":"r","status":"failed","error":{"code":"server_error","message":"The model failed to answer"},"output":[]}`), wantKind: provider.KindUpstreamUnavailable},
		{name: "failed on the prompt", answer: []byte(`{"id":"r","status":"failed","error":{"code":"invalid_prompt","message":"Invalid prompt"},"output":[]}`), wantKind: provider.KindInvalidRequest},
		{name: "not JSON", answer: []byte(`<html>oops</html>`), wantKind: provider.KindUpstreamUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, tc.answer) })
			resp, err := connect(t, settingsFor(up.URL, ""), nil).Complete(context.Background(), responsesReq(responsesBody, false))
			if tc.wantKind != "" {
				if pe := asError(t, err); pe.Kind != tc.wantKind || pe.OutputStarted {
					t.Fatalf("got %+v, want %s", pe, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.FinishReason != tc.wantFinish || c.Message.Content != tc.wantText {
				t.Errorf("finish %q content %q, want %q %q", c.FinishReason, c.Message.Content, tc.wantFinish, tc.wantText)
			}
			if tc.name == "refusal" && c.Message.Refusal != "No." {
				t.Errorf("refusal = %q", c.Message.Refusal)
			}
		})
	}
}

// TestResponsesStreamField checks that the body's stream field is made to agree with the
// RPC called, and that nothing else changes: Responses streams report usage unasked.
func TestResponsesStreamField(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
		raw    string
		want   string
	}{
		{name: "stream body to Stream", stream: true, raw: `{"model":"m","stream":true,"input":"hi"}`, want: `{"model":"m","stream":true,"input":"hi"}`},
		{name: "plain body to Stream", stream: true, raw: `{"model":"m","input":"hi"}`, want: `{"model":"m","input":"hi","stream":true}`},
		{name: "stream body to Complete", raw: `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false},"input":"hi"}`, want: `{"model":"m","input":"hi"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.stream {
					writeSSE(w, fixture(t, "responses_stream.sse"))
				} else {
					writeJSON(w, 200, fixture(t, "responses.json"))
				}
			})
			p := connect(t, settingsFor(up.URL, ""), nil)
			var err error
			if tc.stream {
				_, err = p.Stream(context.Background(), responsesReq(tc.raw, true), &sink{})
			} else {
				_, err = p.Complete(context.Background(), responsesReq(tc.raw, false))
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := up.last(t).Body; string(got) != tc.want {
				t.Errorf("upstream body:\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResponsesStream(t *testing.T) {
	stream := fixture(t, "responses_stream.sse")
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, stream) })
	p := connect(t, settingsFor(up.URL, ""), nil)
	out := &sink{}
	usage, err := p.Stream(context.Background(), responsesReq(responsesBody, true), out)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.rawEvents(); !bytes.Equal(got, stream) {
		t.Errorf("the raw events are not the upstream's stream:\ngot  %s\nwant %s", got, stream)
	}
	// response.created and response.in_progress wait for the first output event.
	first := string(out.chunks[0].RawEvent)
	if !strings.HasPrefix(first, "event: response.created\n") || strings.Count(first, "\n\n") != 3 ||
		!strings.Contains(first, "event: response.output_item.added\n") {
		t.Errorf("first chunk's frames:\n%s", first)
	}
	for _, c := range out.chunks {
		if c.ID != "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b" || c.Model != "gpt-4.1-2025-04-14" || c.Created != 1741476542 {
			t.Fatalf("chunk id/model/created = %q %q %d", c.ID, c.Model, c.Created)
		}
	}
	if tier := out.chunks[len(out.chunks)-1].ServiceTier; tier != "default" {
		t.Errorf("last chunk's service tier = %q, want the completed response's", tier)
	}
	type tc = provider.ToolCall
	want := []provider.Delta{
		{Role: "assistant", Content: "Hi"},
		{Content: " there!"},
		{ToolCalls: []tc{{ID: "call_DF3wZtLHv5eBNfURjvI8MULJ", Type: "function", Name: "get_weather"}}},
		{ToolCalls: []tc{{Arguments: `{"location":`}}},
		{ToolCalls: []tc{{Arguments: `"Paris, France"}`}}},
		{FinishReason: "tool_calls"},
	}
	if got := out.deltas(); !reflect.DeepEqual(got, want) {
		t.Errorf("deltas:\ngot  %+v\nwant %+v", got, want)
	}
	wantUsage := &provider.Usage{PromptTokens: 37, CompletionTokens: 11, TotalTokens: 48, CachedPromptTokens: 5, ReasoningTokens: 2}
	if !reflect.DeepEqual(usage, wantUsage) {
		t.Errorf("usage = %+v, want %+v", usage, wantUsage)
	}
	if got := up.last(t); got.Path != "/v1/responses" || !bytes.Contains(got.Body, []byte(`"stream":true`)) || bytes.Contains(got.Body, []byte("stream_options")) {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}
}

// frames are the events of the recorded stream, one string each.
func frames(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, f := range strings.SplitAfter(string(fixture(t, name)), "\n\n") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestResponsesStreamFailures(t *testing.T) {
	ev := frames(t, "responses_stream.sse")
	head := strings.Join(ev[:5], "") // created, in_progress, item added, part added, "Hi"
	errorEvent := "event: error\ndata: " + `{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached for gpt-4.1 on tokens per min","param":null,"sequence_number":5}` + "\n\n"
	failed := "event: response.failed\ndata: " + `{"type":"response.failed","sequence_number":5,"response":{"id":"resp_1","object":"response","created_at":1741476542,"status":"failed","error":{"code":"server_error","message":"The model produced invalid content."},"output":[],"usage":{"input_tokens":37,"output_tokens":1,"total_tokens":38}}}` + "\n\n"
	tests := []struct {
		name          string
		body          string
		cut           bool
		kind          provider.Kind
		outputStarted bool
		inMessage     string
		wantRaw       string // the frames forwarded
	}{
		{name: "error event mid-stream", body: head + errorEvent, kind: provider.KindRateLimited, outputStarted: true, inMessage: "Rate limit reached", wantRaw: head},
		{name: "response.failed mid-stream", body: head + failed, kind: provider.KindUpstreamUnavailable, outputStarted: true, inMessage: "invalid content", wantRaw: head},
		{name: "nested error event", body: head + "event: error\ndata: " + `{"type":"error","error":{"type":"invalid_request_error","code":"context_length_exceeded","message":"Your input exceeds the context window of this model."}}` + "\n\n",
			kind: provider.KindContextLengthExceeded, outputStarted: true, inMessage: "context window", wantRaw: head},
		{name: "chat-style error chunk", body: head + "data: " + `{"error":{"message":"The server had an error","type":"server_error","code":null}}` + "\n\n",
			kind: provider.KindUpstreamUnavailable, outputStarted: true, inMessage: "server had an error", wantRaw: head},
		{name: "error before any output", body: strings.Join(ev[:2], "") + errorEvent, kind: provider.KindRateLimited, wantRaw: ""},
		{name: "ends before response.completed", body: head, kind: provider.KindUpstreamUnavailable, outputStarted: true, inMessage: "response.completed", wantRaw: head},
		{name: "connection cut", body: head + ev[5][:40], cut: true, kind: provider.KindUpstreamUnavailable, outputStarted: true, wantRaw: head},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if !tc.cut {
					writeSSE(w, []byte(tc.body))
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				_, _ = w.Write([]byte(tc.body))
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				_ = conn.Close()
			})
			p := connect(t, settingsFor(up.URL, ""), nil)
			out := &sink{}
			usage, err := p.Stream(context.Background(), responsesReq(responsesBody, true), out)
			pe := asError(t, err)
			if pe.Kind != tc.kind || pe.OutputStarted != tc.outputStarted || !strings.Contains(pe.Message, tc.inMessage) {
				t.Errorf("got %s output_started=%v %q, want %s output_started=%v containing %q", pe.Kind, pe.OutputStarted, pe.Message, tc.kind, tc.outputStarted, tc.inMessage)
			}
			if pe.Retryable != pe.Kind.DefaultRetryable() {
				t.Errorf("retryable = %v", pe.Retryable)
			}
			if got := string(out.rawEvents()); got != tc.wantRaw {
				t.Errorf("forwarded:\n%s\nwant:\n%s", got, tc.wantRaw)
			}
			if tc.name == "response.failed mid-stream" && (usage == nil || usage.TotalTokens != 38) {
				t.Errorf("usage = %+v, want the failed response's", usage)
			}
		})
	}
}

// TestResponsesStreamLenient covers what compatible servers send differently: arguments
// only in the finished item, a [DONE] at the end, comments, CRLF line ends.
func TestResponsesStreamLenient(t *testing.T) {
	body := ": keep-alive\r\n\r\n" +
		"event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\",\"model\":\"m\",\"status\":\"in_progress\"}}\r\n\r\n" +
		"data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"\"}}\n\n" +
		"data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}\n\n" +
		"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\",\"model\":\"m\",\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}\n\n" +
		"data: [DONE]\n\n"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, []byte(body)) })
	out := &sink{}
	usage, err := connect(t, settingsFor(up.URL, ""), nil).Stream(context.Background(), responsesReq(`{"model":"m","stream":true,"input":"x"}`, true), out)
	if err != nil {
		t.Fatal(err)
	}
	type tc = provider.ToolCall
	want := []provider.Delta{
		{Role: "assistant", ToolCalls: []tc{{ID: "c1", Type: "function", Name: "f"}}},
		{ToolCalls: []tc{{Arguments: `{"a":1}`}}},
		{FinishReason: "tool_calls"},
	}
	if got := out.deltas(); !reflect.DeepEqual(got, want) {
		t.Errorf("deltas:\ngot  %+v\nwant %+v", got, want)
	}
	if usage == nil || usage.TotalTokens != 5 {
		t.Errorf("usage = %+v", usage)
	}
	raw := string(out.rawEvents())
	if strings.Contains(raw, "keep-alive") || strings.Contains(raw, "[DONE]") || !strings.HasPrefix(raw, "event: response.created\r\n") {
		t.Errorf("forwarded:\n%q", raw)
	}
}

func TestResponsesUpstreamError(t *testing.T) {
	for _, stream := range []bool{false, true} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("retry-after", "2")
			writeJSON(w, 429, []byte(`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
		})
		p := connect(t, settingsFor(up.URL, ""), nil)
		var err error
		if stream {
			_, err = p.Stream(context.Background(), responsesReq(responsesBody, true), &sink{})
		} else {
			_, err = p.Complete(context.Background(), responsesReq(responsesBody, false))
		}
		if pe := asError(t, err); pe.Kind != provider.KindRateLimited || pe.UpstreamStatus != 429 || pe.RetryAfter.Seconds() != 2 {
			t.Errorf("stream=%v: got %+v", stream, pe)
		}
	}
}

// TestNotNativeBodyIgnored: a body of an API the plugin is not native for (messages) is
// never forwarded; the typed chat request is sent to chat completions.
func TestNotNativeBodyIgnored(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "completion.json"))
	})
	req := &provider.Request{Model: "gpt-4o", Endpoint: provider.EndpointMessages, RawBody: []byte(`{"model":"gpt-4o","max_tokens":5,"messages":[]}`),
		Messages: []provider.Message{{Role: "user", Content: "Hi"}}}
	resp, err := connect(t, settingsFor(up.URL, ""), nil).Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := up.last(t)
	if got.Path != "/v1/chat/completions" || resp.RawBody != nil {
		t.Errorf("path %s, RawBody %s", got.Path, resp.RawBody)
	}
	jsonEqual(t, "body", got.Body, `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`)
}

func TestAzureNativePaths(t *testing.T) {
	tests := []struct {
		name, wantPath, wantBody string
		req                      *provider.Request
	}{
		{name: "responses", req: responsesReq(`{"model":"gpt-4o","input":"hi"}`, false),
			wantPath: "/openai/responses", wantBody: `{"model":"my-gpt4o-deployment","input":"hi"}`},
		{name: "completions", req: &provider.Request{Model: "gpt-4o", Endpoint: provider.EndpointCompletions, RawBody: []byte(`{"model":"gpt-4o","prompt":"hi"}`)},
			wantPath: "/openai/deployments/my-gpt4o-deployment/completions", wantBody: `{"model":"gpt-4o","prompt":"hi"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.name == "responses" {
					writeJSON(w, 200, fixture(t, "responses.json"))
				} else {
					writeJSON(w, 200, fixture(t, "completion_text.json"))
				}
			})
			settings := `{"azure":{"endpoint":` + quote(up.URL) + `,"api_version":"2025-04-01-preview","deployments":{"gpt-4o":"my-gpt4o-deployment"}}}`
			tc.req.Model = "gpt-4o"
			if _, err := connect(t, settings, map[string]string{"api_key": "azure-key-0123456789"}).Complete(context.Background(), tc.req); err != nil {
				t.Fatal(err)
			}
			got := up.last(t)
			if got.Path != tc.wantPath || got.RawQuery != "api-version=2025-04-01-preview" || got.Header.Get("api-key") != "azure-key-0123456789" {
				t.Errorf("upstream got %s?%s api-key %q", got.Path, got.RawQuery, got.Header.Get("api-key"))
			}
			jsonEqual(t, "body", got.Body, tc.wantBody)
		})
	}
}

// TestChatExtras checks the v1.1 fields of chat answers: service_tier, logprobs, and the
// stream-level system_fingerprint and service_tier on every chunk; and typed logprobs.
func TestChatExtras(t *testing.T) {
	lp := `{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]}],"refusal":null}`
	completion := `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","service_tier":"flex","system_fingerprint":"fp_1",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"logprobs":` + lp + `,"finish_reason":"stop"}]}`
	stream := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","service_tier":"flex","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":` + lp + `,"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","service_tier":"flex","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}` + "\n\ndata: [DONE]\n\n"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if bytes.Contains(body, []byte(`"stream":true`)) {
			writeSSE(w, []byte(stream))
		} else {
			writeJSON(w, 200, []byte(completion))
		}
	})
	p := connect(t, settingsFor(up.URL, ""), nil)
	top := int32(2)
	req := &provider.Request{Model: "gpt-4o", Logprobs: true, TopLogprobs: &top, Messages: []provider.Message{{Role: "user", Content: "x"}}}
	resp, err := p.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "typed logprobs sent", up.requests()[0].Body, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2}`)
	if resp.ServiceTier != "flex" || resp.SystemFingerprint != "fp_1" {
		t.Errorf("service tier %q fingerprint %q", resp.ServiceTier, resp.SystemFingerprint)
	}
	jsonEqual(t, "choice logprobs", resp.Choices[0].Logprobs, lp)
	out := &sink{}
	if _, err := p.Stream(context.Background(), req, out); err != nil {
		t.Fatal(err)
	}
	if len(out.chunks) != 2 {
		t.Fatalf("%d chunks", len(out.chunks))
	}
	for _, c := range out.chunks {
		if c.ServiceTier != "flex" || c.SystemFingerprint != "fp_1" {
			t.Errorf("chunk service tier %q fingerprint %q", c.ServiceTier, c.SystemFingerprint)
		}
	}
	jsonEqual(t, "delta logprobs", out.chunks[0].Choices[0].Logprobs, lp)
	if l := out.chunks[1].Choices[0].Logprobs; l != nil {
		t.Errorf("null logprobs read as %s", l)
	}
	var extra map[string]json.RawMessage
	_ = json.Unmarshal(up.requests()[1].Body, &extra)
	if string(extra["logprobs"]) != "true" {
		t.Errorf("stream body %s", up.requests()[1].Body)
	}
}
