package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/providers"
	"github.com/switchyard-llm/switchyard/host/rules"
)

// runtime is everything one loaded configuration runs: plugin supervisors, the rule chain
// and the pipeline over them. A reload swaps a new runtime in at once; the old one is closed
// when its last request or stream has ended (server.State.OnDrained), not on a timer.
type runtime struct {
	cfg      *config.File
	sups     map[string]*providers.Supervisor
	plugins  *pluginRefs
	chain    *rules.Chain
	pipeline *pipeline.Pipeline
	closeOne sync.Once
}

// pluginRefs counts the runtimes that use each plugin supervisor: a reload reuses the
// supervisors of unchanged providers, and a draining runtime must not stop one that a newer
// runtime still uses.
type pluginRefs struct {
	mu   sync.Mutex
	refs map[*providers.Supervisor]int
}

func newPluginRefs() *pluginRefs { return &pluginRefs{refs: map[*providers.Supervisor]int{}} }

func (p *pluginRefs) hold(s *providers.Supervisor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs[s]++
}

// drop releases one runtime's use of s and stops it when no runtime uses it any more.
func (p *pluginRefs) drop(s *providers.Supervisor) {
	p.mu.Lock()
	p.refs[s]--
	last := p.refs[s] <= 0
	if last {
		delete(p.refs, s)
	}
	p.mu.Unlock()
	if last {
		_ = s.Close()
	}
}

// pluginObserver adapts the metrics to providers.Observer.
type pluginObserver struct{ m *metrics.Metrics }

func (o pluginObserver) PluginUp(name string, up bool) { o.m.PluginUpChanged(name, up) }
func (o pluginObserver) PluginRestarted(name string)   { o.m.PluginRestarted(name) }
func (o pluginObserver) PluginHealthy(name string, healthy bool) {
	o.m.PluginHealthChanged(name, healthy)
}

var _ providers.Observer = pluginObserver{}
var _ rules.Observer = (*metrics.Metrics)(nil)
var _ rules.QuarantineObserver = (*metrics.Metrics)(nil)
var _ pipeline.Dispatcher = (*providers.Supervisor)(nil)
var _ pipeline.Health = (*providers.Supervisor)(nil)
var _ pipeline.HealthReporter = (*providers.Supervisor)(nil)
var _ pipeline.Describer = (*providers.Supervisor)(nil)
var _ pipeline.RuleLister = (*rules.Chain)(nil)
var _ pipeline.AnswerValidator = (*rules.Chain)(nil)
var _ pipeline.RuleEvaluator = (*rules.Chain)(nil)

