package openai

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

const testKey = "sk-proj-Zx81u5P0qLm3ttSECRET"

// TestUpstreamErrors checks the classification of real OpenAI error answers, for Complete
// and for Stream (where the failure comes before the first delta).
func TestUpstreamErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       provider.Kind
		retryable  bool
		retryAfter time.Duration
		inMessage  string
	}{{
		name: "429 retry-after", status: 429, header: map[string]string{"retry-after": "2"},
		body: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
		kind: provider.KindRateLimited, retryable: true, retryAfter: 2 * time.Second, inMessage: "Rate limit reached",
	}, {
		name: "429 retry-after-ms", status: 429, header: map[string]string{"retry-after-ms": "750", "retry-after": "1"},
		body: `{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
		kind: provider.KindRateLimited, retryable: true, retryAfter: 750 * time.Millisecond,
	}, {
		name: "429 x-ratelimit-reset-requests", status: 429,
		header: map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s", "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "100"},
		body:   `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
		kind:   provider.KindRateLimited, retryable: true, retryAfter: 1500 * time.Millisecond,
	}, {
		name: "429 insufficient_quota", status: 429,
		body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
		kind: provider.KindQuotaExhausted, inMessage: "exceeded your current quota",
	}, {
		name: "500", status: 500,
		body: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
		kind: provider.KindUpstreamUnavailable, retryable: true,
	}, {
		name: "503 overloaded with retry-after", status: 503, header: map[string]string{"retry-after": "3"},
		body: `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`,
		kind: provider.KindUpstreamUnavailable, retryable: true, retryAfter: 3 * time.Second,
	}, {
		name: "502 html from a proxy", status: 502, header: map[string]string{"content-type": "text/html"},
		body: `<html><body>Bad Gateway</body></html>`,
		kind: provider.KindUpstreamUnavailable, retryable: true, inMessage: "502",
	}, {
		name: "400 context_length_exceeded", status: 400,
		body: `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
		kind: provider.KindContextLengthExceeded, inMessage: "maximum context length",
	}, {
		name: "400 content_policy_violation", status: 400,
		body: `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}`,
		kind: provider.KindContentFiltered,
	}, {
		name: "400 azure content_filter", status: 400,
		body: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
		kind: provider.KindContentFiltered,
	}, {
		name: "400 invalid request", status: 400,
		body: `{"error":{"message":"Invalid value for 'temperature': expected a number <= 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`,
		kind: provider.KindInvalidRequest, inMessage: "temperature",
	}, {
		name: "401 echoes the key", status: 401,
		body: `{"error":{"message":"Incorrect API key provided: Bearer ` + testKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
		kind: provider.KindAuthentication, inMessage: "Incorrect API key",
	}, {
		name: "403", status: 403,
		body: `{"error":{"message":"Project does not have access to model gpt-5","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
		kind: provider.KindPermissionDenied,
	}, {
		name: "404 model not found", status: 404,
		body: `{"error":{"message":"The model 'gpt-9' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
		kind: provider.KindNotFound, inMessage: "gpt-9",
	}, {
		name: "404 ollama shape", status: 404,
		body: `{"error":"model \"llama9\" not found, try pulling it first"}`,
		kind: provider.KindNotFound, inMessage: "llama9",
	}}
	for _, tc := range tests {
		for _, mode := range []string{"Complete", "Stream"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					if w.Header().Get("content-type") == "" {
						w.Header().Set("content-type", "application/json")
					}
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(strings.ReplaceAll(tc.body, "Bearer "+testKey, r.Header.Get("Authorization"))))
				})
				p := connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": testKey})
				req := &provider.Request{Model: "gpt-4o", Messages: []provider.Message{{Role: "user", Content: "x"}}}
				var err error
				if mode == "Complete" {
					_, err = p.Complete(context.Background(), req)
				} else {
					req.Stream = true
					_, err = p.Stream(context.Background(), req, &sink{})
				}
				pe := asError(t, err)
				if pe.Kind != tc.kind || pe.Retryable != tc.retryable || pe.UpstreamStatus != tc.status {
					t.Errorf("got kind %s retryable %v status %d, want %s %v %d", pe.Kind, pe.Retryable, pe.UpstreamStatus, tc.kind, tc.retryable, tc.status)
				}
				if pe.RetryAfter != tc.retryAfter {
					t.Errorf("retry after %v, want %v", pe.RetryAfter, tc.retryAfter)
				}
				if !strings.Contains(pe.Message, tc.inMessage) {
					t.Errorf("message %q does not contain %q", pe.Message, tc.inMessage)
				}
				if strings.Contains(pe.Message, testKey) || strings.Contains(pe.Error(), "Zx81u5P0qLm3tt") {
					t.Errorf("the API key leaked into the error: %q", pe.Message)
				}
				if pe.OutputStarted {
					t.Error("OutputStarted set for a failure before any output")
				}
			})
		}
	}
}

