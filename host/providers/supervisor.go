// Package providers runs provider plugins as supervised subprocesses: it starts each
// plugin binary through go-plugin, hands it its configuration, watches it with health
// checks and restarts it with backoff when it crashes or hangs. See README.md.
package providers

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/pluginhost"
)

// ErrPluginDown is wrapped in the errors of Complete and Stream when no plugin process
// could be asked (it is down and being restarted, or the Supervisor is closed) or when
// the plugin itself failed mid-request: it crashed, hung up, broke the protocol or
// answered with a gRPC status instead of an in-band *provider.Error. The pipeline falls
// back on it; the request may be retried on this provider once Up reports true again.
var ErrPluginDown = errors.New("plugin down")

// Spec says which plugin to run and how to configure it.
type Spec struct {
	// Name is the provider's name from the config: log prefix, error prefix, metric label.
	Name string
	// Path is the absolute path of the plugin binary.
	Path string
	// SHA256, when set (64 hex digits), refuses to start a binary with another digest.
	// It is checked before every start, restarts included.
	SHA256 string
	// Settings is handed to the plugin's Configure as is.
	Settings json.RawMessage
	// Secrets are handed to the plugin's Configure. They are never logged nor put in an
	// error; text that leaves this package (errors, log lines, stderr tails) has every
	// secret value of four bytes or more replaced by "[redacted]".
	Secrets map[string]string
	// Env names the variables of the host's environment the plugin gets, beyond PATH, HOME
	// and TMPDIR (when set) and go-plugin's own. Nothing else of the host's environment
	// reaches the plugin. Values are read at every start; a named variable that is not set
	// is left out.
	Env []string
}

// Observer receives a plugin's state changes; the host wires it to Prometheus
// (switchyard_plugin_up, switchyard_plugin_healthy, switchyard_plugin_restarts_total).
// Calls come from the supervisor's goroutines, never concurrently for one plugin, and must
// not block.
type Observer interface {
	// PluginUp is called with true once a plugin process is configured and serving, and
	// with false when it is found dead or hung and when the supervisor is closed. Up says
	// the process lives and answers; it says nothing of the upstream (see PluginHealthy).
	PluginUp(name string, up bool)
	// PluginHealthy is called whenever Supervisor.Healthy changes, and once when the
	// plugin first comes up: true while the plugin is up and its last health check
	// answered ok; false when it answered "not ok" (an upstream probe failed, say) and
	// whenever the plugin is down.
	PluginHealthy(name string, healthy bool)
	// PluginRestarted is called each time a replacement process is launched, before it is
	// known whether it starts; a crash loop thus shows as a rising count.
	PluginRestarted(name string)
}

// Options tunes supervision. Zero values take the defaults.
type Options struct {
	// Logger receives the supervisor's log lines (with provider=<Name>) and go-plugin's
	// (at debug). Default: slog.Default().
	Logger *slog.Logger
	// Observer is told of state changes; may be nil.
	Observer Observer
	// HostVersion is handed to Configure.
	HostVersion string
	// StartTimeout bounds the handshake of a starting plugin, and separately GetInfo and
	// Configure together. Default 10s.
	StartTimeout time.Duration
	// HealthInterval is the time between health checks. Default 5s.
	HealthInterval time.Duration
	// HealthTimeout is the time a plugin has to answer a health check; a later answer is
	// logged but still counts. A plugin that has not answered after three times that, and
	// sent nothing back on its calls (answers, stream chunks) since the previous check, is
	// considered hung and is restarted; a busy plugin that is still answering calls is not.
	// Default 2s.
	HealthTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay before a restart: exponential from
	// BackoffMin, capped at BackoffMax, with full jitter. Defaults 100ms and 30s.
	BackoffMin, BackoffMax time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 5 * time.Second
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 2 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
}

// hungAfter is how many HealthTimeouts a health check waits for an answer at most; a
// plugin silent for that long, with no call progressing, is hung.
const hungAfter = 3

// exitPollInterval is how often an idle plugin's process is checked for an exit between
// health checks; the check is an atomic load.
const exitPollInterval = 25 * time.Millisecond

