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

// The error codes the router sends, in the envelope's "code". Codes lists each with its
// statuses; api/http.md documents the same table (a test keeps the two in step, and another
// fails when host code sends a code that is not in Codes).
const (
	CodeInvalidRequest      = "invalid_request"
	CodeContextLength       = "context_length_exceeded"
	CodeInvalidAPIKey       = "invalid_api_key"
	CodeModelNotAllowed     = "model_not_allowed"
	CodeModelNotFound       = "model_not_found"
	CodeUnsupportedEndpoint = "unsupported_endpoint"
	// CodeUnsupportedEndpointForModel: no target of the model serves the API the request
	// came in through (or serves it natively, for a field only a native upstream honours).
	CodeUnsupportedEndpointForModel = "unsupported_endpoint_for_model"
	CodeRuleNotFound                = "rule_not_found"
	CodeRequestTimeout              = "request_timeout"
	CodeRequestTooLarge             = "request_too_large"
	CodeReloadRefused               = "reload_refused"
	CodeShed                        = "shed"
	CodeRateLimited                 = "rate_limited"
	CodeRuleRejected                = "rule_rejected"
	CodeClientClosed                = "client_closed_request"
	CodeInternal                    = "internal_error"
	CodeAllTargetsFailed            = "all_targets_failed"
	CodeAnswerRejected              = "answer_rejected"
	CodeNoRoute                     = "no_route"
	CodeRuleError                   = "rule_error"
	CodeShuttingDown                = "shutting_down"
	CodeDeadlineExceeded            = "deadline_exceeded"
	// CodeBudgetExceeded: the key spent its budget for the period.
	CodeBudgetExceeded = "budget_exceeded"
	// CodeStateUnavailable: the shared state that enforces the key's limits is
	// unreachable and state.on_error is closed.
	CodeStateUnavailable = "state_unavailable"
	// The admin API's: GET /admin/requests/{id} of an id the ledger does not hold, a key
	// that is not there, a key name already taken.
	CodeRequestNotFound = "request_not_found"
	CodeKeyNotFound     = "key_not_found"
	CodeKeyExists       = "key_exists"
)

// OpenAI's error types, the envelope's "type". Clients written for OpenAI switch on them, so
// Switchyard uses only these.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
)

// StatusClientClosed (499, nginx's "client closed request") is what a request whose client
// went away is counted and logged with; the client never sees it.
const StatusClientClosed = 499

// StatusType is an HTTP status with the error type sent with it.
type StatusType struct {
	Status int
	Type   string
}

// CodeInfo is one error code with every status (and its type) it is sent with.
type CodeInfo struct {
	Code     string
	Statuses []StatusType
}

// Codes is every error code the router can send. A status has one type whatever the code
// (TypeFor reads it from here), so a client can rely on either.
var Codes = []CodeInfo{
	{CodeInvalidRequest, []StatusType{{http.StatusBadRequest, TypeInvalidRequest}}},
	{CodeContextLength, []StatusType{{http.StatusBadRequest, TypeInvalidRequest}}},
	{CodeInvalidAPIKey, []StatusType{{http.StatusUnauthorized, TypeAuthentication}}},
	{CodeModelNotAllowed, []StatusType{{http.StatusForbidden, TypePermission}}},
	{CodeModelNotFound, []StatusType{{http.StatusNotFound, TypeInvalidRequest}}},
	{CodeUnsupportedEndpointForModel, []StatusType{{http.StatusBadRequest, TypeInvalidRequest}}},
	{CodeUnsupportedEndpoint, []StatusType{{http.StatusNotFound, TypeInvalidRequest}}},
	{CodeRuleNotFound, []StatusType{{http.StatusNotFound, TypeInvalidRequest}}},
	{CodeRequestNotFound, []StatusType{{http.StatusNotFound, TypeInvalidRequest}}},
	{CodeKeyNotFound, []StatusType{{http.StatusNotFound, TypeInvalidRequest}}},
	{CodeKeyExists, []StatusType{{http.StatusConflict, TypeInvalidRequest}}},
	{CodeRequestTimeout, []StatusType{{http.StatusRequestTimeout, TypeInvalidRequest}}},
	{CodeRequestTooLarge, []StatusType{{http.StatusRequestEntityTooLarge, TypeInvalidRequest}}},
	{CodeReloadRefused, []StatusType{{http.StatusUnprocessableEntity, TypeInvalidRequest}}},
	{CodeShed, []StatusType{{http.StatusTooManyRequests, TypeRateLimit}}},
	{CodeRateLimited, []StatusType{{http.StatusTooManyRequests, TypeRateLimit}}},
	{CodeBudgetExceeded, []StatusType{{http.StatusTooManyRequests, TypeRateLimit}}},
	{CodeStateUnavailable, []StatusType{{http.StatusServiceUnavailable, TypeAPI}}},
	{CodeRuleRejected, []StatusType{
		{http.StatusBadRequest, TypeInvalidRequest}, {http.StatusForbidden, TypePermission},
		{http.StatusTooManyRequests, TypeRateLimit}, {http.StatusServiceUnavailable, TypeAPI},
	}},
	{CodeClientClosed, []StatusType{{StatusClientClosed, TypeAPI}}},
	{CodeInternal, []StatusType{{http.StatusInternalServerError, TypeAPI}}},
	{CodeAllTargetsFailed, []StatusType{{http.StatusBadGateway, TypeAPI}}},
	{CodeAnswerRejected, []StatusType{{http.StatusBadGateway, TypeAPI}}},
	{CodeNoRoute, []StatusType{{http.StatusServiceUnavailable, TypeAPI}}},
	{CodeRuleError, []StatusType{{http.StatusServiceUnavailable, TypeAPI}}},
	{CodeShuttingDown, []StatusType{{http.StatusServiceUnavailable, TypeAPI}}},
	{CodeDeadlineExceeded, []StatusType{{http.StatusGatewayTimeout, TypeAPI}}},
}

// statusTypes maps each status of Codes to its type.
var statusTypes = func() map[int]string {
	m := map[int]string{}
	for _, c := range Codes {
		for _, st := range c.Statuses {
			if t, ok := m[st.Status]; ok && t != st.Type {
				panic(fmt.Sprintf("wire: status %d has two error types in Codes: %s and %s", st.Status, t, st.Type))
			}
			m[st.Status] = st.Type
		}
	}
	return m
}()

// TypeFor returns OpenAI's error type for an HTTP status: the type Codes gives it, and
// api_error for a status Codes does not list.
func TypeFor(status int) string {
	if t, ok := statusTypes[status]; ok {
		return t
	}
	return TypeAPI
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

// ModelNotFound is the 404 for a model name the router does not serve (or the caller may
// not use), about param "model", as OpenAI answers it.
func ModelNotFound(name string) *Error {
	e := NewError(http.StatusNotFound, CodeModelNotFound, "the model %q does not exist; GET /v1/models lists the models", name)
	e.Param = "model"
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
