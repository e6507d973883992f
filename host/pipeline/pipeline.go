// Package pipeline is the one place that knows the order of a request's stages: rule
// evaluation, dispatch to a provider, validation, retry and fallback. Each stage sits behind
// a small interface so tests can substitute one at a time.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	rulecontent "github.com/switchyard-llm/switchyard/host/rules/content"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Dispatcher sends a request to one provider. It returns an error only when no answer was
// obtained: a *provider.Error for what the upstream said, anything else when the plugin
// itself failed. Implementations are safe for concurrent use.
type Dispatcher interface {
	Complete(ctx context.Context, req *provider.Request) (*provider.Response, error)
	Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error)
}

// Health is what a Dispatcher may also implement to tell whether it can serve now.
type Health interface {
	Up() bool
}

// HealthReporter is what a Dispatcher may also implement to tell whether its last health
// check passed. An unhealthy plugin still serves (its upstream may recover at any moment, and
// the circuit breakers judge its answers); the rules see healthy: false and may avoid it.
type HealthReporter interface {
	Healthy() bool
}

// RuleEvaluator runs the rule chain. It never fails: rule failures are in the Result.
type RuleEvaluator interface {
	Evaluate(ctx context.Context, in *abi.Input) *abi.Result
}

// AnswerValidator is what a RuleEvaluator may also implement: rules that judge answers
// (sy_validate). Validate returns the first verdict other than accept.
type AnswerValidator interface {
	HasValidators() bool
	Validate(ctx context.Context, in *abi.ValidateInput) abi.Verdict
}

// Options wires a Pipeline.
type Options struct {
	Policy      Policy
	Catalogue   *Catalogue
	Dispatchers map[string]Dispatcher
	// Rules may be nil: then every request takes its model's default route.
	Rules RuleEvaluator
	// RuleHeaders are the request headers any rule asked to see (lowercase).
	RuleHeaders []string
	// Breakers are the circuit breakers by catalogue model; they outlive the Pipeline.
	Breakers *circuit.Set
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	// Clock is the time of breakers, deadlines and backoff; nil is the system clock.
	Clock Clock
}

// Pipeline serves requests for one loaded configuration. It is immutable and safe for
// concurrent use; a reload builds a new one.
type Pipeline struct {
	cat         *Catalogue
	dispatchers map[string]Dispatcher
	rules       RuleEvaluator
	ruleHeaders []string
	policy      Policy
	clock       Clock
	m           *metrics.Metrics
	log         *slog.Logger
	stats       map[string]*targetStats
	breakers    map[string]*circuit.Breaker
	// info describes each provider's plugin (what it serves, what it forwards as is).
	info map[string]provider.Info
	// servedByAll lists the endpoint kinds every catalogue target serves ("" for chat):
	// for those, planning has no target to leave out.
	servedByAll map[string]bool
	// validators is set when a rule judges answers.
	validators AnswerValidator
}

// Describer is what a Dispatcher may also implement to describe its plugin.
type Describer interface {
	Info() provider.Info
}

// New builds a Pipeline.
func New(o Options) *Pipeline {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	o.Policy.MaxAttempts = max(o.Policy.MaxAttempts, 1)
	p := &Pipeline{cat: o.Catalogue, dispatchers: o.Dispatchers, rules: o.Rules, ruleHeaders: o.RuleHeaders,
		policy: o.Policy, clock: o.Clock,
		m: o.Metrics, log: o.Logger, stats: map[string]*targetStats{}, info: map[string]provider.Info{},
		breakers: map[string]*circuit.Breaker{}}
	if o.Breakers == nil {
		o.Breakers = circuit.NewSet(nil)
		o.Breakers.Configure(o.Policy.Circuit)
	}
	for _, t := range o.Catalogue.Targets() {
		p.stats[t.Name] = &targetStats{series: o.Metrics.Target(t.Provider, t.Name)}
		p.breakers[t.Name] = o.Breakers.Get(BreakerKey(t))
	}
	if v, ok := o.Rules.(AnswerValidator); ok && v.HasValidators() {
		p.validators = v
	}
	for name, d := range o.Dispatchers {
		if in, ok := d.(Describer); ok {
			p.info[name] = in.Info()
		}
	}
	p.servedByAll = map[string]bool{}
	for _, kind := range []string{"", provider.EndpointChat, provider.EndpointResponses, provider.EndpointMessages,
		provider.EndpointCompletions, provider.EndpointEmbeddings} {
		all := true
		for _, t := range o.Catalogue.Targets() {
			all = all && p.serves(t, kind, false)
		}
		p.servedByAll[kind] = all
	}
	return p
}

