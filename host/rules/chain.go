package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/codec"
)

// initTimeout bounds instantiation plus sy_init of one instance.
const initTimeout = 10 * time.Second

// Chain is a loaded, ready rule chain. Evaluate, Validate, Rules and Reset
// are safe for concurrent use. Close waits for running evaluations;
// evaluations started after Close find no rules and decide nothing.
//
// A rule may be shared by several chains (Options.Previous): it is closed
// when the last open chain that holds it is closed.
type Chain struct {
	active     []*rule
	shadow     []*rule
	all        []*rule
	validators []*rule // active rules that export sy_validate, in order
	content    int     // the largest Spec.ContentBytes of the rules; 0 when none opted in
	opts       Options // Previous cleared: a chain never keeps its predecessor alive
	logger     *slog.Logger

	mu     sync.RWMutex // held for reading by evaluations, for writing by Close
	closed bool
}

// rule is one loaded rule: a Runtime of its own, the compiled module and a
// pool of ready instances. Everything but the failure count, the
// quarantine flag and the holders is fixed once loaded, so chains can share
// it.
type rule struct {
	spec    Spec
	limits  Limits
	sha     string
	label   string // name@sha[:12]
	config  []byte
	headers []string
	hdrKey  string
	content int // Spec.ContentBytes
	failAt  int
	key     string // what must be equal for a reload to share the rule (reuseKey)

	// Holders: each chain that holds the rule counts one; the last release
	// stops the refills and closes the Runtime.
	refMu sync.Mutex
	refs  int
	bg    context.Context // refills; cancelled by the last release
	stop  context.CancelFunc
	wg    sync.WaitGroup // refills in flight

	rt           wazero.Runtime
	cache        wazero.CompilationCache // nil: the Runtime's own engine, closed with it
	compiled     wazero.CompiledModule
	instrumented bool // the module checks a stop flag (internal/instrument)
	modCfg       wazero.ModuleConfig
	hasInit      bool
	hasValidate  bool // exports sy_validate
	seed         [32]byte
	seq          atomic.Uint64
	log          ruleLog

	pool        chan *instance
	failures    atomic.Int32
	quarantined atomic.Bool
}

// Load compiles every rule, checks its imports and exports, fills its pool
// (running sy_init in every instance) and returns the chain. On error
// nothing it made stays open, and the message names the rule, its file and
// the problem: "rules/<name>: <path>: <problem>". ctx bounds loading only.
// The caller must Close the chain.
//
// With opts.Previous, a rule whose module bytes (sha256), whole Spec and
// QuarantineAfter equal those of the rule of the same name in Previous is
// shared with Previous instead of compiled again: same pool, same failure
// count and quarantine. Load reports nothing to the Observer, and a Load
// that fails leaves the rules of Previous as they were.
func Load(ctx context.Context, specs []Spec, opts Options) (*Chain, error) {
	prev := opts.Previous
	opts.Previous = nil
	c := &Chain{opts: opts, logger: opts.Logger}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if opts.CacheDir != "" {
		// Fail early and once, rather than per rule.
		if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("rules: compilation cache %s: %w", opts.CacheDir, err)
		}
	}
	shared := map[string]*rule{}
	if prev != nil {
		for _, r := range prev.all {
			shared[r.spec.Name] = r
		}
	}
	seen := map[string]bool{}
	for _, s := range specs {
		r, err := c.loadRule(ctx, s, seen, shared[s.Name])
		if err != nil {
			_ = c.Close(ctx)
			return nil, &LoadError{Rule: s.Name, Path: s.Path, Err: err}
		}
		c.all = append(c.all, r)
		c.content = max(c.content, r.content)
		if r.spec.Mode == ModeShadow {
			c.shadow = append(c.shadow, r)
		} else {
			c.active = append(c.active, r)
			if r.hasValidate {
				c.validators = append(c.validators, r)
			}
		}
	}
	return c, nil
}

