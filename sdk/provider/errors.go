package provider

import (
	"fmt"
	"time"
)

// Kind classifies an upstream failure. The host decides on the kind alone whether to retry
// the same target, fall back to the next one or answer the client (api/provider/README.md).
type Kind string

// The kinds of protocol v1. The string values are the wire names of the host's config and
// metrics; they never change.
const (
	KindInvalidRequest        Kind = "invalid_request"
	KindAuthentication        Kind = "authentication"
	KindPermissionDenied      Kind = "permission_denied"
	KindNotFound              Kind = "not_found"
	KindContextLengthExceeded Kind = "context_length_exceeded"
	KindContentFiltered       Kind = "content_filtered"
	KindRateLimited           Kind = "rate_limited"
	KindQuotaExhausted        Kind = "quota_exhausted"
	KindUpstreamUnavailable   Kind = "upstream_unavailable"
	KindUpstreamTimeout       Kind = "upstream_timeout"
	KindUnsupported           Kind = "unsupported"
	KindInternal              Kind = "internal"
	KindCancelled             Kind = "cancelled"
)

// Kinds returns every kind of protocol v1, in the proto enum's order.
func Kinds() []Kind {
	return []Kind{
		KindInvalidRequest, KindAuthentication, KindPermissionDenied, KindNotFound,
		KindContextLengthExceeded, KindContentFiltered, KindRateLimited, KindQuotaExhausted,
		KindUpstreamUnavailable, KindUpstreamTimeout, KindUnsupported, KindInternal,
		KindCancelled,
	}
}

// Valid reports whether k is one of the kinds of protocol v1.
func (k Kind) Valid() bool {
	_, ok := kindToProto[k]
	return ok
}

// DefaultRetryable reports whether a failure of this kind is worth retrying on the same
// target: true for rate_limited, upstream_unavailable and upstream_timeout.
func (k Kind) DefaultRetryable() bool {
	switch k {
	case KindRateLimited, KindUpstreamUnavailable, KindUpstreamTimeout:
		return true
	}
	return false
}

// Error is an upstream failure reported as data (in-band): it reaches the host as a
// ProviderError, never as a gRPC status. Message is shown to clients: it must never hold a
// secret.
type Error struct {
	Kind    Kind
	Message string
	// Retryable tells the host that trying the same target again may succeed.
	Retryable bool
	// UpstreamStatus is the upstream's HTTP status, 0 when there was none.
	UpstreamStatus int
	// RetryAfter is how long the upstream asked to wait; 0 when it did not say. It travels
	// in whole milliseconds.
	RetryAfter time.Duration
	// OutputStarted is true when part of the answer had already been produced. Serve sets
	// it for a stream that sent a delta before failing.
	OutputStarted bool
}

// NewError returns an *Error of the given kind with a formatted message, retryable when
// the kind is by default (see Kind.DefaultRetryable).
func NewError(kind Kind, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Kind: kind, Message: msg, Retryable: kind.DefaultRetryable()}
}

// Error returns "kind: message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Message == "" {
		return string(e.Kind)
	}
	return string(e.Kind) + ": " + e.Message
}