// serves reports whether target t can answer a request of the endpoint kind: its plugin
// serves the kind (chat-served kinds through the host's translation), the plugin's own
// list for the model does not leave it out, and, when native is set, the plugin forwards
// the kind's body as is.
func (p *Pipeline) serves(t *Target, endpoint string, native bool) bool {
	in, described := p.info[t.Provider]
	if !described {
		// A dispatcher that does not describe itself (tests' fakes) serves chat and the
		// kinds translated to it.
		return endpoint != provider.EndpointEmbeddings && !native
	}
	if !in.Serves(endpoint) || (native && !in.Native(endpoint)) {
		return false
	}
	if endpoint == "" {
		endpoint = provider.EndpointChat
	}
	for _, m := range in.Models {
		if m.ID == t.Upstream && len(m.Endpoints) > 0 {
			return slices.Contains(m.Endpoints, endpoint) ||
				// A model listed for chat also serves what the host translates to chat.
				(endpoint != provider.EndpointEmbeddings && slices.Contains(m.Endpoints, provider.EndpointChat))
		}
	}
	return true
}

// native reports whether target t's plugin is handed the client's own body for endpoint.
func (p *Pipeline) native(t *Target, endpoint string) bool {
	in, ok := p.info[t.Provider]
	return ok && in.Native(endpoint)
}

// ServesEndpoint lists, for the validate command, the endpoint kinds target t serves.
func (p *Pipeline) ServesEndpoint(t *Target) []string {
	var out []string
	for _, k := range []string{provider.EndpointChat, provider.EndpointResponses, provider.EndpointMessages,
		provider.EndpointCompletions, provider.EndpointEmbeddings} {
		if p.serves(t, k, false) {
			kind := k
			if p.native(t, k) {
				kind += " (native)"
			}
			out = append(out, kind)
		}
	}
	return out
}

// able keeps the targets that can serve the call's endpoint.
func (p *Pipeline) able(call *Call, ts []*Target) []*Target {
	native := call.Chat.NativeOnly != ""
	if !native && p.servedByAll[call.Chat.Endpoint] {
		return ts
	}
	for i, t := range ts {
		if p.serves(t, call.Chat.Endpoint, native) {
			continue
		}
		// Copy only when a target is left out: most requests keep them all.
		kept := append(make([]*Target, 0, len(ts)-1), ts[:i]...)
		for _, t := range ts[i+1:] {
			if p.serves(t, call.Chat.Endpoint, native) {
				kept = append(kept, t)
			}
		}
		return kept
	}
	return ts
}

// unable is the error for a call none of whose targets can serve its endpoint.
func unable(call *Call) *wire.Error {
	ep := call.Chat.Endpoint
	if ep == "" {
		ep = provider.EndpointChat
	}
	if f := call.Chat.NativeOnly; f != "" {
		e := wire.NewError(http.StatusBadRequest, wire.CodeUnsupportedEndpointForModel,
			"%s needs a target that serves the %s API natively (it needs what only such an upstream keeps or offers); no target of model %q does: drop %s, or route to such a target",
			f, ep, call.Chat.Model, f)
		e.Param = f
		return e
	}
	e := wire.NewError(http.StatusBadRequest, wire.CodeUnsupportedEndpointForModel,
		"model %q has no target that serves %s; `switchyard validate` lists what each model serves", call.Chat.Model, ep)
	e.Param = "model"
	return e
}

// Circuit reports a target's circuit state: closed, half_open or open.
func (p *Pipeline) Circuit(t *Target) string {
	if b := p.breakers[t.Name]; b != nil {
		return b.State(p.clock.Now()).String()
	}
	return "closed"
}

// RuleLister is what a RuleEvaluator may also implement to describe its rules (their
// state, quarantine included) for /readyz and the dry run.
type RuleLister interface {
	Rules() []abi.RuleInfo
}

// Rules describes the rules of the chain, nil without rules.
func (p *Pipeline) Rules() []abi.RuleInfo {
	if l, ok := p.rules.(RuleLister); ok {
		return l.Rules()
	}
	return nil
}

// RuleHeaders lists the request headers any rule asked to see.
func (p *Pipeline) RuleHeaders() []string { return p.ruleHeaders }

// Catalogue returns the catalogue the pipeline serves.
func (p *Pipeline) Catalogue() *Catalogue { return p.cat }

// Call is one client request as the pipeline sees it.
type Call struct {
	ID       string
	Chat     *wire.ChatRequest
	Priority int
	Tags     []string
	// Key is the client key's configured name, never the secret; Team is its team.
	Key    string
	Team   string
	Header http.Header
	// Budget and Limits are the key's budget and rate headroom as rules see them
	// (request.budget, request.limits); nil when the key has none.
	Budget *abi.BudgetView
	Limits *abi.LimitsView
	// Deadline bounds the whole request.
	Deadline time.Time
	// Trace asks the rules for a full trace (input digests, outputs): the dry run sets it.
	Trace bool
	// Embed is set for an embeddings request (Chat then holds its facts for the rules):
	// each attempt calls the target's Embed instead of Complete.
	Embed *provider.EmbedRequest
}

