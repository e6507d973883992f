package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// maxErrorBody bounds how much of an upstream error body is kept.
const maxErrorBody = 1 << 20

// httpFailure is an upstream's failed HTTP answer, captured by the middleware of one call
// before openai-go parses it (openai-go cannot parse every compatible server's error body,
// for example Ollama's {"error":"text"} or a proxy's HTML page).
type httpFailure struct {
	status int
	header http.Header
	body   []byte
}

// captureFailures returns a middleware that records a failed answer (status >= 400) in *f
// and hands openai-go an identical copy.
func captureFailures(f **httpFailure) func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		res, err := next(req)
		if err != nil || res == nil || res.StatusCode < 400 {
			return res, err
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		_ = res.Body.Close()
		*f = &httpFailure{status: res.StatusCode, header: res.Header.Clone(), body: body}
		res.Body = io.NopCloser(bytes.NewReader(body))
		return res, nil
	}
}

// classify turns the error of an upstream call into an *provider.Error. ctx is the host's
// context for the call: its cancellation is "cancelled", its deadline "upstream_timeout".
// failed is the failed HTTP answer the middleware captured, if any. secrets are removed
// from the message.
func classify(ctx context.Context, err error, failed *httpFailure, secrets []string) *provider.Error {
	e := classifyRaw(ctx, err, failed)
	e.Message = redact(e.Message, secrets)
	return e
}

func classifyRaw(ctx context.Context, err error, failed *httpFailure) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	// The host's context first: a read that failed because the host went away is the
	// host's doing, not the upstream's.
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.Canceled):
		return provider.NewError(provider.KindCancelled, "the request was cancelled")
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return provider.NewError(provider.KindUpstreamTimeout, "the upstream did not answer before the request's deadline")
	}
	if failed != nil {
		return provider.ClassifyHTTP(failed.status, failed.header, failed.body)
	}
	var ae *oai.Error
	if errors.As(err, &ae) {
		var header http.Header
		var body []byte
		if ae.Response != nil {
			header = ae.Response.Header
			if ae.Response.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(ae.Response.Body, maxErrorBody))
				ae.Response.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		if len(body) == 0 && ae.RawJSON() != "" {
			body = []byte(`{"error":` + ae.RawJSON() + `}`)
		}
		return provider.ClassifyHTTP(ae.StatusCode, header, body)
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		return classifyStreamError(se.Event.Data)
	}
	if isTimeout(err) {
		return provider.NewError(provider.KindUpstreamTimeout, "the upstream did not answer within timeout_ms")
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typeErr) {
		return provider.NewError(provider.KindUpstreamUnavailable, "the upstream sent an answer that is not valid JSON")
	}
	return provider.NewError(provider.KindUpstreamUnavailable, "connection to the upstream failed: %s", connReason(err))
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, http.ErrHandlerTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connReason names a connection failure without the URL (which may hold query secrets).
func connReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of the answer"
	case errors.Is(err, io.EOF):
		return "the connection closed before an answer"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "cannot resolve " + dnsErr.Name
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// classifyStreamError classifies an error event inside a stream
// (data: {"error":{"message","type","code"}}): the status the same failure would have had
// before the stream began is inferred from its type and code.
func classifyStreamError(data []byte) *provider.Error {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(data, &body)
	var inner struct {
		Type string `json:"type"`
		Code any    `json:"code"`
	}
	_ = json.Unmarshal(body.Error, &inner)
	code := strings.ToLower(inner.Type)
	if s, ok := inner.Code.(string); ok {
		code += " " + strings.ToLower(s)
	}
	status := http.StatusInternalServerError
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(code, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("rate_limit", "insufficient_quota"):
		status = http.StatusTooManyRequests
	case has("context_length", "content_filter", "content_policy", "invalid_request"):
		status = http.StatusBadRequest
	case has("authentication", "invalid_api_key"):
		status = http.StatusUnauthorized
	case has("permission"):
		status = http.StatusForbidden
	case has("not_found"):
		status = http.StatusNotFound
	case has("timeout"):
		status = http.StatusGatewayTimeout
	case has("invalid_"):
		// The Responses API's failure codes for the request's own content (invalid_prompt,
		// invalid_image...): no target would do better.
		status = http.StatusBadRequest
	}
	e := provider.ClassifyHTTP(status, nil, data)
	e.UpstreamStatus = 0 // the stream itself answered 200
	if e.Message == "" || strings.HasPrefix(e.Message, "upstream answered") {
		e.Message = "the upstream reported an error inside the stream"
	}
	return e
}

// redact removes every secret from s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
