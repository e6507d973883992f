package anthropic

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// typeStatus is the HTTP status Anthropic documents for each error type. An error event
// inside a stream arrives on a 200 response, so its type decides the status it is
// classified as.
var typeStatus = map[string]int{
	"invalid_request_error": 400,
	"authentication_error":  401,
	"billing_error":         402,
	"permission_error":      403,
	"not_found_error":       404,
	"request_too_large":     413,
	"rate_limit_error":      429,
	"api_error":             500,
	"timeout_error":         504,
	"overloaded_error":      529,
}

// rateLimitResets are Anthropic's rate limit headers: the reset time (RFC 3339) and the
// remaining count of each limit.
var rateLimitResets = []struct{ reset, remaining string }{
	{"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-requests-remaining"},
	{"anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-tokens-remaining"},
	{"anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-input-tokens-remaining"},
	{"anthropic-ratelimit-output-tokens-reset", "anthropic-ratelimit-output-tokens-remaining"},
}

const maxRetryAfter = 24 * time.Hour

// classify turns any error of an upstream call into a *provider.Error. ctx is the call's
// context: once it is done, the host's deadline or cancellation is the cause. secret is
// removed from every message.
func classify(ctx context.Context, err error, secret string) *provider.Error {
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	var e *provider.Error
	var apiErr *sdk.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		e = classifyAPI(apiErr, time.Now())
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		e = provider.NewError(provider.KindUpstreamTimeout, "anthropic: deadline exceeded waiting for the upstream")
	case ctx.Err() != nil:
		e = provider.NewError(provider.KindCancelled, "anthropic: request cancelled")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e = provider.NewError(provider.KindUpstreamTimeout, "anthropic: upstream timed out (timeout_ms)")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		e = provider.NewError(provider.KindUpstreamUnavailable, "anthropic: connection to the upstream cut before the answer was complete")
	default:
		// Connection refused, reset, TLS and DNS failures, unreadable answers: the upstream
		// gave no usable answer, which another attempt may get.
		e = provider.NewError(provider.KindUpstreamUnavailable, "anthropic: upstream failed: %s", err.Error())
	}
	e.Message = redact(e.Message, secret)
	return e
}

// classifyAPI classifies an error answer of the API (an error status, or an error event
// inside a stream) with provider.ClassifyHTTP, adding Anthropic's rate limit reset headers.
func classifyAPI(apiErr *sdk.Error, now time.Time) *provider.Error {
	typ := string(apiErr.Type())
	status := apiErr.StatusCode
	if st, ok := typeStatus[typ]; ok && status < 400 {
		status = st
	}
	if status < 400 {
		status = 500 // an error event of an unknown type
	}
	var header http.Header
	if apiErr.Response != nil {
		header = apiErr.Response.Header
	}
	body := []byte(apiErr.RawJSON())
	e := provider.ClassifyHTTP(status, header, body)
	if typ == "billing_error" {
		e.Kind, e.Retryable, e.RetryAfter = provider.KindQuotaExhausted, false, 0
	}
	if e.Kind == provider.KindRateLimited && e.RetryAfter == 0 {
		e.RetryAfter = resetAfter(header, now)
	}
	if apiErr.StatusCode < 400 {
		// An in-stream error: the HTTP status was 200, the type tells what happened.
		e.UpstreamStatus = status
	}
	return e
}

// resetAfter reads the anthropic-ratelimit-*-reset headers (RFC 3339 times): the reset
// of a limit whose remaining count is 0, else the latest reset. 0 when none is usable.
func resetAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	var exhausted, latest time.Duration
	for _, r := range rateLimitResets {
		v := strings.TrimSpace(h.Get(r.reset))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			continue
		}
		d := t.Sub(now)
		if d <= 0 {
			continue
		}
		d = min(d, maxRetryAfter)
		latest = max(latest, d)
		if strings.TrimSpace(h.Get(r.remaining)) == "0" {
			exhausted = max(exhausted, d)
		}
	}
	if exhausted > 0 {
		return exhausted
	}
	return latest
}

// redact removes the API key from a message, should an upstream or a library echo it.
func redact(msg, secret string) string {
	if len(secret) >= 4 {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return msg
}