// Plan is the ordered list of targets for a call and how it was chosen.
type Plan struct {
	Targets []*Target
	// Rule is the deciding rule's label (name@sha256-prefix) or "default".
	Rule   string
	Reason string
	Params *abi.Params
	Tags   []string
	Trace  []abi.RuleTrace
	// Input is what the rules saw (nil without rules).
	Input *abi.Input
	// RuleTime is the time spent evaluating rules.
	RuleTime time.Duration
}

// Outcome tells what happened to a call. It is returned with errors too.
type Outcome struct {
	Plan     *Plan
	Target   *Target
	Response *provider.Response
	Usage    *provider.Usage
	// Attempts counts upstream calls, retries included; Fallbacks the moves to a next target.
	Attempts  int
	Fallbacks int
	// Upstream is the time spent waiting on providers and in backoff: what is not overhead.
	Upstream time.Duration
	CostUSD  float64
	// Committed is true once a stream's first event went to the client: from then on a
	// failure can only be reported in-band.
	Committed bool
	// FirstByte is when a stream committed and its first event went to the client (zero
	// for a whole answer, or a stream that never started): the access log's time to first
	// token.
	FirstByte time.Time
	// Native is set when the answering target's plugin was handed the client's own body:
	// its answer carries the upstream's bytes in the client's format (Response.RawBody,
	// Chunk.RawEvent) for endpoints other than chat completions.
	Native bool
	// Embedding is the answer to an embeddings call.
	Embedding *provider.EmbedResponse
}

