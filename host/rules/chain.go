package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// initTimeout bounds instantiation plus sy_init of one instance.
const initTimeout = 10 * time.Second

// Chain is a loaded, ready rule chain. Evaluate and Rules are safe for
// concurrent use. Close waits for running evaluations; evaluations started
// after Close find no rules and decide nothing.
type Chain struct {
	active     []*rule
	shadow     []*rule
	all        []*rule
	validators []*rule // active rules that export sy_validate, in order
	cache      wazero.CompilationCache
	opts       Options
	logger     *slog.Logger

	mu     sync.RWMutex // held for reading by evaluations, for writing by Close
	closed bool
	bg     context.Context // refills
	stop   context.CancelFunc
	wg     sync.WaitGroup // refills in flight
}

// rule is one loaded rule: a Runtime of its own, the compiled module and a
// pool of ready instances.
type rule struct {
	chain   *Chain
	spec    Spec
	limits  Limits
	sha     string
	label   string // name@sha[:12]
	config  []byte
	headers []string
	hdrKey  string
	failAt  int

	rt           wazero.Runtime
	compiled     wazero.CompiledModule
	instrumented bool // the module checks a stop flag (instrument.go)
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
// nothing stays open, and the message names the rule, its file and the
// problem: "rules/<name>: <path>: <problem>". ctx bounds loading only.
// The caller must Close the chain.
func Load(ctx context.Context, specs []Spec, opts Options) (*Chain, error) {
	c := &Chain{opts: opts, logger: opts.Logger}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("rules: compilation cache %s: %w", opts.CacheDir, err)
		}
		c.cache = cache
	} else {
		c.cache = wazero.NewCompilationCache()
	}
	c.bg, c.stop = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for _, s := range specs {
		r, err := c.loadRule(ctx, s, seen)
		if err != nil {
			_ = c.Close(ctx)
			return nil, &LoadError{Rule: s.Name, Path: s.Path, Err: err}
		}
		c.all = append(c.all, r)
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

func (c *Chain) loadRule(ctx context.Context, s Spec, seen map[string]bool) (*rule, error) {
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
	r := &rule{chain: c, spec: s, limits: s.Limits.withDefaults(), config: s.Config}
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
	r.label = s.Name + "@" + sum[:12]
	r.seed = sha256.Sum256(wasm)
	if err := compileRule(ctx, r, wasm, c.cache); err != nil {
		return nil, err
	}
	r.pool = make(chan *instance, r.limits.Pool)
	for range r.limits.Pool {
		ictx, cancel := context.WithTimeout(ctx, initTimeout)
		inst, err := r.newInstance(ictx)
		cancel()
		if err != nil {
			_ = r.rt.Close(ctx)
			return nil, err
		}
		r.pool <- inst
	}
	return r, nil
}

// Rules describes the loaded rules in configured order.
func (c *Chain) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(c.all))
	for _, r := range c.all {
		out = append(out, RuleInfo{Name: r.spec.Name, Mode: r.spec.Mode, SHA256: r.sha, Path: r.spec.Path, Quarantined: r.quarantined.Load()})
	}
	return out
}

// Close waits for running evaluations and background refills, then closes
// every instance, runtime and the compilation cache. It is idempotent.
func (c *Chain) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
	var errs []error
	for _, r := range c.all {
		if err := r.rt.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("rules/%s: close: %w", r.spec.Name, err))
		}
	}
	if err := c.cache.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("rules: close compilation cache: %w", err))
	}
	return errors.Join(errs...)
}

// encoded is one encoding of an input, shared by consecutive rules that
// see the same headers. The pool keeps its buffer between evaluations.
type encoded struct {
	key  string
	data []byte
	sum  string // hex sha256 of data, "" until asked for
	ok   bool
}

// input returns the sy_route input of in as r sees it.
func (e *encoded) input(in *Input, r *rule) []byte {
	if !e.ok || e.key != r.hdrKey {
		e.data = appendInput(e.data[:0], in, r.headers)
		e.key, e.sum, e.ok = r.hdrKey, "", true
	}
	return e.data
}

// validateInput returns the sy_validate input of in as r sees it.
func (e *encoded) validateInput(in *ValidateInput, r *rule) []byte {
	if !e.ok || e.key != r.hdrKey {
		e.data = appendValidateInput(e.data[:0], in, r.headers)
		e.key, e.sum, e.ok = r.hdrKey, "", true
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

	for _, r := range c.active {
		tr, d := r.evaluate(ctx, in, enc)
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
		tr, d := r.evaluate(ctx, in, enc)
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

// evaluate runs one rule and reports the outcome to the observer.
func (r *rule) evaluate(ctx context.Context, in *Input, enc *encoded) (RuleTrace, *Decision) {
	tr := RuleTrace{Rule: r.spec.Name, Mode: r.spec.Mode, SHA256: r.sha}
	if r.quarantined.Load() {
		tr.Outcome = OutcomeQuarantined
		tr.Error = "quarantined after repeated failures; reload the rule"
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
		d, perr = parseOutput(out, in)
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
	if obs := r.chain.opts.Observer; obs != nil {
		obs.RuleEvaluated(r.spec.Name, outcome, tr.Duration)
	}
	r.settle(outcome, fault, tr.Error)
	return tr, d
}

// settle counts a failure of the rule's own code (fault), or clears the
// count after a success.
func (r *rule) settle(outcome string, fault bool, reason string) {
	switch {
	case fault:
		r.failed(reason)
	case outcome != OutcomeTimeout && outcome != OutcomeError:
		r.failures.Store(0)
	}
}

// failed counts a failure of the rule's own code and quarantines the rule
// after failAt consecutive ones.
func (r *rule) failed(reason string) {
	if r.failAt < 0 {
		return
	}
	if n := r.failures.Add(1); int(n) >= r.failAt && r.quarantined.CompareAndSwap(false, true) {
		r.log.logger.Error("rules: rule quarantined after repeated failures; reload it to bring it back",
			"failures", n, "last_error", reason)
		if q, ok := r.chain.opts.Observer.(QuarantineObserver); ok {
			q.RuleQuarantined(r.spec.Name)
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
		r.discard(inst)
		if callErr != nil && !isBad {
			return OutcomeTimeout, blame, r.stoppedError(parentBound)
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
		if parent.Err() != nil {
			return OutcomeTimeout, false, callErr
		}
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
	c := r.chain
	// The evaluation holds c.mu for reading, so Close cannot be between
	// its check of closed and its wg.Wait here.
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		backoff := 10 * time.Millisecond
		for {
			ictx, cancel := context.WithTimeout(c.bg, initTimeout)
			inst, err := r.newInstance(ictx)
			cancel()
			if err == nil {
				r.pool <- inst
				return
			}
			r.log.logger.Warn("rules: refilling the pool failed", "error", err)
			select {
			case <-c.bg.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
}
