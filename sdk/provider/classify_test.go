package provider

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var classifyNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestClassifyHTTP(t *testing.T) {
	h := func(kv ...string) http.Header {
		hd := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hd.Set(kv[i], kv[i+1])
		}
		return hd
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       Kind
		retryAfter time.Duration
		message    string // substring; "" skips the check
	}{
		{name: "openai bad request", status: 400, body: `{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":null}}`,
			kind: KindInvalidRequest, message: "Invalid value for 'temperature'."},
		{name: "openai context length by code", status: 400, body: `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`,
			kind: KindContextLengthExceeded, message: "maximum context length"},
		{name: "context length by message only", status: 400, body: `{"error":{"message":"This model's maximum context length is 4097 tokens"}}`,
			kind: KindContextLengthExceeded},
		{name: "anthropic prompt too long", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`,
			kind: KindContextLengthExceeded, message: "prompt is too long"},
		{name: "openai content filter", status: 400, body: `{"error":{"message":"The response was filtered","type":"invalid_request_error","code":"content_filter"}}`,
			kind: KindContentFiltered},
		{name: "content policy violation", status: 400, body: `{"error":{"message":"Your request was rejected as a result of our safety system.","code":"content_policy_violation"}}`,
			kind: KindContentFiltered},
		{name: "anthropic credit balance", status: 400, body: `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`,
			kind: KindQuotaExhausted},
		{name: "anthropic request too large", status: 413, body: `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`,
			kind: KindInvalidRequest},
		{name: "unprocessable", status: 422, body: `{"detail":"bad"}`, kind: KindInvalidRequest, message: "upstream answered 422 unprocessable entity"},
		{name: "openai bad key with redaction", status: 401, body: `{"error":{"message":"Incorrect API key provided: sk-proj-abcdef123456. You can find your API key at https://platform.openai.com.","code":"invalid_api_key"}}`,
			kind: KindAuthentication, message: "Incorrect API key provided: [redacted]"},
		{name: "payment required", status: 402, kind: KindQuotaExhausted},
		{name: "forbidden", status: 403, body: `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission"}}`, kind: KindPermissionDenied},
		{name: "not found", status: 404, body: `{"error":{"message":"The model 'gpt-9' does not exist","code":"model_not_found"}}`, kind: KindNotFound, message: "gpt-9"},
		{name: "request timeout", status: 408, kind: KindUpstreamTimeout, message: "upstream answered 408 request timeout"},
		{name: "conflict is invalid request", status: 409, kind: KindInvalidRequest},
		{name: "rate limited retry-after seconds", status: 429, header: h("Retry-After", "20"),
			body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, kind: KindRateLimited, retryAfter: 20 * time.Second},
		{name: "rate limited retry-after-ms wins", status: 429, header: h("Retry-After", "20", "retry-after-ms", "1500.5"), kind: KindRateLimited, retryAfter: 1500500 * time.Microsecond},
		{name: "rate limited http date", status: 429, header: h("Retry-After", classifyNow.Add(90*time.Second).Format(http.TimeFormat)), kind: KindRateLimited, retryAfter: 90 * time.Second},
		{name: "rate limited http date in the past", status: 429, header: h("Retry-After", classifyNow.Add(-time.Hour).Format(http.TimeFormat)), kind: KindRateLimited},
		{name: "rate limited reset tokens exhausted", status: 429,
			header: h("x-ratelimit-reset-requests", "20ms", "x-ratelimit-reset-tokens", "6m0s", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-remaining-requests", "10"),
			kind:   KindRateLimited, retryAfter: 6 * time.Minute},
		{name: "rate limited reset requests exhausted", status: 429,
			header: h("x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s", "x-ratelimit-remaining-requests", "0"),
			kind:   KindRateLimited, retryAfter: time.Second},
		{name: "rate limited reset longer of two", status: 429, header: h("x-ratelimit-reset-requests", "1m30.5s", "x-ratelimit-reset-tokens", "20ms"),
			kind: KindRateLimited, retryAfter: 90500 * time.Millisecond},
		{name: "rate limited garbage headers", status: 429, header: h("Retry-After", "soon", "retry-after-ms", "-5", "x-ratelimit-reset-tokens", "whenever"), kind: KindRateLimited},
		{name: "rate limited huge retry-after capped", status: 429, header: h("Retry-After", "99999999999"), kind: KindRateLimited},
		{name: "insufficient quota", status: 429, header: h("Retry-After", "20"),
			body: `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, kind: KindQuotaExhausted},
		{name: "client closed", status: 499, kind: KindCancelled},
		{name: "internal error", status: 500, body: `{"error":{"message":"The server had an error while processing your request."}}`, kind: KindUpstreamUnavailable},
		{name: "bad gateway html", status: 502, body: `<html><body>502 Bad Gateway</body></html>`, kind: KindUpstreamUnavailable, message: "upstream answered 502 bad gateway"},
		{name: "unavailable with retry-after", status: 503, header: h("Retry-After", "3"), kind: KindUpstreamUnavailable, retryAfter: 3 * time.Second},
		{name: "gateway timeout", status: 504, kind: KindUpstreamTimeout},
		{name: "anthropic overloaded", status: 529, body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, kind: KindUpstreamUnavailable, message: "Overloaded"},
		{name: "error as string", status: 400, body: `{"error":"model is required"}`, kind: KindInvalidRequest, message: "model is required"},
		{name: "top-level message", status: 404, body: `{"message":"no route"}`, kind: KindNotFound, message: "no route"},
		{name: "numeric code", status: 400, body: `{"error":{"message":"m","code":400}}`, kind: KindInvalidRequest, message: "m"},
		{name: "not an error status", status: 200, kind: KindInternal, message: "upstream answered 200 ok"},
		{name: "nonsense status", status: 0, kind: KindInternal, message: "upstream answered status 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classifyHTTPAt(tt.status, tt.header, []byte(tt.body), classifyNow)
			if e.Kind != tt.kind {
				t.Errorf("kind = %s, want %s", e.Kind, tt.kind)
			}
			if e.Retryable != tt.kind.DefaultRetryable() {
				t.Errorf("retryable = %v", e.Retryable)
			}
			if e.UpstreamStatus != tt.status {
				t.Errorf("upstream status = %d", e.UpstreamStatus)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if !strings.Contains(e.Message, tt.message) || e.Message == "" {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.message)
			}
			if strings.Contains(e.Message, "sk-proj") {
				t.Errorf("message leaks a key: %q", e.Message)
			}
		})
	}
}

func TestClassifyHTTPTruncates(t *testing.T) {
	long := strings.Repeat("é", 2000)
	e := ClassifyHTTP(500, nil, []byte(`{"error":{"message":"`+long+`"}}`))
	if len(e.Message) > maxMessageLen+len("…") || !utf8.ValidString(e.Message) {
		t.Fatalf("message of %d bytes, valid=%v", len(e.Message), utf8.ValidString(e.Message))
	}
}

func FuzzClassifyHTTP(f *testing.F) {
	f.Add(429, "Retry-After", "20", []byte(`{"error":{"message":"slow","code":"rate_limit_exceeded"}}`))
	f.Add(400, "x-ratelimit-reset-tokens", "6m0s", []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}`))
	f.Add(503, "retry-after-ms", "1e308", []byte(`{"error":"x"}`))
	f.Add(529, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`not json`))
	f.Add(-1, "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, status int, key, value string, body []byte) {
		h := http.Header{}
		if key != "" {
			h.Set(key, value)
		}
		e := ClassifyHTTP(status, h, body)
		switch {
		case e == nil:
			t.Fatal("nil error")
		case !e.Kind.Valid():
			t.Fatalf("invalid kind %q", e.Kind)
		case e.Retryable != e.Kind.DefaultRetryable():
			t.Fatalf("retryable %v for %s", e.Retryable, e.Kind)
		case e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter:
			t.Fatalf("retry after %v", e.RetryAfter)
		case e.RetryAfter > 0 && !e.Retryable:
			t.Fatalf("retry after %v on a non-retryable kind", e.RetryAfter)
		case e.Message == "" || len(e.Message) > maxMessageLen+len("…") || !utf8.ValidString(e.Message):
			t.Fatalf("bad message %q", e.Message)
		case e.UpstreamStatus != status:
			t.Fatalf("status %d, want %d", e.UpstreamStatus, status)
		}
	})
}