// Plan evaluates the rules for a call and returns its ordered targets.
func (p *Pipeline) Plan(ctx context.Context, call *Call) (*Plan, *wire.Error) {
	candidates, route, ok := p.cat.Resolve(call.Chat.Model)
	if !ok {
		return nil, wire.ModelNotFound(call.Chat.Model)
	}
	plan := &Plan{Rule: "default"}
	// Rules choose among the targets that can serve the request's API.
	candidates, route = p.able(call, candidates), p.able(call, route)
	if len(candidates) == 0 {
		return plan, unable(call)
	}
	if p.rules != nil {
		start := time.Now()
		plan.Input = p.ruleInput(call, candidates)
		plan.Input.Trace = call.Trace
		res := p.rules.Evaluate(ctx, plan.Input)
		plan.RuleTime = time.Since(start)
		plan.Trace = res.Trace
		for rule, agreed := range res.ShadowAgreement {
			p.m.RuleShadowAgree.WithLabelValues(rule, boolLabel(agreed)).Inc()
		}
		if res.Err != nil {
			return plan, wire.NewError(http.StatusServiceUnavailable, wire.CodeRuleError, "routing rule %q failed (%s)", res.Err.Rule, res.Err.Outcome)
		}
		if d := res.Decision; d != nil {
			plan.Rule, plan.Reason, plan.Params, plan.Tags = res.Rule, d.Reason, d.Params, d.Tags
			if d.Reject != nil {
				status := d.Reject.Status
				msg := d.Reject.Message
				if msg == "" {
					msg = "rejected by routing rule " + res.Rule
				}
				return plan, wire.NewError(status, wire.CodeRuleRejected, "%s", msg)
			}
			for _, t := range d.Targets {
				if tt := p.cat.models[t.Model]; tt != nil && tt.Provider == t.Provider &&
					p.serves(tt, call.Chat.Endpoint, call.Chat.NativeOnly != "") {
					plan.Targets = append(plan.Targets, tt)
				}
			}
		}
	}
	if len(plan.Targets) == 0 {
		plan.Targets = route
	}
	if len(plan.Targets) == 0 {
		e := wire.NewError(http.StatusServiceUnavailable, wire.CodeNoRoute, "no routing rule chose a target for model %q", call.Chat.Model)
		e.RetryAfter = time.Second
		return plan, e
	}
	return plan, nil
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (p *Pipeline) ruleInput(call *Call, candidates []*Target) *abi.Input {
	now := p.clock.Now()
	chat := call.Chat
	in := &abi.Input{
		NowUnixMS:  now.UnixMilli(),
		RandomSeed: mrand.Uint64() >> 11, // fits a JSON number exactly; the runtime's per-P source
		Request: abi.RequestView{
			ID: call.ID, Endpoint: endpointName(chat.Endpoint), Model: chat.Model, Stream: chat.Stream,
			Priority: call.Priority, PromptTokensEstimate: chat.PromptTokensEstimate,
			MaxTokens: chat.Provider.MaxTokens, Messages: chat.Messages, Chars: int64(chat.Chars),
			HasTools: chat.HasTools, HasImages: chat.HasImages, JSONMode: chat.JSONMode,
			Key: call.Key, Team: call.Team, User: chat.Provider.User, Tags: call.Tags, Metadata: chat.Metadata,
			Budget: call.Budget, Limits: call.Limits,
		},
		Candidates: make([]abi.Candidate, len(candidates)),
	}
	if len(p.ruleHeaders) > 0 && call.Header != nil {
		in.Request.Headers = map[string]string{}
		for _, h := range p.ruleHeaders {
			if v := call.Header.Get(h); v != "" {
				in.Request.Headers[h] = v
			}
		}
	}
	// The prompt's text and facts, only when a rule of the chain opted in
	// (content: {max_bytes: N}), at the largest N: a chain without such a rule
	// does not even walk the messages. The encoder cuts the texts per rule.
	if cr, ok := p.rules.(interface{ ContentBytes() int }); ok {
		if n := cr.ContentBytes(); n > 0 {
			in.Request.Content = rulecontent.Facts(chat.Provider.Messages, n)
		}
	}
	for i, t := range candidates {
		st := p.stats[t.Name].snapshot(now)
		in.Candidates[i] = abi.Candidate{
			Provider: t.Provider, Model: t.Name, ContextWindow: t.ContextWindow,
			USDPerMTokIn: t.USDPerMTokIn, USDPerMTokOut: t.USDPerMTokOut, Capabilities: t.Capabilities,
			Healthy: p.healthy(t.Provider), Circuit: p.breakers[t.Name].State(now).String(),
			P50MS: ms(st.P50), P95MS: ms(st.P95), ErrorRate: math.Round(st.ErrorRate*1e4) / 1e4,
			Inflight: int(p.stats[t.Name].inflight.Load()),
		}
	}
	return in
}

// endpointName is the endpoint as rules see it: chat completions when unset.
func endpointName(kind string) string {
	if kind == "" {
		return provider.EndpointChat
	}
	return kind
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1e3 }

// healthy reports whether a provider's plugin is up and its last health check passed.
func (p *Pipeline) healthy(providerName string) bool {
	if !p.up(providerName) {
		return false
	}
	if h, ok := p.dispatchers[providerName].(HealthReporter); ok {
		return h.Healthy()
	}
	return true
}

func (p *Pipeline) up(providerName string) bool {
	d, ok := p.dispatchers[providerName]
	if !ok {
		return false
	}
	if h, ok := d.(Health); ok {
		return h.Up()
	}
	return true
}

// Complete serves a non-streaming call.
func (p *Pipeline) Complete(ctx context.Context, call *Call) (*Outcome, *wire.Error) {
	plan, werr := p.Plan(ctx, call)
	out := &Outcome{Plan: plan}
	if werr != nil {
		return out, werr
	}
	return out, p.run(ctx, call, out, nil)
}

// Embed serves an embeddings call (call.Embed set): planned, dispatched, retried and
// fallen back like a whole chat answer.
func (p *Pipeline) Embed(ctx context.Context, call *Call) (*Outcome, *wire.Error) {
	return p.Complete(ctx, call)
}

// CountTokens asks the upstream to count a Messages request's input tokens: the first
// target of the call's plan (rules decide as for the request itself) whose plugin counts
// natively (provider.EndpointCountTokens) and is up answers. ok is false when none did
// (no such target, or it failed): the caller then gives its own estimate. A count is no
// completion: it is not retried, metered or charged.
func (p *Pipeline) CountTokens(ctx context.Context, call *Call) (n int64, t *Target, ok bool) {
	plan, werr := p.Plan(ctx, call)
	if werr != nil {
		return 0, nil, false
	}
	for _, t := range plan.Targets {
		if !p.native(t, provider.EndpointCountTokens) || !p.up(t.Provider) {
			continue
		}
		r := *call.Chat.Provider
		r.ID, r.Model, r.Endpoint = call.ID, t.Upstream, provider.EndpointCountTokens
		r.RawBody = call.Chat.RawBody(t.Upstream, nil)
		actx, cancel := context.WithTimeout(ctx, p.policy.Attempt)
		resp, err := p.dispatchers[t.Provider].Complete(actx, &r)
		cancel()
		if err != nil || resp.Usage == nil || resp.Usage.PromptTokens <= 0 {
			p.log.Warn("token count failed; answering the router's estimate", "request_id", call.ID,
				"provider", t.Provider, "model", t.Name, "error", errText(err))
			return 0, nil, false
		}
		return resp.Usage.PromptTokens, t, true
	}
	return 0, nil, false
}

func errText(err error) string {
	if err == nil {
		return "no count in the answer"
	}
	return err.Error()
}

// StreamSink receives a stream. Begin is called once, when the pipeline commits to a target
// (before the first chunk); after that no retry or fallback happens.
type StreamSink interface {
	Begin(o *Outcome)
	Chunk(c *provider.Chunk) error
}

// Stream serves a streaming call. When the returned error comes with o.Committed, the
// stream has started and the error must be reported in-band.
func (p *Pipeline) Stream(ctx context.Context, call *Call, sink StreamSink) (*Outcome, *wire.Error) {
	plan, werr := p.Plan(ctx, call)
	out := &Outcome{Plan: plan}
	if werr != nil {
		return out, werr
	}
	return out, p.run(ctx, call, out, sink)
}

// refusedError is an answer that came back and was refused by a validator.
type refusedError struct {
	validator string
	reason    string
	// verdict is what to do next: "fallback" (the default, also when empty), "retry" the
	// same target, or "fail" the request (a rule's sy_validate verdicts).
	verdict string
}

func (e *refusedError) Error() string { return "answer refused by " + e.validator + ": " + e.reason }

// fallbackReason is the reason label of a move away from a target after a refusal.
func (e *refusedError) fallbackReason() string {
	if e.validator == metrics.ValidatorContentFilter {
		return string(provider.KindContentFiltered)
	}
	return metrics.OutcomeInvalidAnswer
}

// run tries the plan's targets in order, retrying one target on transient failures. What
// each failed attempt means (retry, next target, stop, breaker, labels) is classify's.
func (p *Pipeline) run(ctx context.Context, call *Call, out *Outcome, sink StreamSink) *wire.Error {
	var (
		fails        []failure // of every failed attempt, in order
		lastProvider string
		retryAfter   time.Duration // the longest wait an upstream asked for
		tried        int
		circuitWait  time.Duration // shortest wait for an open circuit to let a probe through
	)
	n := len(out.Plan.Targets)
	for ti, t := range out.Plan.Targets {
		if ti > 0 {
			out.Fallbacks++
		}
		lastProvider = t.Provider
		d := p.dispatchers[t.Provider]
		if d == nil || !p.up(t.Provider) {
			p.leave(t, labelPluginDown, ti, n)
			continue
		}
		br := p.breakers[t.Name]
		req := p.prepare(call, t, out.Plan.Params)
		for attempt := 1; ; attempt++ {
			if ok, wait := br.Allow(p.clock.Now()); !ok {
				if circuitWait == 0 || wait < circuitWait {
					circuitWait = wait
				}
				p.leave(t, labelCircuitOpen, ti, n)
				break
			}
			if attempt == 1 {
				tried++
			}
			out.Attempts++
			err := p.attempt(ctx, call, t, d, req, out, sink)
			if err == nil {
				br.Done(circuit.Success, p.clock.Now())
				return nil
			}
			if ctx.Err() != nil {
				// The client left or the request's deadline passed: the target is not to blame.
				br.Done(circuit.Neutral, p.clock.Now())
				return p.contextError(ctx, out, t)
			}
			f := classify(err)
			br.Done(f.breaker, p.clock.Now())
			fails = append(fails, f)
			retryAfter = max(retryAfter, f.retryAfter)
			next := p.next(call, f, attempt)
			p.log.Warn("attempt failed", "request_id", call.ID, "provider", t.Provider, "model", t.Name,
				"attempt", attempt, "outcome", f.label, "then", next.String(), "error", f.message)
			if out.Committed {
				return p.inBand(f, t, out)
			}
			switch next {
			case thenStop:
				return p.errorFor(f, t, out, retryAfter)
			case thenRetry:
				p.m.Retries.WithLabelValues(t.Provider, f.retryReason).Inc()
				if f.backoff {
					wait := p.backoff(attempt, f.retryAfter)
					if !p.clock.Sleep(ctx, wait) {
						return p.contextError(ctx, out, t)
					}
					out.Upstream += wait
				}
				continue
			}
			p.leave(t, f.label, ti, n)
			break
		}
	}
	if tried == 0 && circuitWait > 0 {
		e := wire.NewError(http.StatusServiceUnavailable, wire.CodeNoRoute, "no target can serve now: every target's circuit is open after repeated failures")
		e.RetryAfter = max(circuitWait, time.Second)
		e.Provider, e.Attempts, e.Fallbacks = lastProvider, out.Attempts, out.Fallbacks
		return e
	}
	return p.exhausted(out, fails, lastProvider, tried, retryAfter)
}

// then is what the pipeline does after a failed attempt.
type then int

const (
	thenNext  then = iota // leave the target for the next one
	thenRetry             // try the same target again
	thenStop              // answer the client now
)

func (t then) String() string {
	switch t {
	case thenRetry:
		return "retry"
	case thenStop:
		return "stop"
	}
	return "next_target"
}

// next decides what follows a failed attempt of a call.
func (p *Pipeline) next(call *Call, f failure, attempt int) then {
	switch {
	case f.stop:
		return thenStop
	case !f.retry || attempt >= p.policy.MaxAttempts:
		return thenNext
	case f.retryAfter > p.policy.BackoffMax:
		// The upstream asks for a longer wait than our backoff allows: the next target is
		// better than waiting; the client hears of the wait if every target fails.
		return thenNext
	case f.backoff && p.clock.Now().Add(p.backoffCeil(attempt, f.retryAfter)).After(call.Deadline):
		// A retry that cannot finish before the deadline is no retry.
		return thenNext
	}
	return thenRetry
}

// BreakerKey names a target's breaker: "provider/model" (provider names hold no '/').
func BreakerKey(t *Target) string { return t.Provider + "/" + t.Name }

// backoff is exponential with full jitter, at least what the upstream asked for.
func (p *Pipeline) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return max(time.Duration(mrand.Int64N(int64(p.jitterCeil(attempt))+1)), retryAfter)
}

