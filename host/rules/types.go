package rules

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// Limits bound one rule. Zero fields take the defaults.
type Limits struct {
	Deadline  time.Duration // per evaluation, waiting for a free instance included; default 5ms
	MemoryMiB int           // linear memory cap per instance; default 16 (Go rules need >= 8)
	Pool      int           // instances kept ready; default 4
}

// Default limits.
const (
	DefaultDeadline  = 5 * time.Millisecond
	DefaultMemoryMiB = 16
	DefaultPool      = 4
)

func (l Limits) withDefaults() Limits {
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	if l.MemoryMiB <= 0 {
		l.MemoryMiB = DefaultMemoryMiB
	}
	if l.Pool <= 0 {
		l.Pool = DefaultPool
	}
	return l
}

// Spec configures one rule of a chain.
type Spec struct {
	Name    string          // rule name from config (lowercase short name; log prefix, metric label)
	Path    string          // absolute path of the .wasm file
	Config  json.RawMessage // passed to sy_init; nil is sent as {}
	Mode    string          // "active" (default) | "shadow"
	OnError string          // "skip" (default) | "fail"
	Headers []string        // request header names this rule may see (lowercased)
	// ContentBytes opts the rule in to request.content (its config's
	// content: {max_bytes: N}): it sees last_user and system cut to this many
	// bytes, 1..abi.MaxContentBytes; 0 (the default) sees no content member.
	ContentBytes int
	Limits       Limits
}

// Observer receives the outcome of every evaluation (decided, no_opinion,
// rejected, error, timeout), shadow rules included. It is called on the
// request path, from many goroutines at once, and must be fast. Quarantined
// rules are not evaluated and not reported here (see QuarantineObserver).
type Observer interface {
	RuleEvaluated(rule, outcome string, d time.Duration)
}

// QuarantineObserver is an optional extension of Observer, found by type
// assertion: RuleQuarantineChanged is called with true when a rule is
// taken out of the chain after repeated failures (once, on the request
// path), with false when Chain.Reset lifts the quarantine, and with the
// current state of every rule by Chain.ReportQuarantine. Load never calls
// it. *metrics.Metrics implements it (the switchyard_rule_quarantined
// gauge).
type QuarantineObserver interface {
	RuleQuarantineChanged(rule string, quarantined bool)
}

// Options are shared by every rule of a chain.
type Options struct {
	CacheDir string       // wazero compilation cache directory; "" keeps the cache in memory
	Logger   *slog.Logger // nil: slog.Default()
	Observer Observer     // nil: none
	// QuarantineAfter is the number of consecutive failures (errors and
	// timeouts of the rule's own code) that take a rule out of the chain;
	// 0 means DefaultQuarantineAfter, negative disables quarantine.
	QuarantineAfter int
	// Previous, when set, is the chain a reload replaces: Load shares each
	// of its rules whose module and settings are unchanged (see Load)
	// instead of compiling and instantiating it again. Previous stays the
	// caller's to close, and keeps working until then; a shared rule is
	// closed with the last chain that holds it. The new chain keeps no
	// reference to Previous.
	Previous *Chain
}

// DefaultQuarantineAfter is the default of Options.QuarantineAfter.
const DefaultQuarantineAfter = 5

// ValidationObserver is an optional extension of Observer, found by type
// assertion: RuleValidated is called for every verdict a rule gives in
// sy_validate (accept, retry, fallback, fail), on the request path, from
// many goroutines at once. A sy_validate that fails or passes its deadline
// is reported to RuleEvaluated as outcome error or timeout instead.
type ValidationObserver interface {
	RuleValidated(rule, verdict string, d time.Duration)
}

// The ABI types and the chain's results live in package abi, which the
// pipeline and the server import without the engine; the engine's own code
// names them through these aliases.
type (
	Input          = abi.Input
	RequestView    = abi.RequestView
	Content        = abi.Content
	Candidate      = abi.Candidate
	Target         = abi.Target
	Params         = abi.Params
	Reject         = abi.Reject
	Decision       = abi.Decision
	RuleTrace      = abi.RuleTrace
	Result         = abi.Result
	RuleError      = abi.RuleError
	RuleInfo       = abi.RuleInfo
	ValidateInput  = abi.ValidateInput
	Answer         = abi.Answer
	AnswerToolCall = abi.AnswerToolCall
	AnswerUsage    = abi.AnswerUsage
	Verdict        = abi.Verdict
)

// Modes, error policies, outcomes and verdicts (see package abi).
const (
	ModeActive  = abi.ModeActive
	ModeShadow  = abi.ModeShadow
	OnErrorSkip = abi.OnErrorSkip
	OnErrorFail = abi.OnErrorFail

	OutcomeDecided     = abi.OutcomeDecided
	OutcomeNoOpinion   = abi.OutcomeNoOpinion
	OutcomeRejected    = abi.OutcomeRejected
	OutcomeError       = abi.OutcomeError
	OutcomeTimeout     = abi.OutcomeTimeout
	OutcomeQuarantined = abi.OutcomeQuarantined

	VerdictAccept   = abi.VerdictAccept
	VerdictRetry    = abi.VerdictRetry
	VerdictFallback = abi.VerdictFallback
	VerdictFail     = abi.VerdictFail
)
