// Package app wires Switchyard together: it parses the command line, loads the config,
// starts plugins and rules, serves HTTP, reloads and shuts down. main calls Run.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules"
	"github.com/switchyard-llm/switchyard/host/server"
)

const usage = `usage:
  switchyard --config FILE [--listen ADDR] [--log-level LEVEL] [--pprof ADDR]   serve
  switchyard validate --config FILE           load the config, start the plugins, compile the rules, stop
  switchyard rules test --module M --golden G  run a rule against golden cases (see: switchyard rules)
  switchyard rules replay --module M --config F  re-run recorded rule inputs from the ledger against a new module
  switchyard usage [requests] --config FILE   spend and requests from the ledger (see: switchyard usage -h)
  switchyard --version                        print the version
  switchyard --help                           print this help
`

// Run runs the command line args (without the program name) and returns when done.
func Run(version string, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "validate" {
		return validate(version, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rules" {
		return rulesCommand(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "usage" {
		return usageCommand(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("switchyard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "host/config/default.yaml", "the config `FILE`")
	listen := fs.String("listen", "", "the `ADDR` to listen on, overriding the config's listen")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "the log `LEVEL`: debug, info, warn or error")
	pprofAddr := fs.String("pprof", os.Getenv("SWITCHYARD_PPROF"), "serve net/http/pprof on this loopback `ADDR` (default $SWITCHYARD_PPROF; off when empty)")
	// -h and --help are flags of their own, so asking for help is a success (exit 0, the
	// help on stdout) and not the flag package's ErrHelp.
	help := fs.Bool("help", false, "print this help and exit")
	fs.BoolVar(help, "h", false, "print this help and exit")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage+"\nflags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "h" {
				return // listed with --help
			}
			name, text := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if f.Name == "help" {
				line = "  -h, --help"
			}
			if name != "" {
				line += " " + name
			}
			fmt.Fprintf(w, "%s\n    \t%s", line, text)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	fs.Usage = func() { printUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *help {
		printUsage(stdout)
		return nil
	}
	if *showVersion {
		fmt.Fprintf(stdout, "switchyard %s\n", version)
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usage)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serve(version, *cfgPath, *listen, log)
}

// servePprof serves net/http/pprof on its own listener, which must be a loopback address:
// profiles show request data and cost CPU, so they are never on the public port.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof %q: want a loopback address such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// A diagnostic: serve without it (several routers may share the environment).
		log.Warn("pprof not served", "err", err)
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof serving", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func validate(version string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("switchyard validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "host/config/default.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := metrics.New(prometheus.NewRegistry())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt, _, err := build(ctx, cfg, m, log, version, nil, circuit.NewSet(nil), newPluginRefs())
	if err != nil {
		return err
	}
	defer rt.close()
	fmt.Fprintf(stdout, "%s: ok: %d provider(s) started, %d rule(s) compiled, models: %s\n",
		*cfgPath, len(rt.sups), len(cfg.Rules), strings.Join(rt.pipeline.Catalogue().Names(), ", "))
	// What each catalogue model serves, so a client's 400 unsupported_endpoint_for_model
	// can be explained before it happens.
	for _, t := range rt.pipeline.Catalogue().Targets() {
		fmt.Fprintf(stdout, "  %s (%s): %s\n", t.Name, t.Provider, strings.Join(rt.pipeline.ServesEndpoint(t), ", "))
	}
	return nil
}

// host holds what a serving process swaps on reload.
type host struct {
	version string
	path    string
	log     *slog.Logger
	m       *metrics.Metrics
	srv     *server.Server

	mu sync.Mutex // serializes reloads and shutdown
	// rt is the serving runtime. It is read without mu (readiness, the watcher), so that a
	// reload waiting on a slow plugin start never holds /readyz hostage.
	rt       atomic.Pointer[runtime]
	breakers *circuit.Set
	plugins  *pluginRefs
	gov      *governance

	// draining is set when shutdown starts: /readyz answers 503 from then on.
	draining atomic.Bool
}

func serve(version, cfgPath, listen string, log *slog.Logger) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	h := &host{version: version, path: cfgPath, log: log, m: m, plugins: newPluginRefs()}
	h.breakers = newBreakers(m, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	gctx, gcancel := context.WithTimeout(ctx, time.Minute)
	h.gov, err = startGovernance(gctx, cfg, m, log, h.breakers)
	gcancel()
	if err != nil {
		return err
	}
	// The ledger is flushed last, after the requests in flight have ended and been
	// recorded (and on every error return below).
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.gov.close(fctx, log)
	}()
	rt, _, err := build(ctx, cfg, m, log, version, nil, h.breakers, h.plugins)
	if err != nil {
		return err
	}
	h.rt.Store(rt)
	for _, r := range cfg.Rules {
		m.RuleReloads.WithLabelValues(r.Name, "ok").Inc()
	}
	so := server.Options{
		Metrics: m, Gatherer: reg, Logger: log, Version: version,
		Ready:       h.ready,
		ReadyDetail: h.readyDetail,
		Reload:      h.reload,
		ResetRule:   h.resetRule,
		Quota:       h.gov.quota,
		Cache:       h.gov.cache(),
	}
	if g := h.gov; g.db != nil {
		so.Record, so.Ledger, so.KeyStore, so.Keys = g.record, g.db, g.db, g.registry
	}
	h.srv = server.New(h.state(rt), so)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		rt.close()
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	// Requests' contexts derive from base; at the end of the shutdown grace period it is
	// cancelled with server.ErrShuttingDown, which the server turns into a visible error.
	base, endRequests := context.WithCancelCause(context.Background())
	defer endRequests(nil)
	// ReadTimeout bounds reading the request only: net/http lifts the read deadline once the
	// body has been read to its end (as every handler here does), so it never cuts a long
	// answer or stream (e2e TestReadTimeout).
	hs := &http.Server{Handler: h.srv.Handler(), ReadHeaderTimeout: min(10*time.Second, cfg.Limits.ReadTimeout.D()),
		ReadTimeout: cfg.Limits.ReadTimeout.D(), IdleTimeout: 120 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	log.Info("switchyard serving", "version", version, "addr", ln.Addr().String(), "config", cfg.Path,
		"providers", len(rt.sups), "rules", len(cfg.Rules))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := h.reload(context.Background()); err != nil {
				log.Error("reload refused; the previous configuration keeps serving", "err", err)
			}
		}
	}()

	go h.watch(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		h.rt.Load().close()
		return err
	case <-ctx.Done():
	}
	stop() // a second SIGINT or SIGTERM stops the process at once
	h.draining.Store(true)
	h.mu.Lock() // no reload from here on
	defer h.mu.Unlock()
	limits := h.rt.Load().cfg.Limits
	if d := limits.ShutdownDelay.D(); d > 0 {
		// Load balancers see /readyz at 503 and stop sending; until they have, new
		// requests are still served.
		log.Info("shutting down: /readyz answers 503, serving on for limits.shutdown_delay", "delay", d)
		h.delay(d)
	}
	log.Info("shutting down: refusing new connections, draining requests", "grace", limits.ShutdownGrace.D())
	h.drain(hs, limits.ShutdownGrace.D(), endRequests)
	h.rt.Load().close()
	log.Info("stopped")
	return nil
}

// delay waits d; a second SIGINT or SIGTERM cuts it short.
func (h *host) delay(d time.Duration) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(again)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-again:
		h.log.Warn("second signal: shutdown_delay cut short")
	}
}