// backoffCeil is the longest backoff can return.
func (p *Pipeline) backoffCeil(attempt int, retryAfter time.Duration) time.Duration {
	return max(p.jitterCeil(attempt), retryAfter)
}

func (p *Pipeline) jitterCeil(attempt int) time.Duration {
	ceil := p.policy.BackoffBase << min(attempt-1, 62)
	if ceil > p.policy.BackoffMax || ceil <= 0 {
		ceil = p.policy.BackoffMax
	}
	return ceil
}

// leave counts a move away from a target (a fallback when another target follows).
func (p *Pipeline) leave(t *Target, reason string, i, n int) {
	if i < n-1 {
		p.m.Fallbacks.WithLabelValues(t.Provider, reason).Inc()
	}
}

// prepare copies the request for one target: its upstream model and the rule's params, and
// for a plugin that speaks OpenAI natively the client's own bytes with the same changes.
func (p *Pipeline) prepare(call *Call, t *Target, params *abi.Params) *provider.Request {
	r := *call.Chat.Provider
	r.ID = call.ID
	r.Model = t.Upstream
	r.Endpoint = call.Chat.Endpoint
	if p.native(t, call.Chat.Endpoint) {
		r.RawBody = call.Chat.RawBody(t.Upstream, rawOverrides(call.Chat, params))
	}
	if params != nil {
		if params.MaxTokens != nil && (r.MaxTokens == 0 || *params.MaxTokens < r.MaxTokens) {
			r.MaxTokens = *params.MaxTokens
		}
		if params.Temperature != nil {
			r.Temperature = params.Temperature
		}
		if params.TopP != nil {
			r.TopP = params.TopP
		}
		if params.Stop != nil {
			r.Stop = params.Stop
		}
		if params.ReasoningEffort != "" {
			r.ReasoningEffort = params.ReasoningEffort
		}
	}
	return &r
}

