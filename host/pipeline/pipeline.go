// Package pipeline is the one place that knows the order of a request's stages: rule
// evaluation, dispatch to a provider, validation, retry and fallback. Each stage sits behind
// a small interface so tests can substitute one at a time.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules"
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

// RuleEvaluator runs the rule chain. It never fails: rule failures are in the Result.
type RuleEvaluator interface {
	Evaluate(ctx context.Context, in *rules.Input) *rules.Result
}

// AnswerValidator is what a RuleEvaluator may also implement: rules that judge answers
// (sy_validate). Validate returns the first verdict other than accept.
type AnswerValidator interface {
	HasValidators() bool
	Validate(ctx context.Context, in *rules.ValidateInput) rules.Verdict
}

// Options wires a Pipeline.
type Options struct {
	Config      *config.File
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
}

// Pipeline serves requests for one loaded configuration. It is immutable and safe for
// concurrent use; a reload builds a new one.
type Pipeline struct {
	cat         *Catalogue
	dispatchers map[string]Dispatcher
	rules       RuleEvaluator
	ruleHeaders []string
	retry       config.Retry
	timeouts    config.Timeouts
	validation  config.Validation
	m           *metrics.Metrics
	log         *slog.Logger
	stats       map[string]*targetStats
	breakers    map[string]*circuit.Breaker
	// native lists the providers whose plugin forwards the client's body as is.
	native map[string]bool
	// validators is set when a rule judges answers.
	validators AnswerValidator
}

// Describer is what a Dispatcher may also implement to describe its plugin.
type Describer interface {
	Info() provider.Info
}

// New builds a Pipeline.
func New(o Options) *Pipeline {
	p := &Pipeline{cat: o.Catalogue, dispatchers: o.Dispatchers, rules: o.Rules, ruleHeaders: o.RuleHeaders,
		retry: o.Config.Retry, timeouts: o.Config.Timeouts, validation: o.Config.Validation,
		m: o.Metrics, log: o.Logger, stats: map[string]*targetStats{}, native: map[string]bool{},
		breakers: map[string]*circuit.Breaker{}}
	if o.Breakers == nil {
		o.Breakers = circuit.NewSet(nil)
		o.Breakers.Configure(circuit.Config{FailureThreshold: o.Config.Circuit.FailureThreshold,
			CoolDown: o.Config.Circuit.CoolDown.D(), HalfOpenProbes: o.Config.Circuit.HalfOpenProbes})
	}
	for _, t := range o.Catalogue.Targets() {
		p.stats[t.Name] = &targetStats{series: o.Metrics.Target(t.Provider, t.Name)}
		p.breakers[t.Name] = o.Breakers.Get(BreakerKey(t))
	}
	if v, ok := o.Rules.(AnswerValidator); ok && v.HasValidators() {
		p.validators = v
	}
	for name, d := range o.Dispatchers {
		if in, ok := d.(Describer); ok && in.Info().OpenAINative {
			p.native[name] = true
		}
	}
	return p
}

// Circuit reports a target's circuit state: closed, half_open or open.
func (p *Pipeline) Circuit(t *Target) string {
	if b := p.breakers[t.Name]; b != nil {
		return b.State(time.Now()).String()
	}
	return "closed"
}

// RuleLister is what a RuleEvaluator may also implement to describe its rules (their
// state, quarantine included) for /readyz and the dry run.
type RuleLister interface {
	Rules() []rules.RuleInfo
}

// Rules describes the rules of the chain, nil without rules.
func (p *Pipeline) Rules() []rules.RuleInfo {
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
	// Key is the client key's configured name, never the secret.
	Key    string
	Header http.Header
	// Deadline bounds the whole request.
	Deadline time.Time
	// Trace asks the rules for a full trace (input digests, outputs): the dry run sets it.
	Trace bool
}

// Plan is the ordered list of targets for a call and how it was chosen.
type Plan struct {
	Targets []*Target
	// Rule is the deciding rule's label (name@sha256-prefix) or "default".
	Rule   string
	Reason string
	Params *rules.Params
	Tags   []string
	Trace  []rules.RuleTrace
	// Input is what the rules saw (nil without rules).
	Input *rules.Input
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
}

