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
  switchyard --config FILE [--listen ADDR] [--pprof ADDR]   serve
  switchyard validate --config FILE           load the config, start the plugins, compile the rules, stop
  switchyard rules test --module M --golden G  run a rule against golden cases (see: switchyard rules)
  switchyard --version                        print the version
`

// Run runs the command line args (without the program name) and returns when done.
func Run(version string, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "validate" {
		return validate(version, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rules" {
		return rulesCommand(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("switchyard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	cfgPath := fs.String("config", "host/config/default.yaml", "config file")
	listen := fs.String("listen", "", "listen address, overrides the config's listen")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	pprofAddr := fs.String("pprof", os.Getenv("SWITCHYARD_PPROF"), "serve net/http/pprof on this loopback address (default $SWITCHYARD_PPROF; off when empty)")
	if err := fs.Parse(args); err != nil {
		return err
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
	rt, _, err := build(ctx, cfg, m, log, version, nil, circuit.NewSet(nil))
	if err != nil {
		return err
	}
	defer rt.close(nil)
	fmt.Fprintf(stdout, "%s: ok: %d provider(s) started, %d rule(s) compiled, models: %s\n",
		*cfgPath, len(rt.sups), len(cfg.Rules), strings.Join(rt.pipeline.Catalogue().Names(), ", "))
	return nil
}

// host holds what a serving process swaps on reload.
type host struct {
	version string
	path    string
	log     *slog.Logger
	m       *metrics.Metrics
	srv     *server.Server

	mu       sync.Mutex // serializes reloads
	rt       *runtime
	breakers *circuit.Set

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
	h := &host{version: version, path: cfgPath, log: log, m: m}
	h.breakers = newBreakers(m, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rt, _, err := build(ctx, cfg, m, log, version, nil, h.breakers)
	if err != nil {
		return err
	}
	h.rt = rt
	for _, r := range cfg.Rules {
		m.RuleReloads.WithLabelValues(r.Name, "ok").Inc()
	}
	h.srv = server.New(server.NewState(cfg, rt.pipeline), server.Options{
		Metrics: m, Gatherer: reg, Logger: log, Version: version,
		Ready:  h.ready,
		Reload: h.reload,
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		h.rt.close(nil)
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
		h.rt.close(nil)
		return err
	case <-ctx.Done():
	}
	stop() // a second SIGINT or SIGTERM stops the process at once
	h.draining.Store(true)
	h.mu.Lock()
	grace := h.rt.cfg.Limits.ShutdownGrace.D()
	h.mu.Unlock()
	log.Info("shutting down: refusing new connections, draining requests", "grace", grace)
	h.drain(hs, grace, endRequests)
	h.mu.Lock()
	h.rt.close(nil)
	h.mu.Unlock()
	log.Info("stopped")
	return nil
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
	h.mu.Lock()
	rt := h.rt
	h.mu.Unlock()
	return rt.ready()
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
	cfg.Listen = h.rt.cfg.Listen // the listener cannot move
	rt, _, err := build(ctx, cfg, h.m, h.log, h.version, h.rt, h.breakers)
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
	old := h.rt
	h.rt = rt
	h.srv.SetState(server.NewState(cfg, rt.pipeline))
	h.log.Info("configuration reloaded", "config", cfg.Path)
	// Requests in flight keep the old pipeline; close its parts once they are done.
	go func() {
		time.Sleep(cfg.Timeouts.Total.D() + time.Second)
		old.close(rt.sups)
	}()
	return nil
}