// rawOverrides are the rule's params as top-level JSON fields of the client's body.
func rawOverrides(chat *wire.ChatRequest, params *abi.Params) map[string]json.RawMessage {
	if params == nil {
		return nil
	}
	set := map[string]json.RawMessage{}
	put := func(k string, v any) { set[k], _ = json.Marshal(v) }
	// Each API names its token limit and stop list its own way.
	maxField, stopField := "max_completion_tokens", "stop"
	switch chat.Endpoint {
	case provider.EndpointMessages:
		maxField, stopField = "max_tokens", "stop_sequences"
	case provider.EndpointResponses:
		maxField, stopField = "max_output_tokens", "" // Responses has no stop list
	case provider.EndpointCompletions:
		maxField = "max_tokens"
	}
	if params.MaxTokens != nil && (chat.Provider.MaxTokens == 0 || *params.MaxTokens < chat.Provider.MaxTokens) {
		if chat.MaxTokensField != "" {
			put(chat.MaxTokensField, *params.MaxTokens)
		} else {
			put(maxField, *params.MaxTokens)
		}
	}
	if params.Temperature != nil {
		put("temperature", *params.Temperature)
	}
	if params.TopP != nil {
		put("top_p", *params.TopP)
	}
	if params.Stop != nil && stopField != "" {
		put(stopField, params.Stop)
	}
	if params.ReasoningEffort != "" && (chat.Endpoint == "" || chat.Endpoint == provider.EndpointChat) {
		put("reasoning_effort", params.ReasoningEffort)
	}
	return set
}