// Supervisor runs one provider plugin and keeps it running. Complete, Stream, Info, Up,
// Healthy, HealthDetail and PID may be called concurrently from any number of goroutines;
// Close may be called at any time, also concurrently, and more than once.
type Supervisor struct {
	spec   Spec
	opts   Options
	log    *slog.Logger
	redact redactor
	obs    Observer

	// cur is the serving instance, nil while the plugin is down. Only the supervisor's own
	// goroutine (and Close, after that goroutine ended) replaces it.
	cur  atomic.Pointer[instance]
	info atomic.Pointer[provider.Info]
	// health is what the last health check of the serving instance said (ok until its
	// first check), or why the plugin is down. Set before Start returns.
	health atomic.Pointer[healthState]
	// reported is the health last told to the Observer; nil before the first report. Only
	// the goroutine that owns the state changes (Start, run, then Close) uses it.
	reported *bool

	kick   chan struct{} // asks for an immediate check of cur; capacity 1
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor's goroutine has returned

	closeOnce sync.Once
	closed    atomic.Bool
}

// Start launches the plugin, checks that it speaks provider protocol v1, asks for its
// Info and configures it, then supervises it until Close. The returned Supervisor is up.
//
// ctx bounds this first launch only (cancelling it kills the starting plugin); the
// supervision that follows lasts until Close. An error names the provider, the binary and
// the problem and, when the plugin failed to start, quotes the tail of its stderr. No
// process is left running when Start returns an error.
func Start(ctx context.Context, spec Spec, opts Options) (*Supervisor, error) {
	opts.defaults()
	if spec.Name == "" {
		return nil, errors.New("providers: spec has no name")
	}
	if !filepath.IsAbs(spec.Path) {
		return nil, fmt.Errorf("providers/%s: plugin path %q is not absolute", spec.Name, spec.Path)
	}
	if spec.SHA256 != "" {
		if b, err := hex.DecodeString(spec.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("providers/%s: sha256 %q is not 64 hex digits", spec.Name, spec.SHA256)
		}
	}
	s := &Supervisor{
		spec:   spec,
		opts:   opts,
		log:    opts.Logger.With("provider", spec.Name),
		redact: newRedactor(spec.Secrets),
		obs:    opts.Observer,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	in, err := s.launch(ctx)
	if err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.setUp(in)
	go s.run()
	s.requestCheck() // the first health check comes at once, not an interval later
	return s, nil
}

// Name returns the provider's name from the Spec.
func (s *Supervisor) Name() string { return s.spec.Name }

// Info returns what the plugin said in GetInfo when it last started.
func (s *Supervisor) Info() provider.Info { return *s.info.Load() }

// Up reports whether a configured plugin process is serving right now.
func (s *Supervisor) Up() bool { return s.cur.Load() != nil }

// healthState is a plugin's health as the supervisor last saw it.
type healthState struct {
	ok     bool
	detail string // why not ok; already redacted
}

// Healthy reports whether the plugin is up and its last health check answered ok (before
// the first check of a process: that it started and was configured). A check that missed
// its deadline while the plugin kept answering calls leaves it as it was.
func (s *Supervisor) Healthy() bool {
	h := s.health.Load()
	return s.Up() && h != nil && h.ok
}

// HealthDetail says why the plugin is not healthy: what its health check answered, or
// why it is down. It is "" when Healthy is true, and never holds a secret.
func (s *Supervisor) HealthDetail() string {
	h := s.health.Load()
	switch {
	case h == nil:
		return "plugin not started"
	case h.ok && s.Up():
		return ""
	case h.ok: // between the swap of cur and the store of the new state
		return "plugin down"
	}
	return h.detail
}

// setHealth records the plugin's health and tells the Observer when it changed.
func (s *Supervisor) setHealth(ok bool, detail string) {
	s.health.Store(&healthState{ok: ok, detail: detail})
	if s.reported == nil || *s.reported != ok {
		s.reported = &ok
		s.obs.PluginHealthy(s.spec.Name, ok)
	}
}

// PID returns the serving plugin's process id, 0 while it is down.
func (s *Supervisor) PID() int {
	if in := s.cur.Load(); in != nil {
		return in.pid
	}
	return 0
}

// Complete asks the plugin for a whole answer.
//
// An upstream failure the plugin reported comes back untouched as a *provider.Error
// (including the cancelled or upstream_timeout error the SDK returns when ctx ends). When
// the plugin is down the call fails at once; when the plugin fails during the call
// (crash, broken connection, protocol error) the call fails fast and a health check is
// started at once. Both errors wrap ErrPluginDown.
func (s *Supervisor) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	in := s.cur.Load()
	if in == nil {
		return nil, s.downError()
	}
	resp, err := in.prov.Complete(ctx, req)
	in.answered(ctx, err)
	if err != nil {
		return nil, s.callError(err)
	}
	return resp, nil
}

