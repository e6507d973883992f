package provider

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxRetryAfter caps any wait an upstream asks for (and what the wire accepts).
	maxRetryAfter = 24 * time.Hour
	// maxMessageLen bounds the message ClassifyHTTP takes from an upstream body, in bytes.
	maxMessageLen = 512
	// maxScan bounds how much of an error body ClassifyHTTP reads.
	maxScan = 64 << 10
)

// ClassifyHTTP turns an upstream's failed HTTP answer (status, headers, error body) into
// an *Error. It understands the error bodies of OpenAI-compatible APIs
// ({"error":{"message","type","code"}}) and Anthropic ({"type":"error","error":{"type",
// "message"}}). It never returns nil. See the package README for the mapping.
//
// Message is the body's error message, truncated to 512 bytes with anything that looks
// like an API key redacted, or the status text when the body has none.
func ClassifyHTTP(status int, header http.Header, body []byte) *Error {
	return classifyHTTPAt(status, header, body, time.Now())
}

func classifyHTTPAt(status int, header http.Header, body []byte, now time.Time) *Error {
	if len(body) > maxScan {
		body = body[:maxScan]
	}
	eb := parseErrorBody(body)
	lower := strings.ToLower(string(body))
	code := strings.ToLower(eb.code + " " + eb.typ)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(lower, s) || strings.Contains(code, s) {
				return true
			}
		}
		return false
	}
	contextLength := func() bool {
		return has("context_length_exceeded", "maximum context length", "context length exceeded",
			"prompt is too long", "context window", "too many input tokens")
	}
	contentFilter := func() bool {
		return has("content_filter", "content_policy_violation", "responsibleaipolicyviolation",
			"content management policy")
	}

	var kind Kind
	switch {
	case status == 400 || status == 413 || status == 422:
		switch {
		case contextLength():
			kind = KindContextLengthExceeded
		case contentFilter():
			kind = KindContentFiltered
		case has("insufficient_quota", "credit balance is too low", "billing_hard_limit"):
			kind = KindQuotaExhausted
		default:
			// 413 is the request's byte size (Anthropic request_too_large), not the model's
			// context: another model would refuse it too, so the client must fix it.
			kind = KindInvalidRequest
		}
	case status == 401:
		kind = KindAuthentication
	case status == 402:
		kind = KindQuotaExhausted
	case status == 403:
		if contentFilter() {
			kind = KindContentFiltered
		} else {
			kind = KindPermissionDenied
		}
	case status == 404:
		kind = KindNotFound
	case status == 408 || status == 504 || status == 524:
		kind = KindUpstreamTimeout
	case status == 429:
		if has("insufficient_quota", "billing_hard_limit") {
			kind = KindQuotaExhausted
		} else {
			kind = KindRateLimited
		}
	case status == 499:
		kind = KindCancelled
	case status >= 400 && status < 500:
		kind = KindInvalidRequest
	case status >= 500 && status < 600:
		// 500, 502, 503 and Anthropic's 529 overloaded_error.
		kind = KindUpstreamUnavailable
	default:
		kind = KindInternal
	}

	e := &Error{Kind: kind, Retryable: kind.DefaultRetryable(), UpstreamStatus: status}
	if e.Retryable {
		e.RetryAfter = retryAfter(header, now)
	}
	e.Message = cleanMessage(eb.message)
	if e.Message == "" {
		if t := http.StatusText(status); t != "" {
			e.Message = "upstream answered " + strconv.Itoa(status) + " " + strings.ToLower(t)
		} else {
			e.Message = "upstream answered status " + strconv.Itoa(status)
		}
	}
	return e
}

type errorBody struct {
	message, typ, code string
}

// parseErrorBody reads {"error":{"message","type","code"}}, {"error":"text"} and
// {"message":"text"}; anything else yields an empty errorBody.
func parseErrorBody(body []byte) errorBody {
	var top struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &top) != nil {
		return errorBody{}
	}
	var eb errorBody
	var inner struct {
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if len(top.Error) > 0 && json.Unmarshal(top.Error, &inner) == nil {
		eb = errorBody{message: jsonText(inner.Message), typ: jsonText(inner.Type), code: jsonText(inner.Code)}
	} else if s := jsonText(top.Error); s != "" {
		eb.message = s
	}
	if eb.message == "" {
		eb.message = jsonText(top.Message)
	}
	return eb
}

// jsonText returns a JSON string's value, a number's text, or "" for anything else.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

var secretLike = regexp.MustCompile(`(?i)\b(sk|pk|rk|key)-[a-z0-9_\-*.]{6,}|\bbearer\s+[a-z0-9_\-.=]{8,}`)

// cleanMessage trims, collapses whitespace, redacts key-like words and truncates on a
// rune boundary.
func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Join(strings.Fields(s), " ")
	s = secretLike.ReplaceAllString(s, "[redacted]")
	if len(s) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// retryAfter reads, in order of precision: retry-after-ms, Retry-After (seconds or an HTTP
// date), then OpenAI's x-ratelimit-reset-requests / -tokens (durations such as "6m0s",
// preferring the limit whose remaining count is 0, else the longer). 0 when none is usable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < float64(maxRetryAfter/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 && s < maxRetryAfter.Seconds() {
				return time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return min(d, maxRetryAfter)
			}
			return 0
		}
	}
	req := resetDuration(h.Get("X-Ratelimit-Reset-Requests"))
	tok := resetDuration(h.Get("X-Ratelimit-Reset-Tokens"))
	switch {
	case strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Tokens")) == "0" && tok > 0:
		return tok
	case strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Requests")) == "0" && req > 0:
		return req
	}
	return max(req, tok)
}

func resetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// A bare number is seconds.
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 || s >= maxRetryAfter.Seconds() {
			return 0
		}
		d = time.Duration(s * float64(time.Second))
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
