package rule

// RouteFunc is a rule: it reads in and fills d. Leaving d empty means "no
// opinion". It must not keep in, d, or their slices and maps after it
// returns.
type RouteFunc func(in *Input, d *Decision)

// InitFunc receives the rule's config JSON once per instance, before any
// route call. A non-nil error refuses the load. config is valid only
// during the call.
type InitFunc func(config []byte) error

// ValidateFunc judges a provider's answer (sy_validate) by filling v.
// Leaving v empty means accept.
type ValidateFunc func(in *ValidateInput, v *Verdict)

var (
	routeFn    RouteFunc
	initFn     InitFunc
	validateFn ValidateFunc
)

// Route registers the rule's route function. Call it from init() in the
// rule's main package; a rule without one has no opinion on anything.
func Route(fn RouteFunc) { routeFn = fn }

// Init registers the function that reads the rule's config (sy_init).
func Init(fn InitFunc) { initFn = fn }

// ConfigInit returns an InitFunc that parses the config with parse and, when
// that succeeds, stores the result in *dst: rule.Init(rule.ConfigInit(&cfg,
// parseConfig)). A refused config leaves *dst as it was.
func ConfigInit[T any](dst *T, parse func([]byte) (T, error)) InitFunc {
	return func(data []byte) error {
		v, err := parse(data)
		if err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

// Validate registers the function that judges answers (sy_validate). A rule
// module exports sy_validate only when it imports sdk/rule/validator: use
// validator.Register, which calls this.
func Validate(fn ValidateFunc) { validateFn = fn }

// Runner turns ABI input bytes into ABI output bytes with a route function,
// reusing its Input, Decision and output buffer between calls. It is what
// the Wasm exports call, and lets a rule be tested natively. A Runner is not
// safe for concurrent use.
type Runner struct {
	in  Input
	d   Decision
	vin ValidateInput
	v   Verdict
	out []byte
}

// Route decodes input, calls fn and returns the decision JSON, or nil for
// no opinion. An input that does not decode, a panic in fn, a decision fn
// made with Decision.Fail and a decision over MaxOutput yield an error output
// ({"error":"..."}), which the host counts as a rule error. The result is
// valid until the next call.
func (r *Runner) Route(fn RouteFunc, input []byte) (out []byte) {
	if fn == nil {
		return nil
	}
	if err := ReadInput(input, &r.in); err != nil {
		return r.errorOutput(err.Error())
	}
	r.d.Reset()
	defer func() {
		if p := recover(); p != nil {
			out = r.errorOutput("panic: " + panicText(p))
		}
	}()
	fn(&r.in, &r.d)
	if r.d.failure != "" {
		return r.errorOutput(r.d.failure)
	}
	if r.d.NoOpinion() {
		return nil
	}
	r.out = r.d.AppendJSON(r.out[:0])
	if len(r.out) > MaxOutput {
		return r.errorOutput("decision larger than 64 KiB")
	}
	return r.out
}

// Validate decodes a sy_validate input, calls fn and returns the verdict
// JSON, or nil for accept; errors are reported like Route's.
func (r *Runner) Validate(fn ValidateFunc, input []byte) (out []byte) {
	if fn == nil {
		return nil
	}
	if err := ReadValidateInput(input, &r.vin); err != nil {
		return r.errorOutput(err.Error())
	}
	r.v = Verdict{}
	defer func() {
		if p := recover(); p != nil {
			out = r.errorOutput("panic: " + panicText(p))
		}
	}()
	fn(&r.vin, &r.v)
	if r.v.Verdict == "" || r.v.Verdict == "accept" && r.v.Reason == "" {
		return nil
	}
	r.out = r.v.AppendJSON(r.out[:0])
	return r.out
}

// Init calls fn with config; a missing fn accepts any config.
func (r *Runner) Init(fn InitFunc, config []byte) error {
	if fn == nil {
		return nil
	}
	return fn(config)
}

func (r *Runner) errorOutput(msg string) []byte {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	r.out = append(r.out[:0], `{"error":`...)
	r.out = AppendString(r.out, msg)
	r.out = append(r.out, '}')
	return r.out
}

func panicText(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	default:
		return "non-error value"
	}
}