// build starts what cfg needs. Supervisors of prev whose spec did not change are reused
// (reused reports which); on error everything started here is stopped again.
func build(ctx context.Context, cfg *config.File, m *metrics.Metrics, log *slog.Logger, version string, prev *runtime, breakers *circuit.Set, plugins *pluginRefs) (rt *runtime, reused map[string]bool, err error) {
	rt = &runtime{cfg: cfg, sups: map[string]*providers.Supervisor{}, plugins: plugins}
	reused = map[string]bool{}
	defer func() {
		if err != nil {
			rt.close() // drops what it holds: new plugins stop, reused ones keep serving prev
		}
	}()

	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, p := range cfg.EnabledProviders() {
		spec := providers.Spec{Name: p.Name, Path: p.Plugin, SHA256: p.SHA256, Settings: p.SettingsJSON(), Secrets: p.Secrets, Env: p.Env}
		if prev != nil && prev.sups[p.Name] != nil && sameProvider(prev.cfg, cfg, p.Name) {
			rt.sups[p.Name] = prev.sups[p.Name]
			plugins.hold(rt.sups[p.Name])
			reused[p.Name] = true
			continue
		}
		opts := providers.Options{Logger: log, Observer: pluginObserver{m}, HostVersion: version,
			StartTimeout: cfg.Plugins.StartTimeout.D(), HealthInterval: cfg.Plugins.HealthInterval.D(),
			HealthTimeout: cfg.Plugins.HealthTimeout.D()}
		wg.Add(1)
		go func() { // plugins start in parallel
			defer wg.Done()
			s, err := providers.Start(ctx, spec, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", cfg.Path, err))
				return
			}
			rt.sups[p.Name] = s
			plugins.hold(s)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return rt, reused, err
	}

	var specs []rules.Spec
	var headers []string
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		specs = append(specs, ruleSpec(r))
		for _, h := range r.Headers {
			if !seen[h] {
				seen[h] = true
				headers = append(headers, h)
			}
		}
	}
	var evaluator pipeline.RuleEvaluator
	if len(specs) > 0 {
		opts := rules.Options{CacheDir: cacheDir(), Logger: log, Observer: m}
		if prev != nil {
			// Rules whose module and settings did not change keep their compiled module and
			// instance pool.
			opts.Previous = prev.chain
		}
		chain, err := rules.Load(ctx, specs, opts)
		if err != nil {
			return rt, reused, fmt.Errorf("config %s: %w", cfg.Path, err)
		}
		rt.chain = chain
		evaluator = chain
		if err := checkGolden(ctx, cfg, specs, opts); err != nil {
			return rt, reused, fmt.Errorf("config %s: %w", cfg.Path, err)
		}
	}
	dispatchers := make(map[string]pipeline.Dispatcher, len(rt.sups))
	for name, s := range rt.sups {
		dispatchers[name] = s
	}
	cat := pipeline.NewCatalogue(cfg)
	breakers.Configure(pipeline.PolicyFromConfig(cfg).Circuit)
	rt.pipeline = pipeline.New(pipeline.Options{Policy: pipeline.PolicyFromConfig(cfg), Catalogue: cat, Dispatchers: dispatchers,
		Rules: evaluator, RuleHeaders: headers, Metrics: m, Logger: log, Breakers: breakers})
	m.Prime(labels(cfg, cat))
	for name, s := range rt.sups {
		m.PluginUpChanged(name, s.Up())
		m.PluginHealthChanged(name, s.Healthy())
	}
	return rt, reused, nil
}

// checkGolden runs the golden cases that rule entries name; a module that fails one is
// refused like one that does not compile.
func checkGolden(ctx context.Context, cfg *config.File, specs []rules.Spec, opts rules.Options) error {
	opts.Observer = nil // golden runs are not traffic
	for i, r := range cfg.Rules {
		if r.Golden == "" {
			continue
		}
		cases, err := rules.ReadGolden(r.Golden)
		if err != nil {
			return &rules.LoadError{Rule: r.Name, Path: r.Module, Err: fmt.Errorf("golden: %w", err)}
		}
		res, err := rules.RunGolden(ctx, specs[i], cases, opts)
		if err == nil {
			err = rules.GoldenFailures(res)
		}
		if err != nil {
			return &rules.LoadError{Rule: r.Name, Path: r.Module, Err: err}
		}
	}
	return nil
}

// newBreakers returns the process's circuit breakers, reporting state changes in
// switchyard_circuit_open and the log. Breakers are keyed by pipeline.BreakerKey.
func newBreakers(m *metrics.Metrics, log *slog.Logger) *circuit.Set {
	return circuit.NewSet(func(key string, st circuit.State) {
		p, model, _ := strings.Cut(key, "/")
		v := 1.0
		if st == circuit.Closed {
			v = 0
		}
		m.CircuitOpen.WithLabelValues(p, model).Set(v)
		log.Warn("circuit "+st.String(), "provider", p, "model", model)
	})
}

