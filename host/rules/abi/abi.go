// Package abi holds the types of the rule ABI (api/rules/ABI.md) and of a
// rule chain's results: what the router hands the Wasm rule engine and
// what it gets back, and the encoder of the exact input bytes a rule sees.
// It imports neither wazero nor the engine, so the pipeline and the HTTP
// server can use these types without linking the engine.
package abi

import (
	"encoding/json"
	"time"
)

// Modes and error policies of a rule.
const (
	ModeActive  = "active"
	ModeShadow  = "shadow"
	OnErrorSkip = "skip"
	OnErrorFail = "fail"
)

// Outcomes of one evaluation, as reported to the engine's Observer and in
// traces.
const (
	OutcomeDecided     = "decided"
	OutcomeNoOpinion   = "no_opinion"
	OutcomeRejected    = "rejected"
	OutcomeError       = "error"
	OutcomeTimeout     = "timeout"
	OutcomeQuarantined = "quarantined" // trace only: the rule was not run
)

// Endpoint kinds: request.endpoint, the API the client's request came in through.
const (
	EndpointChat        = "chat.completions"
	EndpointResponses   = "responses"
	EndpointMessages    = "messages"
	EndpointEmbeddings  = "embeddings"
	EndpointCompletions = "completions"
)

// MaxContentBytes is the largest content.max_bytes a rule may ask for: the most a rule
// sees of request.content.last_user and of request.content.system.
const MaxContentBytes = 64 << 10

// Input is what every rule of the chain sees (api/rules/ABI.md). The encoder
// adds "abi":1 and filters Request.Headers per rule.
type Input struct {
	NowUnixMS  int64           `json:"now_unix_ms"`
	RandomSeed uint64          `json:"random_seed"`
	Request    RequestView     `json:"request"`
	Candidates []Candidate     `json:"candidates"`
	Previous   json.RawMessage `json:"previous"` // nil is sent as null

	// Trace asks for a full trace (the dry run sets it): RuleTrace.InputSHA256
	// and RuleTrace.Output of every rule. Without it they are left empty,
	// except Output when a rule's output is refused, which saves hashing the
	// input and copying outputs on the request path. Rules never see it.
	Trace bool `json:"-"`
}

// RequestView is the compact view of the client's request.
type RequestView struct {
	ID                   string                     `json:"id"`
	Endpoint             string                     `json:"endpoint"`
	Model                string                     `json:"model"`
	Stream               bool                       `json:"stream"`
	Priority             int                        `json:"priority"`
	PromptTokensEstimate int64                      `json:"prompt_tokens_estimate"`
	MaxTokens            int64                      `json:"max_tokens"` // 0: the client set none
	Messages             int                        `json:"messages"`
	Chars                int64                      `json:"chars"`
	HasTools             bool                       `json:"has_tools"`
	HasImages            bool                       `json:"has_images"`
	JSONMode             bool                       `json:"json_mode"`
	Key                  string                     `json:"key"`  // the key's configured name, never the secret
	Team                 string                     `json:"team"` // the key's team (its config's team:), "" when none
	User                 string                     `json:"user"`
	Tags                 []string                   `json:"tags"`
	Metadata             map[string]json.RawMessage `json:"metadata"` // invalid JSON values are sent as null
	Headers              map[string]string          `json:"headers"`  // lowercased names; each rule sees only its Spec.Headers
	// Budget is the calling key's spend budget and what is left of it, nil when the key
	// has none: rules then see no "budget" member. Every rule of the chain sees it (it is
	// written after "user", before the client's tags, metadata and headers).
	Budget *BudgetView `json:"budget,omitempty"`
	// Limits are the calling key's rate limits for the requested model and their
	// headroom, nil when the key has none: rules then see no "limits" member. Written
	// after "budget".
	Limits *LimitsView `json:"limits,omitempty"`
	// Content is what rules that opted in see of the prompt; nil when no rule of the
	// chain did (the pipeline then computes nothing). Each rule sees it cut to its own
	// Spec.ContentBytes, and a rule without it sees no "content" member at all.
	Content *Content `json:"content,omitempty"`
}

// Content is request.content (api/rules/ABI.md): the prompt's text and facts about it,
// for rules whose config opts in with content: {max_bytes: N}. The pipeline computes it
// once per request, at the largest N of the chain (package host/rules/content); the
// encoder cuts LastUser and System again to each rule's own N, so what a rule sees does
// not depend on what the other rules of the chain ask for.
type Content struct {
	LastUser       string `json:"last_user"`        // the last user message's text parts, joined with "\n"
	System         string `json:"system"`           // the system and developer messages' text, joined with "\n"
	HasCodeFence   bool   `json:"has_code_fence"`   // "```" in any user, system or developer text
	HasImage       bool   `json:"has_image"`        // an image part in any message
	HasToolResults bool   `json:"has_tool_results"` // a message of role tool
	LanguageHint   string `json:"language_hint"`    // the script of last_user (ABI.md), "" when none dominates
}

// BudgetView is request.budget (api/rules/ABI.md): the calling key's spend budget in the
// current period, before this request is counted. The router stops the key at the budget
// (the hard stop); a rule may act before it, such as by routing to cheaper models. The
// encoder writes a negative or non-finite amount as 0.
type BudgetView struct {
	USD          float64 `json:"usd"`            // the budget per period, in USD (the key's budget.usd)
	Period       string  `json:"period"`         // one of the BudgetPeriod* constants
	SpentUSD     float64 `json:"spent_usd"`      // spent in the current period
	RemainingUSD float64 `json:"remaining_usd"`  // USD - SpentUSD, 0 once the spend has reached the budget
	ResetsUnixMS int64   `json:"resets_unix_ms"` // when the period ends (spend starts again at 0); 0 for "total"
}