// loadRule loads one rule, or shares old when it is the same rule (reuseKey).
func (c *Chain) loadRule(ctx context.Context, s Spec, seen map[string]bool, old *rule) (*rule, error) {
	switch {
	case s.Name == "":
		return nil, errors.New("rule has no name")
	case seen[s.Name]:
		return nil, errors.New("rule name used twice")
	}
	seen[s.Name] = true
	if s.Mode == "" {
		s.Mode = ModeActive
	}
	if s.OnError == "" {
		s.OnError = OnErrorSkip
	}
	if s.Mode != ModeActive && s.Mode != ModeShadow {
		return nil, fmt.Errorf("mode %q is not active or shadow", s.Mode)
	}
	if s.OnError != OnErrorSkip && s.OnError != OnErrorFail {
		return nil, fmt.Errorf("on_error %q is not skip or fail", s.OnError)
	}
	if len(s.Config) > 0 && !json.Valid(s.Config) {
		return nil, errors.New("config is not valid JSON")
	}
	if s.ContentBytes < 0 || s.ContentBytes > abi.MaxContentBytes {
		return nil, fmt.Errorf("content max_bytes %d is not 1..%d (or 0 for none)", s.ContentBytes, abi.MaxContentBytes)
	}
	r := &rule{spec: s, limits: s.Limits.withDefaults(), config: s.Config, content: s.ContentBytes}
	if r.limits.MemoryMiB > 4096 {
		return nil, fmt.Errorf("memory limit %d MiB is over 4096", r.limits.MemoryMiB)
	}
	for _, h := range s.Headers {
		r.headers = append(r.headers, strings.ToLower(h))
	}
	r.hdrKey = strings.Join(r.headers, "\x00")
	r.failAt = c.opts.QuarantineAfter
	if r.failAt == 0 {
		r.failAt = DefaultQuarantineAfter
	}
	r.log.logger = c.logger.With("rule", s.Name)

	wasm, sum, err := fileSHA256(s.Path)
	if err != nil {
		return nil, err
	}
	r.sha = sum
	r.key = reuseKey(r)
	if old != nil && old.key == r.key && old.acquire() {
		return old, nil
	}
	r.label = s.Name + "@" + sum[:12]
	r.seed = sha256.Sum256(wasm)
	if c.opts.CacheDir != "" {
		// One cache per rule: its engine lives as long as the rule, which
		// chains may share (a cache shared by the rules of one chain could
		// not be closed while a later chain still runs one of them).
		if r.cache, err = wazero.NewCompilationCacheWithDir(c.opts.CacheDir); err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", c.opts.CacheDir, err)
		}
	}
	if err := compileRule(ctx, r, wasm, r.cache); err != nil {
		r.closeCache(ctx)
		return nil, err
	}
	r.refs = 1
	r.bg, r.stop = context.WithCancel(context.Background())
	r.pool = make(chan *instance, r.limits.Pool)
	for range r.limits.Pool {
		ictx, cancel := context.WithTimeout(ctx, initTimeout)
		inst, err := r.newInstance(ictx)
		cancel()
		if err != nil {
			_ = r.release(ctx)
			return nil, err
		}
		r.pool <- inst
	}
	return r, nil
}

// reuseKey is what a reload compares to share a rule: the module's sha256
// and every setting of its Spec (defaults applied) and of the chain that
// the rule keeps.
func reuseKey(r *rule) string {
	cfg := string(r.config)
	if cfg == "" {
		cfg = "{}" // what sy_init receives for none
	}
	return fmt.Sprintf("%s\x00%q\x00%q\x00%q\x00%q\x00%d\x00%d\x00%d\x00%d\x00%d\x00%s",
		r.sha, r.spec.Path, r.spec.Mode, r.spec.OnError, r.headers, r.content,
		r.limits.Deadline, r.limits.MemoryMiB, r.limits.Pool, r.failAt, cfg)
}

// acquire adds a holder of the rule; false when the rule is already closed.
func (r *rule) acquire() bool {
	r.refMu.Lock()
	defer r.refMu.Unlock()
	if r.refs == 0 {
		return false
	}
	r.refs++
	return true
}