// attempt makes one upstream call and validates what came back. timeouts.attempt bounds the
// wait for the first byte (a whole answer is its first byte), stream_idle the gaps of a
// stream after it, and the call's deadline (in ctx) the whole request.
func (p *Pipeline) attempt(ctx context.Context, call *Call, t *Target, d Dispatcher, req *provider.Request, out *Outcome, sink StreamSink) error {
	st := p.stats[t.Name]
	st.inflight.Add(1)
	start := time.Now()
	var (
		resp  *provider.Response
		usage *provider.Usage
		err   error
		// timedOut is set when the attempt's own limits ended it, not the request's.
		timedOut string
	)
	out.Native = p.native(t, call.Chat.Endpoint)
	var emb *provider.EmbedResponse
	switch {
	case call.Embed != nil:
		actx, cancel := context.WithTimeout(ctx, p.policy.Attempt)
		emb, err = p.embed(actx, d, call, t)
		if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			timedOut = "the upstream did not answer within timeouts.attempt (" + p.policy.Attempt.String() + ")"
		}
		cancel()
		if err == nil {
			usage = emb.Usage
		}
	case sink == nil:
		actx, cancel := context.WithTimeout(ctx, p.policy.Attempt)
		resp, err = d.Complete(actx, req)
		if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			timedOut = "the upstream did not answer within timeouts.attempt (" + p.policy.Attempt.String() + ")"
		}
		cancel()
		if err == nil {
			err = p.validate(ctx, req, resp, out.Plan, t)
			usage = resp.Usage
		}
	default:
		actx, cancel := context.WithCancel(ctx)
		ss := newStreamSender(sink, out, t, p.policy.Attempt, p.policy.StreamIdle, cancel, p.policy.StreamHoldback,
			func(a *answer, complete bool) error { return p.judge(ctx, req, a, complete, out.Plan, t) })
		usage, err = d.Stream(actx, req, ss)
		ss.stop()
		cancel()
		if !ss.first.IsZero() {
			st.series.TTFT.Observe(ss.first.Sub(start).Seconds())
		}
		switch {
		case ss.refused != nil:
			err = ss.refused
		case err == nil && !ss.committed:
			// The stream ended within the hold-back: judge it whole, then let it out.
			if err = p.judge(ctx, req, &ss.ans, true, out.Plan, t); err == nil {
				err = ss.commit()
			}
		}
		if err != nil && ctx.Err() == nil {
			timedOut = ss.timedOut()
		}
		if timedOut != "" {
			err = &provider.Error{Kind: provider.KindUpstreamTimeout, Message: timedOut, Retryable: true, OutputStarted: ss.committed}
		}
	}
	if timedOut != "" && sink == nil {
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind == provider.KindCancelled {
			err = &provider.Error{Kind: provider.KindUpstreamTimeout, Message: timedOut, Retryable: true}
		}
	}
	dur := time.Since(start)
	st.inflight.Add(-1)
	out.Upstream += dur
	outcome := metrics.OutcomeOK
	if err != nil {
		outcome = classify(err).label
		var re *refusedError
		if errors.As(err, &re) {
			p.m.ValidationFailure.WithLabelValues(re.validator, t.Provider).Inc()
		}
	}
	if ctx.Err() == nil {
		st.record(dur, err != nil)
	}
	st.series.Outcome(outcome)
	st.series.Duration.Observe(dur.Seconds())
	if err != nil {
		return err
	}
	out.Target, out.Response, out.Usage, out.Embedding = t, resp, usage, emb
	if usage != nil {
		out.CostUSD = t.Cost(usage.PromptTokens, usage.CompletionTokens)
		st.series.PromptTokens.Add(float64(usage.PromptTokens))
		st.series.CompletionTokens.Add(float64(usage.CompletionTokens))
		st.series.Cost.Add(out.CostUSD)
	}
	return nil
}

// embed makes one embeddings call and checks that an answer came back for every input.
func (p *Pipeline) embed(ctx context.Context, d Dispatcher, call *Call, t *Target) (*provider.EmbedResponse, error) {
	e, ok := d.(provider.Embedder)
	if !ok {
		return nil, provider.NewError(provider.KindUnsupported, "provider %s does not serve embeddings", t.Provider)
	}
	req := *call.Embed
	req.ID, req.Model = call.ID, t.Upstream
	resp, err := e.Embed(ctx, &req)
	if err != nil {
		return nil, err
	}
	if len(resp.Data) != len(req.Input) {
		return nil, &refusedError{validator: metrics.ValidatorNonEmpty,
			reason: fmt.Sprintf("the answer holds %d embeddings for %d inputs", len(resp.Data), len(req.Input))}
	}
	for i := range resp.Data {
		if len(resp.Data[i].Vector) == 0 {
			return nil, &refusedError{validator: metrics.ValidatorNonEmpty, reason: fmt.Sprintf("embedding %d is empty", i)}
		}
	}
	return resp, nil
}

// validate applies validation.trim_whitespace and max_chars to a whole answer,
// then the built-in checks.
func (p *Pipeline) validate(ctx context.Context, req *provider.Request, r *provider.Response, plan *Plan, t *Target) error {
	if len(r.Choices) == 0 {
		return &refusedError{validator: metrics.ValidatorNonEmpty, reason: "the answer has no choices"}
	}
	for i := range r.Choices {
		c := &r.Choices[i]
		if p.policy.TrimWhitespace {
			c.Message.Content = strings.TrimSpace(c.Message.Content)
		}
		if n := p.policy.MaxChars; n > 0 && len(c.Message.Content) > n {
			c.Message.Content = truncateUTF8(c.Message.Content, n)
			c.FinishReason = "length"
		}
		a := answer{content: c.Message.Content, refusal: c.Message.Refusal, calls: c.Message.ToolCalls, finish: c.FinishReason, usage: r.Usage}
		if err := p.judge(ctx, req, &a, true, plan, t); err != nil {
			return err
		}
	}
	return nil
}

// answer is what validators judge: a whole answer, or the start of a stream.
type answer struct {
	content, refusal, finish string
	calls                    []provider.ToolCall
	usage                    *provider.Usage
}