// Budget periods: BudgetView.Period. day, week and month are UTC calendar periods (weeks
// start on Monday); a total budget never resets.
const (
	BudgetPeriodDay   = "day"
	BudgetPeriodWeek  = "week"
	BudgetPeriodMonth = "month"
	BudgetPeriodTotal = "total"
)

// LimitsView is request.limits (api/rules/ABI.md): the calling key's rate limits per
// minute for the requested model, the tightest of the key's own and its per-model ones
// (for each of RPM and TPM, the one with the fewest left, and its remaining), and what is
// left of each in the current minute before this request is counted. A limit of 0 is
// none, and its remaining is then 0 and meaningless. The encoder writes a negative
// number as 0.
type LimitsView struct {
	RPM          int64 `json:"rpm"`           // requests per minute, 0: no limit
	RPMRemaining int64 `json:"rpm_remaining"` // requests left in the current minute
	TPM          int64 `json:"tpm"`           // tokens per minute, 0: no limit
	TPMRemaining int64 `json:"tpm_remaining"` // tokens left in the current minute
}

// Candidate is one target a rule may choose, with live statistics.
type Candidate struct {
	Provider      string   `json:"provider"`
	Model         string   `json:"model"`
	ContextWindow int64    `json:"context_window"`
	USDPerMTokIn  float64  `json:"usd_per_mtok_in"`
	USDPerMTokOut float64  `json:"usd_per_mtok_out"`
	Capabilities  []string `json:"capabilities"`
	Healthy       bool     `json:"healthy"`
	Circuit       string   `json:"circuit"` // closed | half_open | open
	P50MS         float64  `json:"p50_ms"`
	P95MS         float64  `json:"p95_ms"`
	ErrorRate     float64  `json:"error_rate"`
	Inflight      int      `json:"inflight"`
}

// Target names a candidate.
type Target struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Params are the request parameters a rule may override.
type Params struct {
	MaxTokens       *int64   `json:"max_tokens,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
	TopP            *float64 `json:"top_p,omitempty"`
	Stop            []string `json:"stop,omitempty"`
	ReasoningEffort string   `json:"reasoning_effort,omitempty"`
}

// Reject answers the request with an error; Status is 400, 403, 429 or 503.
type Reject struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Decision is a validated rule decision: either Targets (non-empty, all
// among the input's candidates) or Reject.
type Decision struct {
	Targets []Target `json:"targets,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Params  *Params  `json:"params,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Reject  *Reject  `json:"reject,omitempty"`
}

// RuleTrace records one rule's evaluation.
type RuleTrace struct {
	Rule        string
	Mode        string
	SHA256      string // module sha256, hex
	InputSHA256 string // sha256 of the exact input bytes the rule saw, hex; only with Input.Trace
	Outcome     string
	// Output is the rule's raw output (a copy), nil for no opinion; only with
	// Input.Trace, or when the output was refused (outcome error).
	Output   json.RawMessage
	Error    string
	Duration time.Duration
}

// Result is the outcome of a chain evaluation.
type Result struct {
	Decision *Decision   // nil: no rule decided (use the model's default route)
	Rule     string      // deciding rule: name@ + 12 hex of its module sha256; "" if none
	Trace    []RuleTrace // every rule considered, in order, shadow rules last
	Err      *RuleError  // a rule with on_error: fail failed: answer 503 rule_error
	// ShadowAgreement holds, per shadow rule that ran without error,
	// whether it agreed with the active result: same first target, both
	// rejected, or both without a decision.
	ShadowAgreement map[string]bool
}

// RuleError reports that a rule with on_error: fail failed.
type RuleError struct {
	Rule    string
	Outcome string // error or timeout
	Err     error
}

func (e *RuleError) Error() string {
	return "rules/" + e.Rule + ": " + e.Outcome + ": " + e.Err.Error()
}

func (e *RuleError) Unwrap() error { return e.Err }

// RuleInfo describes a loaded rule.
type RuleInfo struct {
	Name        string
	Mode        string
	SHA256      string
	Path        string
	Quarantined bool
	Failures    int // consecutive failures of the rule's own code (QuarantineAfter takes it out)
}

// ValidateInput is what sy_validate receives (api/rules/ABI.md):
// {"abi":1,"request":{...as in sy_route},"target":{...},"answer":{...}}.
// Request.Headers is filtered per rule, as for sy_route.
type ValidateInput struct {
	Request RequestView `json:"request"`
	Target  Target      `json:"target"`
	Answer  Answer      `json:"answer"`
}

// Answer is a provider's answer; for a stream, the text held back so far.
type Answer struct {
	Content      string           `json:"content"`
	ToolCalls    []AnswerToolCall `json:"tool_calls"` // sent as [] when empty
	FinishReason string           `json:"finish_reason"`
	Usage        *AnswerUsage     `json:"usage"` // nil is sent as null
}

// AnswerToolCall is one tool call of an answer; Arguments is the JSON text
// the model produced, sent as a string.
type AnswerToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// AnswerUsage is the token usage reported with an answer.
type AnswerUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// Verdicts of sy_validate.
const (
	VerdictAccept   = "accept"
	VerdictRetry    = "retry"
	VerdictFallback = "fallback"
	VerdictFail     = "fail"
)

// Verdict is the chain's judgement of an answer.
type Verdict struct {
	Rule    string // the judging rule: name@ + 12 hex of its module sha256; "" when all accepted
	Verdict string // accept, retry, fallback or fail
	Reason  string // the rule's reason, or why a failing rule with on_error: fail fails the answer
}