// release drops a holder; the last one stops the refills and closes the
// Runtime (every instance with it). Every evaluation runs inside a chain
// that holds the rule and Chain.Close waits for its evaluations, so none
// runs by then.
func (r *rule) release(ctx context.Context) error {
	r.refMu.Lock()
	r.refs--
	last := r.refs == 0
	r.refMu.Unlock()
	if !last {
		return nil
	}
	r.stop()
	r.wg.Wait()
	err := r.rt.Close(ctx)
	if r.cache != nil {
		// The Runtime does not own a configured cache's engine, which keeps
		// the compiled code until the module or the cache is closed.
		_ = r.compiled.Close(ctx)
	}
	r.closeCache(ctx)
	return err
}

func (r *rule) closeCache(ctx context.Context) {
	if r.cache != nil {
		_ = r.cache.Close(ctx)
	}
}

// ContentBytes is the largest content max_bytes of the chain's rules (shadow
// rules included), 0 when no rule opted in to request.content. The pipeline
// computes Input.Request.Content at this size, and only when it is not 0, so
// a chain without such a rule costs nothing for it; the encoder cuts the
// texts to each rule's own size.
func (c *Chain) ContentBytes() int { return c.content }

// Rules describes the loaded rules in configured order.
func (c *Chain) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(c.all))
	for _, r := range c.all {
		out = append(out, RuleInfo{Name: r.spec.Name, Mode: r.spec.Mode, SHA256: r.sha, Path: r.spec.Path,
			Quarantined: r.quarantined.Load(), Failures: int(r.failures.Load())})
	}
	return out
}

// ErrUnknownRule is wrapped by Reset when the chain has no rule of that name.
var ErrUnknownRule = errors.New("no such rule")