// labels lists the metric label values the configuration implies.
func labels(cfg *config.File, cat *pipeline.Catalogue) metrics.Labels {
	l := metrics.Labels{Models: cat.Names()}
	for _, t := range cat.Targets() {
		l.ProviderModels = append(l.ProviderModels, [2]string{t.Provider, t.Name})
	}
	for _, p := range cfg.EnabledProviders() {
		l.Plugins = append(l.Plugins, p.Name)
	}
	for _, r := range cfg.Routes {
		if r.Cache != nil {
			l.CachedRoutes = append(l.CachedRoutes, r.Name)
		}
	}
	for _, r := range cfg.Rules {
		l.Rules = append(l.Rules, r.Name)
		if r.Mode == "shadow" {
			l.ShadowRules = append(l.ShadowRules, r.Name)
		}
	}
	l.Budgets = map[string]float64{}
	for _, k := range cfg.Keys {
		l.Keys = append(l.Keys, k.Name)
		if k.Budget != nil {
			l.Budgets[k.Name] = k.Budget.USD
		}
	}

	return l
}

func sameProvider(a, b *config.File, name string) bool {
	find := func(f *config.File) *config.Provider {
		for i := range f.Providers {
			if f.Providers[i].Name == name {
				return &f.Providers[i]
			}
		}
		return nil
	}
	pa, pb := find(a), find(b)
	if pa == nil || pb == nil || pa.Plugin != pb.Plugin || pa.SHA256 != pb.SHA256 {
		return false
	}
	if string(pa.SettingsJSON()) != string(pb.SettingsJSON()) || len(pa.Secrets) != len(pb.Secrets) || !slices.Equal(pa.Env, pb.Env) {
		return false
	}
	for k, v := range pa.Secrets {
		if pb.Secrets[k] != v {
			return false
		}
	}
	return a.Plugins == b.Plugins
}

// readiness says whether the runtime can serve, and what is degraded: it can while some
// provider plugin is up (the pipeline falls back around the others). A plugin whose health
// check fails (its upstream probe, say) still serves and only shows in the detail: taking a
// replica out of its load balancer because a shared upstream is sick would turn that
// upstream's trouble into an outage of every replica at once.
func (rt *runtime) readiness() (err error, detail map[string]any) {
	plugins := map[string]any{}
	serving := 0
	for name, s := range rt.sups {
		st := map[string]any{"up": s.Up(), "healthy": s.Healthy()}
		if d := s.HealthDetail(); d != "" {
			st["detail"] = d
		}
		if s.Up() {
			serving++
		}
		plugins[name] = st
	}
	detail = map[string]any{"plugins": plugins}
	if rt.chain != nil {
		var rs []map[string]any
		for _, r := range rt.chain.Rules() {
			rs = append(rs, map[string]any{"name": r.Name, "mode": r.Mode, "quarantined": r.Quarantined})
		}
		detail["rules"] = rs
	}
	if serving == 0 {
		return errors.New("no provider plugin is up"), detail
	}
	return nil, detail
}

// close stops what the runtime holds: its rule chain, and its plugins unless a newer
// runtime uses them too. It runs once, when the runtime is no longer served and its last
// request has ended (or at shutdown).
func (rt *runtime) close() {
	rt.closeOne.Do(func() {
		for _, s := range rt.sups {
			rt.plugins.drop(s)
		}
		if rt.chain != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = rt.chain.Close(ctx)
		}
	})
}

// cacheDir is where wazero keeps compiled rules between runs, so a Go rule compiles in
// milliseconds instead of seconds after the first start.
func cacheDir() string {
	if d := os.Getenv("SWITCHYARD_CACHE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "switchyard", "wazero")
}

// ruleSpec is a config rule entry as the engine loads it (for the router's chain and for rules replay).
func ruleSpec(r config.Rule) rules.Spec {
	return rules.Spec{Name: r.Name, Path: r.Module, Config: r.ConfigJSON(), Mode: r.Mode, OnError: r.OnError,
		Headers: r.Headers, ContentBytes: r.ContentBytes(),
		Limits: rules.Limits{Deadline: r.Deadline.D(), MemoryMiB: r.Memory, Pool: r.Pool}}
}