// judge runs the built-in checks, then the rules' sy_validate.
func (p *Pipeline) judge(ctx context.Context, req *provider.Request, a *answer, complete bool, plan *Plan, t *Target) error {
	if err := p.check(req, a, complete); err != nil {
		return err
	}
	if p.validators == nil || plan == nil || plan.Input == nil {
		return nil
	}
	in := &abi.ValidateInput{Request: plan.Input.Request, Target: abi.Target{Provider: t.Provider, Model: t.Name},
		Answer: abi.Answer{Content: a.content, FinishReason: a.finish}}
	for _, c := range a.calls {
		in.Answer.ToolCalls = append(in.Answer.ToolCalls, abi.AnswerToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
	}
	if a.usage != nil {
		in.Answer.Usage = &abi.AnswerUsage{PromptTokens: a.usage.PromptTokens, CompletionTokens: a.usage.CompletionTokens}
	}
	v := p.validators.Validate(ctx, in)
	switch v.Verdict {
	case "", "accept":
		return nil
	}
	name, _, _ := strings.Cut(v.Rule, "@")
	return &refusedError{validator: name, reason: v.Reason, verdict: v.Verdict}
}

// check runs the built-in validators. complete says the answer is whole; the start of a
// stream is only judged for what its start can show.
func (p *Pipeline) check(req *provider.Request, a *answer, complete bool) error {
	if a.finish == "content_filter" {
		return &refusedError{validator: metrics.ValidatorContentFilter, reason: "the upstream filtered the answer"}
	}
	if !complete {
		return nil
	}
	if p.policy.NonEmpty && strings.TrimSpace(a.content) == "" && len(a.calls) == 0 && a.refusal == "" {
		return &refusedError{validator: metrics.ValidatorNonEmpty, reason: "the answer is empty"}
	}
	for _, c := range a.calls {
		if c.Arguments != "" && !json.Valid([]byte(c.Arguments)) {
			return &refusedError{validator: metrics.ValidatorToolArguments, reason: "tool call " + c.Name + " has arguments that are not JSON"}
		}
	}
	if rf := req.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") && len(a.calls) == 0 && a.refusal == "" {
		if !json.Valid([]byte(strings.TrimSpace(a.content))) {
			return &refusedError{validator: metrics.ValidatorJSON, reason: "response_format asks for JSON and the answer is not JSON"}
		}
	}
	return nil
}

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func (p *Pipeline) contextError(ctx context.Context, out *Outcome, t *Target) *wire.Error {
	var e *wire.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e = wire.NewError(http.StatusGatewayTimeout, wire.CodeDeadlineExceeded, "the request's deadline passed before an answer came back")
	} else {
		e = wire.NewError(499, wire.CodeClientClosed, "the client went away")
	}
	e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
	return e
}

// inBand turns a failure after a stream started into the error sent inside the stream.
func (p *Pipeline) inBand(f failure, t *Target, out *Outcome) *wire.Error {
	e := wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "the upstream failed after the stream started: %s", f.message)
	e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
	return e
}

// errorFor is the client's error for a failure that ends the request.
func (p *Pipeline) errorFor(f failure, t *Target, out *Outcome, retryAfter time.Duration) *wire.Error {
	msg := f.message
	if f.detail != "" {
		msg = f.detail
	}
	e := wire.NewError(f.status, f.code, "%s", msg)
	e.Provider, e.Attempts, e.Fallbacks, e.RetryAfter = t.Provider, out.Attempts, out.Fallbacks, retryAfter
	return e
}

// exhausted builds the error when no target answered: when every failure maps to the same
// status and code (all rate limited, all too long for the context window), the client gets
// that; otherwise 502 all_targets_failed naming the last failure. The longest Retry-After
// an upstream asked for is passed on, capped at MaxRetryAfter.
func (p *Pipeline) exhausted(out *Outcome, fails []failure, lastProvider string, tried int, retryAfter time.Duration) *wire.Error {
	var e *wire.Error
	switch {
	case tried == 0:
		e = wire.NewError(http.StatusServiceUnavailable, wire.CodeNoRoute, "no target can serve now: every provider plugin of the route is down")
		e.RetryAfter = time.Second
	case len(fails) == 0: // cannot happen: a tried target either answered or failed
		e = wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "every target failed")
	default:
		last := fails[len(fails)-1]
		same := true
		for _, f := range fails {
			same = same && f.status == last.status && f.code == last.code
		}
		if same && last.code != wire.CodeAllTargetsFailed {
			e = wire.NewError(last.status, last.code, "every target failed: %s", last.message)
		} else {
			e = wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "every target failed; last: %s", last.message)
		}
		e.RetryAfter = retryAfter
		if e.Status == http.StatusTooManyRequests {
			e.RetryAfter = max(retryAfter, time.Second)
		}
	}
	e.Provider, e.Attempts, e.Fallbacks = lastProvider, out.Attempts, out.Fallbacks
	return e
}
