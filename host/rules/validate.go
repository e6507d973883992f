package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/internal/codec"
)

// HasValidators reports whether any active, non-quarantined rule exports
// sy_validate, so the caller can skip holding answers back when none does.
// It is safe for concurrent use; a closed chain has none.
func (c *Chain) HasValidators() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	for _, r := range c.validators {
		if !r.quarantined.Load() {
			return true
		}
	}
	return false
}

// Validate asks every active rule that exports sy_validate, in chain
// order, to judge an answer, and returns the first verdict other than
// accept, with the rule's label; Verdict{Verdict: "accept"} (Rule "") when
// all accept. Shadow and quarantined rules are not asked.
//
// Each rule gets its own deadline, as in Evaluate, from the same instance
// pool. A rule whose sy_validate traps, passes its deadline or returns bad
// output (not {"verdict":"accept|retry|fallback|fail","reason":"..."}) is
// reported to the Observer as outcome error or timeout and counts towards
// its quarantine; with on_error: skip it accepts, with on_error: fail the
// answer fails, with a Reason saying why. Validate never panics, is safe
// for concurrent use and never instantiates a module.
func (c *Chain) Validate(ctx context.Context, in *ValidateInput) (v Verdict) {
	v = Verdict{Verdict: VerdictAccept}
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("rules: validate panicked", "panic", fmt.Sprint(p))
			v = Verdict{Verdict: VerdictAccept}
		}
	}()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || len(c.validators) == 0 {
		return v
	}
	enc := encPool.Get().(*encoded)
	enc.ok = false
	defer encPool.Put(enc)
	for _, r := range c.validators {
		if r.quarantined.Load() {
			continue
		}
		if got, decided := r.validate(ctx, in, enc, c.opts.Observer); decided {
			return got
		}
	}
	return v
}

// validate runs one rule's sy_validate, reporting to obs (the chain's
// Observer, may be nil); decided is false when the rule accepts (or failed
// with on_error: skip).
func (r *rule) validate(ctx context.Context, in *ValidateInput, enc *encoded, obs Observer) (v Verdict, decided bool) {
	input := enc.validateInput(in, r)
	var (
		verdict, reason string
		perr            error
	)
	start := time.Now()
	outcome, fault, err := r.run(ctx, true, input, func(out []byte) {
		verdict = VerdictAccept
		if out != nil {
			verdict, reason, perr = codec.ParseVerdict(out)
		}
	})
	d := time.Since(start)
	if outcome == "" && perr != nil {
		outcome, fault, err = OutcomeError, true, perr
	}
	if outcome != "" {
		if obs != nil {
			obs.RuleEvaluated(r.spec.Name, outcome, d)
		}
		r.settle(outcome, fault, err.Error(), obs)
		if r.spec.OnError != OnErrorFail {
			return Verdict{}, false
		}
		return Verdict{Rule: r.label, Verdict: VerdictFail,
			Reason: "rules/" + r.spec.Name + ": sy_validate " + outcome + ": " + err.Error()}, true
	}
	if vo, ok := obs.(ValidationObserver); ok {
		vo.RuleValidated(r.spec.Name, verdict, d)
	}
	r.settle(OutcomeDecided, false, "", obs)
	if verdict == VerdictAccept {
		return Verdict{}, false
	}
	return Verdict{Rule: r.label, Verdict: verdict, Reason: reason}, true
}