// Plan evaluates the rules for a call and returns its ordered targets.
func (p *Pipeline) Plan(ctx context.Context, call *Call) (*Plan, *wire.Error) {
	candidates, route, ok := p.cat.Resolve(call.Chat.Model)
	if !ok {
		e := wire.NewError(http.StatusNotFound, wire.CodeModelNotFound, "the model %q does not exist; GET /v1/models lists the models", call.Chat.Model)
		e.Param = "model"
		return nil, e
	}
	plan := &Plan{Rule: "default"}
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
				if tt := p.cat.models[t.Model]; tt != nil && tt.Provider == t.Provider {
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

func (p *Pipeline) ruleInput(call *Call, candidates []*Target) *rules.Input {
	now := time.Now()
	chat := call.Chat
	in := &rules.Input{
		NowUnixMS:  now.UnixMilli(),
		RandomSeed: mrand.Uint64() >> 11, // fits a JSON number exactly; the runtime's per-P source
		Request: rules.RequestView{
			ID: call.ID, Endpoint: "chat.completions", Model: chat.Model, Stream: chat.Stream,
			Priority: call.Priority, PromptTokensEstimate: chat.PromptTokensEstimate,
			MaxTokens: chat.Provider.MaxTokens, Messages: chat.Messages, Chars: int64(chat.Chars),
			HasTools: chat.HasTools, HasImages: chat.HasImages, JSONMode: chat.JSONMode,
			Key: call.Key, User: chat.Provider.User, Tags: call.Tags, Metadata: chat.Metadata,
		},
		Candidates: make([]rules.Candidate, len(candidates)),
	}
	if len(p.ruleHeaders) > 0 && call.Header != nil {
		in.Request.Headers = map[string]string{}
		for _, h := range p.ruleHeaders {
			if v := call.Header.Get(h); v != "" {
				in.Request.Headers[h] = v
			}
		}
	}
	for i, t := range candidates {
		st := p.stats[t.Name].snapshot(now)
		in.Candidates[i] = rules.Candidate{
			Provider: t.Provider, Model: t.Name, ContextWindow: t.ContextWindow,
			USDPerMTokIn: t.USDPerMTokIn, USDPerMTokOut: t.USDPerMTokOut, Capabilities: t.Capabilities,
			Healthy: p.up(t.Provider), Circuit: p.breakers[t.Name].State(now).String(),
			P50MS: ms(st.P50), P95MS: ms(st.P95), ErrorRate: math.Round(st.ErrorRate*1e4) / 1e4,
			Inflight: int(p.stats[t.Name].inflight.Load()),
		}
	}
	return in
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1e3 }

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

// CodeAnswerRejected is the error code when a rule's sy_validate says "fail".
const CodeAnswerRejected = "answer_rejected"

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
	if e.validator == "content_filter" {
		return string(provider.KindContentFiltered)
	}
	return "invalid_answer"
}

// run tries the plan's targets in order, retrying one target on transient failures.
func (p *Pipeline) run(ctx context.Context, call *Call, out *Outcome, sink StreamSink) *wire.Error {
	var (
		lastErr      error
		lastProvider string
		kinds        = map[provider.Kind]int{}
		retryAfter   time.Duration
		tried        int
		circuitWait  time.Duration // shortest wait for an open circuit to let a probe through
	)
	for ti, t := range out.Plan.Targets {
		if ti > 0 {
			out.Fallbacks++
		}
		lastProvider = t.Provider
		d := p.dispatchers[t.Provider]
		if d == nil || !p.up(t.Provider) {
			p.leave(t, "plugin_down", ti, len(out.Plan.Targets))
			lastErr = errors.New("provider plugin is down")
			continue
		}
		br := p.breakers[t.Name]
		req := p.prepare(call, t, out.Plan.Params)
		for attempt := 1; ; attempt++ {
			if ok, wait := br.Allow(time.Now()); !ok {
				if circuitWait == 0 || wait < circuitWait {
					circuitWait = wait
				}
				p.leave(t, "circuit_open", ti, len(out.Plan.Targets))
				break
			}
			if attempt == 1 {
				tried++
			}
			out.Attempts++
			err := p.attempt(ctx, call, t, d, req, out, sink)
			br.Done(breakerOutcome(err, ctx), time.Now())
			if err == nil {
				return nil
			}
			lastErr = err
			if ctx.Err() != nil {
				return p.contextError(ctx, out, t)
			}
			if out.Committed {
				return p.inBand(err, t, out)
			}
			var pe *provider.Error
			var re *refusedError
			if errors.As(err, &re) {
				switch {
				case re.verdict == "fail":
					e := wire.NewError(http.StatusBadGateway, CodeAnswerRejected, "routing rule %q refused the answer: %s", re.validator, re.reason)
					e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
					return e
				case re.verdict == "retry" && attempt < p.retry.MaxAttempts:
					p.m.Retries.WithLabelValues(t.Provider, "validation").Inc()
					continue
				}
				p.leave(t, re.fallbackReason(), ti, len(out.Plan.Targets))
				break
			}
			if !errors.As(err, &pe) {
				p.log.Warn("provider failed", "provider", t.Provider, "model", t.Name, "request_id", call.ID, "err", err)
				p.leave(t, "plugin_down", ti, len(out.Plan.Targets))
				break
			}
			kinds[pe.Kind]++
			if pe.RetryAfter > retryAfter {
				retryAfter = pe.RetryAfter
			}
			if pe.Kind == provider.KindInvalidRequest {
				e := wire.BadRequest("", "%s", pe.Message)
				e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
				return e
			}
			// A target that asks for a longer wait than our backoff allows is left for the
			// next one rather than waited on.
			if retryable(pe.Kind) && attempt < p.retry.MaxAttempts && pe.RetryAfter <= p.retry.BackoffMax.D() {
				wait := p.backoff(attempt, pe.RetryAfter)
				if time.Until(call.Deadline) > wait {
					p.m.Retries.WithLabelValues(t.Provider, string(pe.Kind)).Inc()
					if !sleep(ctx, wait) {
						return p.contextError(ctx, out, t)
					}
					out.Upstream += wait
					continue
				}
			}
			p.leave(t, string(pe.Kind), ti, len(out.Plan.Targets))
			break
		}
	}
	if tried == 0 && circuitWait > 0 {
		e := wire.NewError(http.StatusServiceUnavailable, wire.CodeNoRoute, "no target can serve now: every target's circuit is open after repeated failures")
		e.RetryAfter = max(circuitWait, time.Second)
		e.Provider, e.Attempts, e.Fallbacks = lastProvider, out.Attempts, out.Fallbacks
		return e
	}
	return p.exhausted(out, lastErr, lastProvider, kinds, tried, retryAfter)
}

// BreakerKey names a target's breaker: "provider/model" (provider names hold no '/').
func BreakerKey(t *Target) string { return t.Provider + "/" + t.Name }

// breakerOutcome says what an attempt tells about the target's health. Failures that are
// the request's own (invalid, too long, filtered, a refused answer) or the client's leaving
// say nothing.
func breakerOutcome(err error, ctx context.Context) circuit.Outcome {
	if err == nil {
		return circuit.Success
	}
	if ctx.Err() != nil {
		return circuit.Neutral
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		var re *refusedError
		if errors.As(err, &re) {
			return circuit.Neutral
		}
		return circuit.Failure // the plugin itself failed
	}
	switch pe.Kind {
	case provider.KindUpstreamUnavailable, provider.KindUpstreamTimeout, provider.KindRateLimited,
		provider.KindAuthentication, provider.KindPermissionDenied, provider.KindQuotaExhausted,
		provider.KindNotFound, provider.KindInternal:
		return circuit.Failure
	}
	return circuit.Neutral
}

func retryable(k provider.Kind) bool {
	switch k {
	case provider.KindRateLimited, provider.KindUpstreamUnavailable, provider.KindUpstreamTimeout:
		return true
	}
	return false
}

// backoff is exponential with full jitter, at least what the upstream asked for.
func (p *Pipeline) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceil := p.retry.BackoffBase.D() << (attempt - 1)
	if ceil > p.retry.BackoffMax.D() || ceil <= 0 {
		ceil = p.retry.BackoffMax.D()
	}
	wait := time.Duration(mrand.Int64N(int64(ceil) + 1))
	if retryAfter > wait {
		wait = retryAfter
	}
	return wait
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// leave counts a move away from a target (a fallback when another target follows).
func (p *Pipeline) leave(t *Target, reason string, i, n int) {
	if i < n-1 {
		p.m.Fallbacks.WithLabelValues(t.Provider, reason).Inc()
	}
}

// prepare copies the request for one target: its upstream model and the rule's params, and
// for a plugin that speaks OpenAI natively the client's own bytes with the same changes.
func (p *Pipeline) prepare(call *Call, t *Target, params *rules.Params) *provider.Request {
	r := *call.Chat.Provider
	r.ID = call.ID
	r.Model = t.Upstream
	if p.native[t.Provider] {
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
func rawOverrides(chat *wire.ChatRequest, params *rules.Params) map[string]json.RawMessage {
	if params == nil {
		return nil
	}
	set := map[string]json.RawMessage{}
	put := func(k string, v any) { set[k], _ = json.Marshal(v) }
	if params.MaxTokens != nil && (chat.Provider.MaxTokens == 0 || *params.MaxTokens < chat.Provider.MaxTokens) {
		if chat.MaxTokensField != "" {
			put(chat.MaxTokensField, *params.MaxTokens)
		} else {
			put("max_completion_tokens", *params.MaxTokens)
		}
	}
	if params.Temperature != nil {
		put("temperature", *params.Temperature)
	}
	if params.TopP != nil {
		put("top_p", *params.TopP)
	}
	if params.Stop != nil {
		put("stop", params.Stop)
	}
	if params.ReasoningEffort != "" {
		put("reasoning_effort", params.ReasoningEffort)
	}
	return set
}

// attempt makes one upstream call and validates what came back.
func (p *Pipeline) attempt(ctx context.Context, call *Call, t *Target, d Dispatcher, req *provider.Request, out *Outcome, sink StreamSink) error {
	limit := p.timeouts.Attempt.D()
	if rem := time.Until(call.Deadline); rem < limit {
		limit = rem
	}
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	st := p.stats[t.Name]
	st.inflight.Add(1)
	start := time.Now()
	var (
		resp  *provider.Response
		usage *provider.Usage
		err   error
	)
	if sink == nil {
		resp, err = d.Complete(actx, req)
		if err == nil {
			err = p.validate(ctx, req, resp, out.Plan, t)
			usage = resp.Usage
		}
	} else {
		ss := newStreamSender(sink, out, t, p.timeouts.StreamIdle.D(), cancel, p.validation.StreamHoldback,
			func(a *answer, complete bool) error { return p.judge(ctx, req, a, complete, out.Plan, t) })
		usage, err = d.Stream(actx, req, ss)
		ss.stop()
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
		if err != nil && ss.idle.Load() {
			err = &provider.Error{Kind: provider.KindUpstreamTimeout, Message: "the upstream stream stalled", Retryable: true, OutputStarted: ss.committed}
		}
	}
	dur := time.Since(start)
	st.inflight.Add(-1)
	out.Upstream += dur
	if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind == provider.KindCancelled {
			err = &provider.Error{Kind: provider.KindUpstreamTimeout, Message: "the upstream call timed out", Retryable: true}
		}
	}
	outcome := "ok"
	var re *refusedError
	switch {
	case err == nil:
	case errors.As(err, &re):
		outcome = "invalid_answer"
		p.m.ValidationFailure.WithLabelValues(re.validator, t.Provider).Inc()
	default:
		var pe *provider.Error
		if errors.As(err, &pe) {
			outcome = string(pe.Kind)
		} else {
			outcome = "plugin_down"
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
	out.Target, out.Response, out.Usage = t, resp, usage
	if usage != nil {
		out.CostUSD = t.Cost(usage.PromptTokens, usage.CompletionTokens)
		st.series.PromptTokens.Add(float64(usage.PromptTokens))
		st.series.CompletionTokens.Add(float64(usage.CompletionTokens))
		st.series.Cost.Add(out.CostUSD)
	}
	return nil
}

// validate applies the original guide's trimming and length options to a whole answer,
// then the built-in checks.
func (p *Pipeline) validate(ctx context.Context, req *provider.Request, r *provider.Response, plan *Plan, t *Target) error {
	if len(r.Choices) == 0 {
		return &refusedError{validator: "non_empty", reason: "the answer has no choices"}
	}
	for i := range r.Choices {
		c := &r.Choices[i]
		if p.validation.TrimWhitespace {
			c.Message.Content = strings.TrimSpace(c.Message.Content)
		}
		if n := p.validation.MaxChars; n > 0 && len(c.Message.Content) > n {
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
	in := &rules.ValidateInput{Request: plan.Input.Request, Target: rules.Target{Provider: t.Provider, Model: t.Name},
		Answer: rules.Answer{Content: a.content, FinishReason: a.finish}}
	for _, c := range a.calls {
		in.Answer.ToolCalls = append(in.Answer.ToolCalls, rules.AnswerToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
	}
	if a.usage != nil {
		in.Answer.Usage = &rules.AnswerUsage{PromptTokens: a.usage.PromptTokens, CompletionTokens: a.usage.CompletionTokens}
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
		return &refusedError{validator: "content_filter", reason: "the upstream filtered the answer"}
	}
	if !complete {
		return nil
	}
	if *p.validation.NonEmpty && strings.TrimSpace(a.content) == "" && len(a.calls) == 0 && a.refusal == "" {
		return &refusedError{validator: "non_empty", reason: "the answer is empty"}
	}
	for _, c := range a.calls {
		if c.Arguments != "" && !json.Valid([]byte(c.Arguments)) {
			return &refusedError{validator: "tool_arguments", reason: "tool call " + c.Name + " has arguments that are not JSON"}
		}
	}
	if rf := req.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") && len(a.calls) == 0 && a.refusal == "" {
		if !json.Valid([]byte(strings.TrimSpace(a.content))) {
			return &refusedError{validator: "json", reason: "response_format asks for JSON and the answer is not JSON"}
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
		e = wire.NewError(499, "client_closed_request", "the client went away")
	}
	e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
	return e
}

// inBand turns a failure after a stream started into the error sent inside the stream.
func (p *Pipeline) inBand(err error, t *Target, out *Outcome) *wire.Error {
	msg := "the upstream failed after the stream started"
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Message != "" {
		msg += ": " + pe.Message
	}
	e := wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "%s", msg)
	e.Provider, e.Attempts, e.Fallbacks = t.Provider, out.Attempts, out.Fallbacks
	return e
}

// exhausted builds the error when no target answered.
func (p *Pipeline) exhausted(out *Outcome, lastErr error, lastProvider string, kinds map[provider.Kind]int, tried int, retryAfter time.Duration) *wire.Error {
	var e *wire.Error
	total := 0
	for _, n := range kinds {
		total += n
	}
	switch {
	case tried == 0:
		e = wire.NewError(http.StatusServiceUnavailable, wire.CodeNoRoute, "no target can serve now: every provider plugin of the route is down")
		e.RetryAfter = time.Second
	case total > 0 && kinds[provider.KindContextLengthExceeded] == total:
		e = wire.NewError(http.StatusBadRequest, wire.CodeContextLength, "the request does not fit the context window of any target")
	case total > 0 && kinds[provider.KindRateLimited] == total:
		e = wire.NewError(http.StatusTooManyRequests, wire.CodeRateLimited, "every target is rate limited")
		e.RetryAfter = max(retryAfter, time.Second)
	default:
		msg := "every target failed"
		var pe *provider.Error
		if errors.As(lastErr, &pe) && pe.Message != "" {
			msg += "; last: " + string(pe.Kind) + ": " + pe.Message
		} else if re := (*refusedError)(nil); errors.As(lastErr, &re) {
			msg += "; last: " + re.Error()
		} else if lastErr != nil {
			msg += "; last: the provider plugin failed"
		}
		e = wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "%s", msg)
	}
	e.Provider, e.Attempts, e.Fallbacks = lastProvider, out.Attempts, out.Fallbacks
	return e
}