// Stream asks the plugin for a streamed answer and forwards its deltas to out, in order,
// from the calling goroutine. Errors are as for Complete; the SDK marks a
// *provider.Error with OutputStarted when deltas went out before it. A transport failure
// after deltas went out still wraps ErrPluginDown; the caller knows whether it sent
// anything.
func (s *Supervisor) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	in := s.cur.Load()
	if in == nil {
		return nil, s.downError()
	}
	usage, err := in.prov.Stream(ctx, req, &progressSender{out: out, progress: &in.progress})
	in.answered(ctx, err)
	if err != nil {
		return usage, s.callError(err)
	}
	return usage, nil
}

// Embed asks the plugin for embeddings. Errors are as for Complete; a plugin from before
// protocol v1.1 answers an unsupported *provider.Error.
func (s *Supervisor) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	in := s.cur.Load()
	if in == nil {
		return nil, s.downError()
	}
	e, ok := in.prov.(provider.Embedder)
	if !ok {
		return nil, provider.NewError(provider.KindUnsupported, "the plugin does not serve embeddings")
	}
	resp, err := e.Embed(ctx, req)
	in.answered(ctx, err)
	if err != nil {
		return nil, s.callError(err)
	}
	return resp, nil
}

// progressSender counts the chunks a plugin streams, as progress of its instance.
type progressSender struct {
	out      provider.ChunkSender
	progress *atomic.Uint64
}

func (p *progressSender) Send(c *provider.Chunk) error {
	p.progress.Add(1)
	return p.out.Send(c)
}

func (s *Supervisor) downError() error {
	if s.closed.Load() {
		return fmt.Errorf("providers/%s: %w (closed)", s.spec.Name, ErrPluginDown)
	}
	return fmt.Errorf("providers/%s: %w (restarting)", s.spec.Name, ErrPluginDown)
}

// callError passes in-band errors through and turns transport failures into ErrPluginDown,
// asking for an immediate check of the plugin.
func (s *Supervisor) callError(err error) error {
	if !pluginhost.IsTransportError(err) {
		return err
	}
	s.requestCheck()
	return fmt.Errorf("providers/%s: %w: %s", s.spec.Name, ErrPluginDown, s.redact.String(err.Error()))
}

// requestCheck asks the supervisor's goroutine to check the plugin now. It never blocks.
func (s *Supervisor) requestCheck() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close stops supervision and ends the plugin process: it is asked to shut down, which
// lets calls in flight finish for up to 2 s, then its process group is killed (after 3 s
// at most, even if the plugin does not answer). Calls made after Close fail with
// ErrPluginDown. Close waits until the process is gone and is idempotent; it always
// returns nil.
func (s *Supervisor) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		<-s.done
		if in := s.cur.Swap(nil); in != nil {
			s.obs.PluginUp(s.spec.Name, false)
			s.setHealth(false, "plugin closed")
			in.kill(true)
		}
		s.log.Debug("plugin stopped")
	})
	return nil
}

func (s *Supervisor) setUp(in *instance) {
	info := in.info
	s.info.Store(&info)
	s.health.Store(&healthState{ok: true})
	s.cur.Store(in)
	s.obs.PluginUp(s.spec.Name, true)
	s.setHealth(true, "")
}

// run is the supervisor's goroutine: it watches the serving instance and, when it is
// found dead or hung, kills it and launches replacements with backoff until one serves.
func (s *Supervisor) run() {
	defer close(s.done)
	health := time.NewTicker(s.opts.HealthInterval)
	defer health.Stop()
	exitPoll := time.NewTicker(exitPollInterval)
	defer exitPoll.Stop()
	attempt := 0

	for {
		in := s.cur.Load()
		if in == nil {
			if !s.sleep(s.backoff(attempt)) {
				return
			}
			attempt++
			s.obs.PluginRestarted(s.spec.Name)
			next, err := s.launch(s.ctx)
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.log.Warn("plugin restart failed", "attempt", attempt, "error", err.Error())
				continue
			}
			s.setUp(next)
			s.log.Info("plugin restarted", "pid", next.pid, "attempt", attempt)
			select { // a check asked for on the dead instance is moot
			case <-s.kick:
			default:
			}
			s.requestCheck() // the new instance's first check
			continue
		}

		var reason string
		select {
		case <-s.ctx.Done():
			return
		case <-exitPoll.C:
			if !in.exited() {
				continue
			}
			reason = "process exited"
		case <-health.C:
			reason = s.check(in)
		case <-s.kick:
			reason = s.check(in)
		}
		if reason == "" {
			continue
		}
		if time.Since(in.started) >= s.stableAfter() {
			attempt = 0
		}
		s.down(in, reason)
	}
}