// state is what the server serves for rt; once a reload has replaced it and its last
// request or stream has ended, rt is closed.
func (h *host) state(rt *runtime) *server.State {
	st := server.NewState(rt.cfg, rt.pipeline)
	st.OnDrained(func() {
		rt.close()
		h.log.Info("previous configuration released: its last request has ended", "config", rt.cfg.Path)
	})
	return st
}

// drain stops accepting and waits up to grace for the requests in flight; then it ends
// those still running (streams get the in-band shutting_down error) and waits briefly for
// their handlers to write it.
func (h *host) drain(hs *http.Server, grace time.Duration, end context.CancelCauseFunc) {
	gctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if hs.Shutdown(gctx) == nil {
		return
	}
	h.log.Warn("shutdown grace period over: ending the requests still running", "grace", grace)
	end(server.ErrShuttingDown)
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := hs.Shutdown(fctx); err != nil {
		h.log.Warn("requests did not end: closing their connections", "err", err)
		_ = hs.Close()
	}
}

func (h *host) ready() error {
	if h.draining.Load() {
		return errors.New("shutting down")
	}
	err, _ := h.rt.Load().readiness()
	return err
}

func (h *host) readyDetail() any {
	_, detail := h.rt.Load().readiness()
	for k, v := range h.gov.detail() {
		detail[k] = v
	}
	return detail
}

// resetRule lifts a rule's quarantine (POST /admin/rules/{name}/reset).
func (h *host) resetRule(_ context.Context, name string) error {
	rt := h.rt.Load()
	if rt.chain == nil {
		return fmt.Errorf("%w: %q (no rules are configured)", server.ErrUnknownRule, name)
	}
	if err := rt.chain.Reset(name); err != nil {
		if errors.Is(err, rules.ErrUnknownRule) {
			return fmt.Errorf("%w: %q", server.ErrUnknownRule, name)
		}
		return err
	}
	h.log.Info("rule quarantine lifted", "rule", name)
	return nil
}

// reload loads the config again and swaps it in; on any error the running configuration
// keeps serving untouched.
func (h *host) reload(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining.Load() {
		return errors.New("shutting down: reload refused")
	}
	cfg, err := config.Load(h.path)
	if err != nil {
		return err
	}
	if why := h.gov.changed(cfg); why != "" {
		return fmt.Errorf("config %s: %s", cfg.Path, why)
	}
	old := h.rt.Load()
	cfg.Listen = old.cfg.Listen // the listener cannot move
	rt, _, err := build(ctx, cfg, h.m, h.log, h.version, old, h.breakers, h.plugins)
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) {
			h.m.RuleReloads.WithLabelValues(le.Rule, "refused").Inc()
		}
		return err
	}
	for _, r := range cfg.Rules {
		h.m.RuleReloads.WithLabelValues(r.Name, "ok").Inc()
	}
	h.rt.Store(rt)
	// Requests in flight keep the old runtime; it is closed when the last of them ends.
	h.srv.SetState(h.state(rt))
	if rt.chain != nil {
		// Loading reports no quarantine change (a refused candidate must not touch the
		// serving rule's gauge): now that the chain serves, its state is the truth.
		rt.chain.ReportQuarantine()
	}
	h.log.Info("configuration reloaded", "config", cfg.Path)
	return nil
}