// Reset lifts the quarantine of the named rule and clears its count of
// consecutive failures; a lifted quarantine is reported to the Observer's
// RuleQuarantineChanged. A rule shared with another chain is reset there
// too (it is the same rule). The error wraps ErrUnknownRule when the chain
// has no such rule.
func (c *Chain) Reset(name string) error {
	for _, r := range c.all {
		if r.spec.Name == name {
			r.failures.Store(0)
			if r.quarantined.CompareAndSwap(true, false) {
				r.log.logger.Info("rules: quarantine lifted")
				if q, ok := c.opts.Observer.(QuarantineObserver); ok {
					q.RuleQuarantineChanged(name, false)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("rules/%s: %w", name, ErrUnknownRule)
}

// ReportQuarantine reports the quarantine state of every rule to the
// Observer's RuleQuarantineChanged. Load reports nothing (a refused
// candidate must not touch what the serving rules show); call this once
// the chain serves, so that a rule whose quarantined version a reload
// replaced shows as not quarantined.
func (c *Chain) ReportQuarantine() {
	q, ok := c.opts.Observer.(QuarantineObserver)
	if !ok {
		return
	}
	for _, r := range c.all {
		q.RuleQuarantineChanged(r.spec.Name, r.quarantined.Load())
	}
}

// Close waits for running evaluations, then releases every rule: a rule no
// other open chain holds has its background refills stopped and its
// instances and Runtime closed. It is idempotent.
func (c *Chain) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, r := range c.all {
		if err := r.release(ctx); err != nil {
			errs = append(errs, fmt.Errorf("rules/%s: close: %w", r.spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

// encoded is one encoding of an input, shared by consecutive rules that
// see the same headers and the same content size. The pool keeps its buffer
// between evaluations.
type encoded struct {
	key     string
	content int
	data    []byte
	sum     string // hex sha256 of data, "" until asked for
	ok      bool
}

// same reports whether the current encoding is what r sees of an input
// with content (or without, when hasContent is false: then the content size
// makes no difference).
func (e *encoded) same(r *rule, hasContent bool) bool {
	return e.ok && e.key == r.hdrKey && (e.content == r.content || !hasContent)
}

// input returns the sy_route input of in as r sees it.
func (e *encoded) input(in *Input, r *rule) []byte {
	if !e.same(r, in.Request.Content != nil) {
		e.data = abi.AppendInputFor(e.data[:0], in, r.headers, r.content)
		e.key, e.content, e.sum, e.ok = r.hdrKey, r.content, "", true
	}
	return e.data
}

// validateInput returns the sy_validate input of in as r sees it.
func (e *encoded) validateInput(in *ValidateInput, r *rule) []byte {
	if !e.same(r, in.Request.Content != nil) {
		e.data = abi.AppendValidateInputFor(e.data[:0], in, r.headers, r.content)
		e.key, e.content, e.sum, e.ok = r.hdrKey, r.content, "", true
	}
	return e.data
}

// sha256 returns the hex sha256 of the current encoding.
func (e *encoded) sha256() string {
	if e.sum == "" {
		s := sha256.Sum256(e.data)
		e.sum = hex.EncodeToString(s[:])
	}
	return e.sum
}

var encPool = sync.Pool{New: func() any { return &encoded{data: make([]byte, 0, 4096)} }}

// Evaluate runs the chain on in: active rules in order until one decides,
// then the shadow rules. Each rule gets its own deadline (Limits.Deadline,
// waiting for a free instance included), bounded by ctx. Evaluate never
// panics, is safe for concurrent use and never instantiates a module.
func (c *Chain) Evaluate(ctx context.Context, in *Input) (res *Result) {
	res = &Result{}
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("rules: evaluate panicked", "panic", fmt.Sprint(p))
			res.Decision, res.Rule = nil, ""
		}
	}()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return res
	}
	enc := encPool.Get().(*encoded)
	enc.ok = false
	defer encPool.Put(enc)
	res.Trace = make([]RuleTrace, 0, len(c.all))

	obs := c.opts.Observer
	for _, r := range c.active {
		tr, d := r.evaluate(ctx, in, enc, obs)
		res.Trace = append(res.Trace, tr)
		if (tr.Outcome == OutcomeError || tr.Outcome == OutcomeTimeout) && r.spec.OnError == OnErrorFail {
			res.Err = &RuleError{Rule: r.spec.Name, Outcome: tr.Outcome, Err: errors.New(tr.Error)}
			return res
		}
		if d != nil {
			res.Decision, res.Rule = d, r.label
			break
		}
	}
	for _, r := range c.shadow {
		tr, d := r.evaluate(ctx, in, enc, obs)
		res.Trace = append(res.Trace, tr)
		switch tr.Outcome {
		case OutcomeDecided, OutcomeRejected, OutcomeNoOpinion:
			if res.ShadowAgreement == nil {
				res.ShadowAgreement = make(map[string]bool, len(c.shadow))
			}
			res.ShadowAgreement[r.spec.Name] = agree(res.Decision, d)
		}
	}
	return res
}

// agree reports whether a shadow decision matches the active one.
func agree(active, shadow *Decision) bool {
	switch {
	case active == nil || shadow == nil:
		return active == nil && shadow == nil
	case active.Reject != nil || shadow.Reject != nil:
		return active.Reject != nil && shadow.Reject != nil
	default:
		return active.Targets[0] == shadow.Targets[0]
	}
}

// evaluate runs one rule and reports the outcome to obs (the evaluating
// chain's Observer, may be nil).
func (r *rule) evaluate(ctx context.Context, in *Input, enc *encoded, obs Observer) (RuleTrace, *Decision) {
	tr := RuleTrace{Rule: r.spec.Name, Mode: r.spec.Mode, SHA256: r.sha}
	if r.quarantined.Load() {
		tr.Outcome = OutcomeQuarantined
		tr.Error = "quarantined after repeated failures; reset or reload the rule"
		return tr, nil
	}
	input := enc.input(in, r)
	if in.Trace {
		tr.InputSHA256 = enc.sha256()
	}
	var (
		d    *Decision
		perr error
		raw  json.RawMessage
	)
	start := time.Now()
	outcome, fault, err := r.run(ctx, false, input, func(out []byte) {
		if out == nil {
			return // no opinion
		}
		d, perr = codec.ParseOutput(out, in)
		if perr != nil || in.Trace {
			raw = append(json.RawMessage(nil), out...)
		}
	})
	tr.Duration = time.Since(start)
	if outcome == "" {
		switch {
		case perr != nil:
			outcome, fault, err = OutcomeError, true, perr
		case d == nil:
			outcome = OutcomeNoOpinion
		case d.Reject != nil:
			outcome = OutcomeRejected
		default:
			outcome = OutcomeDecided
		}
	}
	tr.Outcome, tr.Output = outcome, raw
	if err != nil {
		tr.Error = err.Error()
	}
	if obs != nil {
		obs.RuleEvaluated(r.spec.Name, outcome, tr.Duration)
	}
	r.settle(outcome, fault, tr.Error, obs)
	return tr, d
}

// settle counts a failure of the rule's own code (fault), or clears the
// count after a success.
func (r *rule) settle(outcome string, fault bool, reason string, obs Observer) {
	switch {
	case fault:
		r.failed(reason, obs)
	case outcome != OutcomeTimeout && outcome != OutcomeError:
		r.failures.Store(0)
	}
}

// failed counts a failure of the rule's own code and quarantines the rule
// after failAt consecutive ones, reporting it to obs.
func (r *rule) failed(reason string, obs Observer) {
	if r.failAt < 0 {
		return
	}
	if n := r.failures.Add(1); int(n) >= r.failAt && r.quarantined.CompareAndSwap(false, true) {
		r.log.logger.Error("rules: rule quarantined after repeated failures; reset or reload it to bring it back",
			"failures", n, "last_error", reason)
		if q, ok := obs.(QuarantineObserver); ok {
			q.RuleQuarantineChanged(r.spec.Name, true)
		}
	}
}

// run takes an instance, calls sy_route (or sy_validate) with input under
// the rule's deadline and, while it still holds the instance, hands the
// output to use: a view of guest memory, valid only during use, nil when
// the guest returned 0. use is called only when the call succeeded. run
// returns outcome "" then; otherwise OutcomeError or OutcomeTimeout with
// the error. fault reports a failure of the rule itself (not of the
// caller's context or of pool exhaustion).
//
// The deadline is Limits.Deadline, or the caller's context deadline when
// that comes first, waiting for an instance included. A caller's context
// cancelled while the guest runs does not stop it: the rule's deadline
// bounds it.
func (r *rule) run(parent context.Context, validate bool, input []byte, use func(out []byte)) (outcome string, fault bool, err error) {
	if err := parent.Err(); err != nil {
		return OutcomeTimeout, false, fmt.Errorf("not run, the request is over: %w", err)
	}
	budget, parentBound := r.limits.Deadline, false
	if dl, ok := parent.Deadline(); ok {
		if rem := time.Until(dl); rem < budget {
			budget, parentBound = rem, true
		}
	}
	if budget <= 0 {
		return OutcomeTimeout, false, errors.New("not run, the request is over: its deadline passed")
	}
	var inst *instance
	select {
	case inst = <-r.pool:
	default:
		start := time.Now()
		if inst = r.wait(parent, budget); inst == nil {
			return OutcomeTimeout, false, errors.New("no free instance within the deadline")
		}
		if budget -= time.Since(start); budget <= 0 {
			r.pool <- inst
			return OutcomeTimeout, false, errors.New("no free instance within the deadline")
		}
	}

	ctx := parent
	if inst.stop != nil {
		inst.stop.Set(0)
		inst.timer.Reset(budget)
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, budget)
		defer cancel()
	}
	out, callErr := inst.call(ctx, validate, input)
	// Stop reports false once the timer has fired: the stop flag is (or is
	// about to be) set.
	stopped := inst.stop != nil && !inst.timer.Stop()
	if callErr == nil {
		use(out)
	}
	bad, isBad := callErr.(*errBadOutput) // call returns it unwrapped
	blame := !parentBound && parent.Err() == nil
	switch {
	case stopped:
		// Discard the instance, whether or not the guest saw the flag.
		seen := callErr != nil && inst.stopSeen()
		r.discard(inst)
		if seen {
			return OutcomeTimeout, blame, r.stoppedError(parentBound)
		}
		if callErr != nil && !isBad {
			// It trapped on its own as the deadline passed: an error.
			return OutcomeError, true, callErr
		}
		// It returned as the deadline passed: the answer stands.
	case isBad:
		r.pool <- inst
	case callErr != nil:
		// A trap or a timeout leaves the instance unusable: discard it.
		r.discard(inst)
		var exit *sys.ExitError
		if errors.As(callErr, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) {
			return OutcomeTimeout, blame, r.stoppedError(parentBound)
		}
		// Any other error is the rule's own trap, even when the caller's
		// context ended meanwhile: only the deadline's stop is a timeout.
		return OutcomeError, true, callErr
	default:
		r.pool <- inst
	}
	if isBad {
		return OutcomeError, true, bad
	}
	return "", false, nil
}

func (r *rule) stoppedError(parentBound bool) error {
	if parentBound {
		return errors.New("stopped at the request's deadline")
	}
	return fmt.Errorf("stopped at the deadline (%s)", r.limits.Deadline)
}

// wait waits up to budget for a free instance; nil if none came or the
// caller's context ended first.
func (r *rule) wait(parent context.Context, budget time.Duration) *instance {
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case inst := <-r.pool:
		return inst
	case <-t.C:
	case <-parent.Done():
	}
	return nil
}

// errBadOutput marks output errors found by call: the instance survives.
// The instance is kept: its code did not trap, it only answered badly.
type errBadOutput struct{ msg string }

func (e *errBadOutput) Error() string { return e.msg }

// call writes input into the instance's buffer and calls sy_route (or
// sy_validate). It returns a view of the output in guest memory, valid
// until the next call into the instance, or nil for 0. Output that cannot
// be read comes back as an *errBadOutput, which is not a trap.
func (in *instance) call(ctx context.Context, validate bool, input []byte) ([]byte, error) {
	if uint64(len(input)) > uint64(in.bufCap) {
		if err := in.grow(ctx, uint32(len(input))); err != nil {
			return nil, err
		}
	}
	if !in.mem.Write(in.buf, input) {
		return nil, errors.New("sy_alloc buffer outside memory")
	}
	fn := in.route
	if validate {
		fn = in.validate
	}
	in.stack[0], in.stack[1] = api.EncodeU32(in.buf), api.EncodeU32(uint32(len(input)))
	if err := fn.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, err
	}
	res := in.stack[0]
	if res == 0 {
		return nil, nil
	}
	ptr, n := uint32(res>>32), uint32(res)
	if n > maxOutput {
		return nil, &errBadOutput{fmt.Sprintf("output length %d exceeds 64 KiB", n)}
	}
	data, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, &errBadOutput{fmt.Sprintf("output [%d, +%d) lies outside memory (%d bytes)", ptr, n, in.mem.Size())}
	}
	if data == nil {
		data = []byte{} // empty, not "no opinion"
	}
	return data, nil
}

// discard closes a broken instance and refills the pool in the background.
func (r *rule) discard(inst *instance) {
	inst.close()
	// The evaluation runs inside a chain that holds the rule, and
	// Chain.Close waits for it before releasing the rule: the last
	// release's wg.Wait cannot have begun.
	if r.bg.Err() != nil {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		backoff := 10 * time.Millisecond
		for {
			ictx, cancel := context.WithTimeout(r.bg, initTimeout)
			inst, err := r.newInstance(ictx)
			cancel()
			if err == nil {
				r.pool <- inst
				return
			}
			r.log.logger.Warn("rules: refilling the pool failed", "error", err)
			select {
			case <-r.bg.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
}