// check returns why the instance must be replaced, or "" when it is fine, and records
// what the plugin's health check answered.
//
// A plugin that answers CheckHealth in-band with "not ok" is alive: it stays up, marked
// unhealthy (restarting it would not fix its upstream). One that has exited or fails at
// the transport level is replaced. HealthTimeout is the time a plugin has to answer; a
// later answer is still an answer (a busy or CPU-starved plugin is slow, not dead) and is
// only logged. A plugin that has not answered after hungAfter×HealthTimeout is hung, but
// only if it also sent nothing back on its calls since the previous check: a plugin whose
// answers and chunks keep flowing is left alone.
func (s *Supervisor) check(in *instance) string {
	if in.exited() {
		return "process exited"
	}
	began := time.Now()
	bound := hungAfter * s.opts.HealthTimeout
	ctx, cancel := context.WithDeadline(s.ctx, began.Add(bound))
	defer cancel()
	err := in.health.CheckHealth(ctx)
	now := time.Now()
	progress := in.progress.Load()
	progressed := progress != in.checked
	in.checked = progress
	// The deadline travels to the plugin, whose side may end the call a moment first.
	missed := ctx.Err() != nil || grpcCode(err) == codes.DeadlineExceeded || now.Sub(began) >= bound
	switch {
	case s.ctx.Err() != nil:
		return "" // closing
	case in.exited():
		return "process exited"
	case missed && progressed:
		s.log.Warn("plugin did not answer its health check but is answering calls; not restarting it",
			"waited", bound.String())
		return ""
	case missed:
		return fmt.Sprintf("health check got no answer within %s, and no call progressed since the previous check (hung)", bound)
	case pluginhost.IsTransportError(err):
		return "health check failed: " + s.redact.String(err.Error())
	}
	if took := now.Sub(began); took > s.opts.HealthTimeout {
		s.log.Warn("plugin answered its health check late; it is busy or starved of CPU",
			"took", took.Round(time.Millisecond).String(), "health_timeout", s.opts.HealthTimeout.String())
	}
	if err == nil {
		s.setHealth(true, "")
		return ""
	}
	detail := err.Error()
	var pe *provider.Error
	if errors.As(err, &pe) {
		detail = pe.Message
	}
	detail = "plugin reports not ok: " + s.redact.String(detail)
	if h := s.health.Load(); h == nil || h.ok || h.detail != detail {
		s.log.Warn("plugin unhealthy", "detail", detail)
	}
	s.setHealth(false, detail)
	return ""
}

// down takes a dead or hung instance out of service, kills it and logs why, quoting the
// end of its stderr.
func (s *Supervisor) down(in *instance, reason string) {
	s.cur.CompareAndSwap(in, nil)
	s.obs.PluginUp(s.spec.Name, false)
	s.setHealth(false, "plugin down, restarting: "+reason)
	in.kill(false)
	attrs := []any{"pid", in.pid, "reason", reason, "up_for", time.Since(in.started).Round(time.Millisecond).String()}
	if st := in.proc.cmd.ProcessState; st != nil {
		attrs = append(attrs, "exit", st.String())
	}
	attrs = append(attrs, "stderr_tail", s.redact.String(in.stderr.String()))
	s.log.Warn("plugin down, restarting", attrs...)
}

// stableAfter is how long an instance must have served for its death to reset the
// restart backoff.
func (s *Supervisor) stableAfter() time.Duration {
	return max(2*s.opts.BackoffMax, 10*s.opts.HealthInterval)
}

// backoff returns the delay before restart attempt n (0-based): uniformly random in
// [0, min(BackoffMax, BackoffMin·2ⁿ)] ("full jitter").
func (s *Supervisor) backoff(n int) time.Duration {
	ceil := s.opts.BackoffMax
	if n < 32 {
		if d := s.opts.BackoffMin << n; d > 0 && d < ceil {
			ceil = d
		}
	}
	return rand.N(ceil + 1)
}

// sleep waits d, returning false if the supervisor was closed meanwhile.
func (s *Supervisor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// grpcCode returns the code of the gRPC status err wraps, codes.OK when there is none.
func grpcCode(err error) codes.Code {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	return codes.OK
}

type nopObserver struct{}

func (nopObserver) PluginUp(string, bool)      {}
func (nopObserver) PluginHealthy(string, bool) {}
func (nopObserver) PluginRestarted(string)     {}

var _ Observer = nopObserver{}
var _ provider.ChunkSender = (*progressSender)(nil)
