package pipeline

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Policy is what the pipeline takes from the configuration: how to retry, how long to wait,
// and how to judge answers. The host builds it from the config file; the pipeline knows
// nothing else of that file.
type Policy struct {
	// MaxAttempts is the number of calls to one target, retries included (at least 1).
	MaxAttempts int
	// BackoffBase and BackoffMax bound the exponential backoff between retries.
	BackoffBase, BackoffMax time.Duration
	// Attempt bounds one upstream call's wait for its first byte, and a whole answer.
	Attempt time.Duration
	// StreamIdle bounds the silence between two chunks of a stream.
	StreamIdle time.Duration
	// NonEmpty refuses an answer without content, tool calls or refusal.
	NonEmpty bool
	// TrimWhitespace trims whole answers; MaxChars (0: no limit) cuts them.
	TrimWhitespace bool
	MaxChars       int
	// StreamHoldback is how many characters of a stream are judged before it commits.
	StreamHoldback int
	// Circuit configures the breakers when Options.Breakers is nil (tests).
	Circuit circuit.Config
}

// PolicyFromConfig is the part of a loaded configuration the pipeline applies.
func PolicyFromConfig(cfg *config.File) Policy {
	return Policy{
		MaxAttempts: cfg.Retry.MaxAttempts, BackoffBase: cfg.Retry.BackoffBase.D(), BackoffMax: cfg.Retry.BackoffMax.D(),
		Attempt: cfg.Timeouts.Attempt.D(), StreamIdle: cfg.Timeouts.StreamIdle.D(),
		NonEmpty: *cfg.Validation.NonEmpty, TrimWhitespace: cfg.Validation.TrimWhitespace,
		MaxChars: cfg.Validation.MaxChars, StreamHoldback: cfg.Validation.StreamHoldback,
		Circuit: circuit.Config{FailureThreshold: cfg.Circuit.FailureThreshold,
			CoolDown: cfg.Circuit.CoolDown.D(), HalfOpenProbes: cfg.Circuit.HalfOpenProbes},
	}
}

// MaxRetryAfter caps the Retry-After the router passes on to a client from an upstream
// (api/http.md): an upstream asking for longer is told as this.
const MaxRetryAfter = time.Hour

// failure is what one failed attempt means for the request. classify is the one place that
// maps an attempt's outcome to: retry the same target or not, stop the request or try the
// next target, what it tells the target's circuit breaker, its metric label, and the status
// and code the client gets when it ends the request. run, attempt, the breakers, exhausted
// and the in-band path all read it.
type failure struct {
	// label is the outcome of switchyard_provider_requests_total and the reason of
	// switchyard_fallbacks_total / switchyard_retries_total.
	label string
	// retry says the same target may be tried again (attempts, deadline and backoff
	// permitting); retryReason is then the reason label of switchyard_retries_total, and
	// backoff whether to wait first (an upstream in trouble) or not (a refused answer).
	retry       bool
	retryReason string
	backoff     bool
	// stop says no other target can help: the request ends with status and code now.
	stop bool
	// breaker is what the attempt tells the target's circuit.
	breaker circuit.Outcome
	// status and code are what the client gets when this failure ends the request.
	status int
	code   string
	// retryAfter is how long the upstream asked to wait (0: it did not say).
	retryAfter time.Duration
	// message is what the client may be told of it (never a secret); detail is the
	// plugin's own message, which a request that stops at once gets as is.
	message, detail string
}

// kindPolicy is the row of each provider error kind. Every kind of provider.Kinds() has one
// (TestEveryKindHasAPolicy).
var kindPolicy = map[provider.Kind]struct {
	// retry: the kind may be retried on the same target, when the plugin says retryable.
	retry   bool
	stop    bool
	breaker circuit.Outcome
	status  int
	code    string
}{
	// The request itself is at fault: no target will take it.
	provider.KindInvalidRequest: {stop: true, breaker: circuit.Neutral, status: http.StatusBadRequest, code: wire.CodeInvalidRequest},
	// Another target may have the room, or a gentler filter; the target is not sick.
	provider.KindContextLengthExceeded: {breaker: circuit.Neutral, status: http.StatusBadRequest, code: wire.CodeContextLength},
	provider.KindContentFiltered:       {breaker: circuit.Neutral, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindUnsupported:           {breaker: circuit.Neutral, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	// The target cannot serve anyone: leave it, and count it against its circuit.
	provider.KindAuthentication:   {breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindPermissionDenied: {breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindNotFound:         {breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindQuotaExhausted:   {breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindInternal:         {breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	// Passing trouble: worth another try on the same target.
	provider.KindRateLimited:         {retry: true, breaker: circuit.Failure, status: http.StatusTooManyRequests, code: wire.CodeRateLimited},
	provider.KindUpstreamUnavailable: {retry: true, breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	provider.KindUpstreamTimeout:     {retry: true, breaker: circuit.Failure, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
	// The call was cancelled under the plugin (the client left, or a deadline): not the
	// target's fault. The pipeline answers from the request's context before it gets here.
	provider.KindCancelled: {breaker: circuit.Neutral, status: http.StatusBadGateway, code: wire.CodeAllTargetsFailed},
}

// Labels of failures that are not provider error kinds.
const (
	labelPluginDown  = metrics.OutcomePluginDown
	labelCircuitOpen = metrics.ReasonCircuitOpen
)

// classify says what err, the error of one attempt, means.
func classify(err error) failure {
	var re *refusedError
	if errors.As(err, &re) {
		f := failure{label: re.fallbackReason(), breaker: circuit.Neutral, status: http.StatusBadGateway,
			code: wire.CodeAllTargetsFailed, message: re.Error()}
		switch re.verdict {
		case "retry":
			f.retry, f.retryReason = true, metrics.RetryValidation
		case "fail":
			f.stop, f.code = true, wire.CodeAnswerRejected
			f.message = "routing rule " + quote(re.validator) + " refused the answer: " + re.reason
		}
		return f
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		// The plugin itself failed (crashed, hung up, broke the protocol) or is down. That
		// is the supervisor's business, which restarts it; the target's model is not sick,
		// and counting it would open every circuit of the plugin at once on a restart.
		return failure{label: labelPluginDown, breaker: circuit.Neutral, status: http.StatusBadGateway,
			code: wire.CodeAllTargetsFailed, message: "the provider plugin failed"}
	}
	row, ok := kindPolicy[pe.Kind]
	if !ok { // a kind newer than this host: what an unknown failure is
		row = kindPolicy[provider.KindInternal]
	}
	f := failure{label: string(pe.Kind), retry: row.retry && pe.Retryable, retryReason: string(pe.Kind), backoff: true, stop: row.stop, breaker: row.breaker,
		status: row.status, code: row.code, retryAfter: min(pe.RetryAfter, MaxRetryAfter), message: string(pe.Kind)}
	if !ok {
		f.label = string(provider.KindInternal)
	}
	if pe.Message != "" {
		f.message += ": " + pe.Message
		f.detail = pe.Message
	}
	return f
}

func quote(s string) string { return `"` + s + `"` }

// Clock is the pipeline's time: the breakers' clock, deadlines and the waits between
// retries. Tests inject a fake one; the default is the system clock.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends; it reports whether d passed.
	Sleep(ctx context.Context, d time.Duration) bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
