package openai

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func completionsReq(body string, stream bool) *provider.Request {
	return &provider.Request{Model: "gpt-3.5-turbo-instruct", Endpoint: provider.EndpointCompletions, RawBody: []byte(body), Stream: stream,
		Messages: []provider.Message{{Role: "user", Content: "typed, must not be sent"}}}
}

func TestCompletionsComplete(t *testing.T) {
	const body = `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"logprobs":1,"echo":false}`
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "completion_text.json"))
	})
	resp, err := connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": "sk-test-123456789"}).Complete(context.Background(), completionsReq(body, false))
	if err != nil {
		t.Fatal(err)
	}
	got := up.last(t)
	if got.Path != "/v1/completions" || string(got.Body) != body || got.Header.Get("Authorization") != "Bearer sk-test-123456789" {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}
	if !bytes.Equal(resp.RawBody, fixture(t, "completion_text.json")) {
		t.Errorf("RawBody = %s", resp.RawBody)
	}
	jsonEqual(t, "logprobs", resp.Choices[0].Logprobs, `{"tokens":["\n\n","This"],"token_logprobs":[-0.1,-0.2],"top_logprobs":null,"text_offset":[16,18]}`)
	resp.RawBody, resp.Choices[0].Logprobs = nil, nil
	want := &provider.Response{ID: "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", Model: "gpt-3.5-turbo-instruct", Created: 1589478378, SystemFingerprint: "fp_44709d6fcb",
		Choices: []provider.Choice{{FinishReason: "length", Message: provider.Message{Role: "assistant", Content: "\n\nThis is indeed a test"}}},
		Usage:   &provider.Usage{PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("response:\ngot  %+v\nwant %+v", resp, want)
	}
}

func TestCompletionsStream(t *testing.T) {
	stream := fixture(t, "completion_text_stream.sse")
	all := frames(t, "completion_text_stream.sse")
	usageFrame, done := all[len(all)-2], all[len(all)-1]
	tests := []struct {
		name     string
		body     string
		wantBody string
		wantRaw  string
	}{{
		name:     "usage asked for by the plugin only",
		body:     `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","stream":true}`,
		wantBody: `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","stream":true,"stream_options":{"include_usage":true}}`,
		wantRaw:  strings.Join(all[:len(all)-2], ""),
	}, {
		name:     "usage asked for by the client",
		body:     `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","stream":true,"stream_options":{"include_usage":true}}`,
		wantBody: `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","stream":true,"stream_options":{"include_usage":true}}`,
		wantRaw:  strings.Join(all[:len(all)-2], "") + usageFrame,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, stream) })
			out := &sink{}
			usage, err := connect(t, settingsFor(up.URL, ""), nil).Stream(context.Background(), completionsReq(tc.body, true), out)
			if err != nil {
				t.Fatal(err)
			}
			if got := up.last(t); got.Path != "/v1/completions" || string(got.Body) != tc.wantBody {
				t.Errorf("upstream got %s %s, want %s", got.Path, got.Body, tc.wantBody)
			}
			if got := string(out.rawEvents()); got != tc.wantRaw || strings.Contains(got, done) {
				t.Errorf("forwarded:\n%s\nwant:\n%s", got, tc.wantRaw)
			}
			want := []provider.Delta{{Role: "assistant", Content: "\n\n"}, {Content: "This"}, {Content: " is"}, {Content: " a test", FinishReason: "stop"}}
			if got := out.deltas(); !reflect.DeepEqual(got, want) {
				t.Errorf("deltas:\ngot  %+v\nwant %+v", got, want)
			}
			if want := (&provider.Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9}); !reflect.DeepEqual(usage, want) {
				t.Errorf("usage = %+v", usage)
			}
			if c := out.chunks[0]; c.ID != "cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe" || c.Model != "gpt-3.5-turbo-instruct" || c.Created != 1690759702 {
				t.Errorf("chunk id/model/created = %q %q %d", c.ID, c.Model, c.Created)
			}
		})
	}
}

func TestCompletionsStreamFailures(t *testing.T) {
	all := frames(t, "completion_text_stream.sse")
	head := strings.Join(all[:2], "")
	tests := []struct {
		name string
		body string
		kind provider.Kind
	}{
		{name: "error event mid-stream", body: head + `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n", kind: provider.KindUpstreamUnavailable},
		{name: "rate limit event mid-stream", body: head + "event: error\n" + `data: {"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}` + "\n\n", kind: provider.KindRateLimited},
		{name: "ends before [DONE] mid-answer", body: head, kind: provider.KindUpstreamUnavailable},
		{name: "a frame that is not JSON", body: head + "data: {\"choices\":[\n\n", kind: provider.KindUpstreamUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, []byte(tc.body)) })
			out := &sink{}
			_, err := connect(t, settingsFor(up.URL, ""), nil).Stream(context.Background(), completionsReq(`{"model":"m","prompt":"x","stream":true}`, true), out)
			pe := asError(t, err)
			if pe.Kind != tc.kind || !pe.OutputStarted {
				t.Errorf("got %s output_started=%v %q, want %s after output", pe.Kind, pe.OutputStarted, pe.Message, tc.kind)
			}
			if got := string(out.rawEvents()); got != head {
				t.Errorf("forwarded:\n%s\nwant:\n%s", got, head)
			}
		})
	}
	t.Run("finished and usage but no [DONE]", func(t *testing.T) {
		body := strings.Join(all[:len(all)-1], "")
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeSSE(w, []byte(body)) })
		usage, err := connect(t, settingsFor(up.URL, ""), nil).Stream(context.Background(), completionsReq(`{"model":"m","prompt":"x","stream":true}`, true), &sink{})
		if err != nil || usage == nil || usage.TotalTokens != 9 {
			t.Fatalf("usage %+v, %v", usage, err)
		}
	})
}
