package openai

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// TestRawPassthrough checks that the upstream receives the host's RawBody byte for byte,
// with only stream_options.include_usage added to a stream that lacks it.
func TestRawPassthrough(t *testing.T) {
	// Odd spacing, key order and unknown fields must all survive.
	const client = `{ "messages" : [{"role":"user","content":"Hi \u00e9"}],  "model":"gpt-4o-2024-08-06","logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"x"},"x_vendor":{"a":[1,2.50]}}`
	tests := []struct {
		name   string
		stream bool
		raw    string
		want   string
	}{{
		name: "complete",
		raw:  client,
		want: client,
	}, {
		name:   "stream without stream_options",
		stream: true,
		raw:    strings.Replace(client, `"logprobs":true`, `"stream":true,"logprobs":true`, 1),
		want:   strings.Replace(client, `"logprobs":true`, `"stream":true,"logprobs":true`, 1)[:len(client)+len(`"stream":true,`)-1] + `,"stream_options":{"include_usage":true}}`,
	}, {
		name:   "stream with include_usage already",
		stream: true,
		raw:    `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`,
		want:   `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`,
	}, {
		name:   "stream with other stream_options",
		stream: true,
		raw:    `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}`,
		want:   `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"messages":[]}`,
	}, {
		name:   "stream where the client refused usage",
		stream: true,
		raw:    `{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
		want:   `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
	}, {
		name: "complete called with a stream body",
		raw:  `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
		want: `{"model":"m","messages":[]}`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.stream {
					writeSSE(w, fixture(t, "stream_text.sse"))
				} else {
					writeJSON(w, 200, fixture(t, "completion.json"))
				}
			})
			p := connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": "sk-test-123456789"})
			// The typed fields disagree with the raw body: the raw body wins.
			req := &provider.Request{Model: "gpt-4o-2024-08-06", RawBody: []byte(tc.raw), Stream: tc.stream,
				Messages: []provider.Message{{Role: "user", Content: "typed, must not be sent"}}}
			var err error
			if tc.stream {
				var u *provider.Usage
				u, err = p.Stream(context.Background(), req, &sink{})
				if err == nil && u == nil {
					t.Error("no usage from the stream")
				}
			} else {
				_, err = p.Complete(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := up.last(t)
			if string(got.Body) != tc.want {
				t.Errorf("upstream body:\ngot  %s\nwant %s", got.Body, tc.want)
			}
			if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer sk-test-123456789" {
				t.Errorf("got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
			}
		})
	}
}

func TestRawPassthroughInvalid(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "completion.json"))
	})
	p := connect(t, settingsFor(up.URL, ""), nil)
	_, err := p.Complete(context.Background(), &provider.Request{Model: "m", RawBody: []byte(`[1,2]`)})
	if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest {
		t.Errorf("kind = %s", pe.Kind)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}
