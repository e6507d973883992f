package wire

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Error is an error that reaches the client, in OpenAI's envelope with Switchyard's fields.
// Message must never hold a secret.
type Error struct {
	Status  int
	Type    string // one of OpenAI's: invalid_request_error, authentication_error, ...
	Code    string // Switchyard's machine-readable reason
	Message string
	Param   string
	// Provider is the provider of the last target tried, when there was one.
	Provider string
	// Attempts is the number of upstream calls made (0 = not reported).
	Attempts int
	// Fallbacks is the number of times the pipeline moved to the next target.
	Fallbacks int
	// RetryAfter, when positive, becomes the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes of DESIGN §2.
const (
	CodeInvalidRequest      = "invalid_request"
	CodeContextLength       = "context_length_exceeded"
	CodeInvalidAPIKey       = "invalid_api_key"
	CodeModelNotAllowed     = "model_not_allowed"
	CodeModelNotFound       = "model_not_found"
	CodeUnsupportedEndpoint = "unsupported_endpoint"
	CodeRequestTooLarge     = "request_too_large"
	CodeShed                = "shed"
	CodeRateLimited         = "rate_limited"
	CodeRuleRejected        = "rule_rejected"
	CodeAllTargetsFailed    = "all_targets_failed"
	CodeNoRoute             = "no_route"
	CodeRuleError           = "rule_error"
	CodeDeadlineExceeded    = "deadline_exceeded"
)

// TypeFor returns OpenAI's error type for an HTTP status.
func TypeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	default:
		return "api_error"
	}
}

// NewError builds an Error whose type follows from its status.
func NewError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Type: TypeFor(status), Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 invalid_request about param.
func BadRequest(param, format string, args ...any) *Error {
	e := NewError(http.StatusBadRequest, CodeInvalidRequest, format, args...)
	e.Param = param
	return e
}

type envelope struct {
	Error envelopeBody `json:"error"`
}

type envelopeBody struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Param     *string `json:"param"`
	Code      string  `json:"code"`
	Provider  string  `json:"provider,omitempty"`
	Attempts  int     `json:"attempts,omitempty"`
	Fallbacks int     `json:"fallbacks,omitempty"`
}

// JSON returns the error in OpenAI's envelope.
func (e *Error) JSON() []byte {
	b := envelopeBody{Message: e.Message, Type: e.Type, Code: e.Code, Provider: e.Provider, Attempts: e.Attempts, Fallbacks: e.Fallbacks}
	if e.Param != "" {
		b.Param = &e.Param
	}
	out, _ := json.Marshal(envelope{Error: b})
	return out
}
