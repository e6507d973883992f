package messages

import (
	"net/http"

	"github.com/switchyard-llm/switchyard/host/wire"
)

// Anthropic's error types, the envelope's error.type, which Anthropic clients switch on
// (the official SDKs retry on some of them).
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeNotFound       = "not_found_error"
	typeTooLarge       = "request_too_large"
	typeRateLimit      = "rate_limit_error"
	typeAPI            = "api_error"
	typeOverloaded     = "overloaded_error"
	typeTimeout        = "timeout_error"
)

// errorType is Anthropic's error type for an HTTP status, as Anthropic's error reference
// assigns them. The router's 503s (no route, shutting down, a rule that failed) are
// overloaded_error: like Anthropic's 529 they say "try again shortly", and clients retry
// them. 504 is timeout_error, the type Anthropic's SDKs know for a gateway timeout; 502
// and every other 5xx api_error; any other 4xx invalid_request_error, as Anthropic's
// reference says of the 4xx statuses it does not list.
func errorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return typeInvalidRequest
	case http.StatusUnauthorized:
		return typeAuthentication
	case http.StatusForbidden:
		return typePermission
	case http.StatusNotFound:
		return typeNotFound
	case http.StatusRequestEntityTooLarge:
		return typeTooLarge
	case http.StatusTooManyRequests:
		return typeRateLimit
	case http.StatusServiceUnavailable, 529:
		return typeOverloaded
	case http.StatusGatewayTimeout:
		return typeTimeout
	}
	if status >= 400 && status < 500 {
		return typeInvalidRequest
	}
	return typeAPI
}

type errorEnvelopeJSON struct {
	Type  string        `json:"type"`
	Error errorBodyJSON `json:"error"`
	// RequestID is the request's id, which Anthropic's envelope carries at the top level
	// (besides the request-id header) for tracing.
	RequestID string `json:"request_id,omitempty"`
}

type errorBodyJSON struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorJSON returns the error in Anthropic's envelope,
// {"type":"error","error":{"type":T,"message":M}}, T following from e.Status (see
// errorType). Switchyard's code, param and provider are not in it: Anthropic's envelope
// has no place for them (the message names the field at fault).
func ErrorJSON(e *wire.Error) []byte {
	return appendError(nil, e, "")
}

// ErrorJSONWithRequestID is ErrorJSON with Anthropic's top-level request_id, which its
// error reference documents on every error answer ("" leaves it out).
func ErrorJSONWithRequestID(e *wire.Error, requestID string) []byte {
	return appendError(nil, e, requestID)
}

func appendError(dst []byte, e *wire.Error, requestID string) []byte {
	env := errorEnvelopeJSON{Type: "error", RequestID: requestID}
	if e == nil {
		env.Error = errorBodyJSON{Type: typeAPI, Message: "internal error"}
	} else {
		env.Error = errorBodyJSON{Type: errorType(e.Status), Message: e.Message}
	}
	return appendJSON(dst, env)
}