// TestKeyNeverInMessage uses a key no generic pattern recognizes: only the plugin's own
// redaction can remove it.
func TestKeyNeverInMessage(t *testing.T) {
	const key = "Q7vV2plainLookingSecret99"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 401, []byte(`{"error":{"message":"Incorrect API key provided: `+r.Header.Get("Authorization")+` (`+r.Header.Get("X-Custom-Auth")+`)","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
	})
	p := connect(t, settingsFor(up.URL, `"headers":{"X-Custom-Auth":"helicone-token-0123456789"}`), map[string]string{"api_key": key})
	_, err := p.Complete(context.Background(), &provider.Request{Model: "m", Messages: []provider.Message{{Role: "user", Content: "x"}}})
	pe := asError(t, err)
	if pe.Kind != provider.KindAuthentication {
		t.Errorf("kind = %s", pe.Kind)
	}
	for _, s := range []string{key, "helicone-token-0123456789"} {
		if strings.Contains(pe.Message, s) {
			t.Errorf("message %q holds a secret", pe.Message)
		}
	}
}

// TestTransportFailures covers failures without an HTTP answer.
func TestTransportFailures(t *testing.T) {
	closed := newUpstream(t, func(http.ResponseWriter, *http.Request, []byte) {})
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request, body []byte)
		base     string // instead of the fake upstream
		settings string
		ctx      func() (context.Context, context.CancelFunc)
		kind     provider.Kind
	}{{
		name: "connection refused",
		base: closedURL,
		kind: provider.KindUpstreamUnavailable,
	}, {
		name: "connection reset before an answer",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST
			}
			_ = conn.Close()
		},
		kind: provider.KindUpstreamUnavailable,
	}, {
		name: "closed after half a header",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
			_ = buf.Flush()
			_ = conn.Close()
		},
		kind: provider.KindUpstreamUnavailable,
	}, {
		name: "truncated JSON body",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,`))
		},
		kind: provider.KindUpstreamUnavailable,
	}, {
		name: "slow first byte past the host deadline",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		},
		kind: provider.KindUpstreamTimeout,
	}, {
		name: "slow first byte past timeout_ms",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		settings: `"timeout_ms":150`,
		kind:     provider.KindUpstreamTimeout,
	}, {
		name: "host cancels",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(150*time.Millisecond, cancel)
			return ctx, cancel
		},
		kind: provider.KindCancelled,
	}}
	for _, tc := range tests {
		for _, mode := range []string{"Complete", "Stream"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				base := tc.base
				if base == "" {
					base = newUpstream(t, tc.handler).URL
				}
				p := connect(t, settingsFor(base, tc.settings), map[string]string{"api_key": testKey})
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				defer cancel()
				req := &provider.Request{Model: "gpt-4o", Messages: []provider.Message{{Role: "user", Content: "x"}}}
				start := time.Now()
				var err error
				if mode == "Complete" {
					_, err = p.Complete(ctx, req)
				} else {
					req.Stream = true
					_, err = p.Stream(ctx, req, &sink{})
				}
				if tc.kind == provider.KindCancelled && pluginhost.IsTransportError(err) {
					// The host side reports its own cancellation; the plugin's answer may
					// not reach it. Either way it must be quick.
					if time.Since(start) > 2*time.Second {
						t.Errorf("took %v", time.Since(start))
					}
					return
				}
				pe := asError(t, err)
				if pe.Kind != tc.kind {
					t.Errorf("kind = %s (%q), want %s", pe.Kind, pe.Message, tc.kind)
				}
				if pe.Kind.DefaultRetryable() != pe.Retryable {
					t.Errorf("retryable = %v for %s", pe.Retryable, pe.Kind)
				}
				if strings.Contains(pe.Message, testKey) || strings.Contains(pe.Message, "127.0.0.1") {
					t.Errorf("message %q holds a secret or the address", pe.Message)
				}
				if time.Since(start) > 3*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
			})
		}
	}
}

// TestStreamFailures covers failures after the stream began.
func TestStreamFailures(t *testing.T) {
	first := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	finish := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n"
	usage := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"
	tests := []struct {
		name      string
		body      string
		cut       bool // close the connection abruptly after body
		kind      provider.Kind
		ok        bool
		wantText  string
		wantUsage bool
	}{{
		name: "cut in the middle", body: first, cut: true,
		kind: provider.KindUpstreamUnavailable, wantText: "Hel",
	}, {
		name: "clean end without [DONE] mid-answer", body: first,
		kind: provider.KindUpstreamUnavailable, wantText: "Hel",
	}, {
		name: "error event", body: first + `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n",
		kind: provider.KindUpstreamUnavailable, wantText: "Hel",
	}, {
		name: "rate limit error event", body: first + "event: error\n" + `data: {"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}` + "\n\n",
		kind: provider.KindRateLimited, wantText: "Hel",
	}, {
		name: "finished and usage but no [DONE]", body: first + finish + usage,
		ok: true, wantText: "Hello", wantUsage: true,
	}}
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
			u, err := p.Stream(context.Background(), &provider.Request{Model: "gpt-4o", Stream: true, Messages: []provider.Message{{Role: "user", Content: "x"}}}, out)
			if out.text() != tc.wantText {
				t.Errorf("text = %q, want %q", out.text(), tc.wantText)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if tc.wantUsage && (u == nil || u.TotalTokens != 5) {
					t.Errorf("usage = %+v", u)
				}
				return
			}
			pe := asError(t, err)
			if pe.Kind != tc.kind || !pe.OutputStarted {
				t.Errorf("got %s output_started=%v (%q), want %s with output_started", pe.Kind, pe.OutputStarted, pe.Message, tc.kind)
			}
		})
	}
}
