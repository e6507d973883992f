package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
// and the pipeline over them.
type runtime struct {
	cfg      *config.File
	sups     map[string]*providers.Supervisor
	chain    *rules.Chain
	pipeline *pipeline.Pipeline
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
var _ pipeline.Dispatcher = (*providers.Supervisor)(nil)
var _ pipeline.Health = (*providers.Supervisor)(nil)
var _ pipeline.RuleEvaluator = (*rules.Chain)(nil)

// build starts what cfg needs. Supervisors of prev whose spec did not change are reused
// (reused reports which); on error everything started here is stopped again.
func build(ctx context.Context, cfg *config.File, m *metrics.Metrics, log *slog.Logger, version string, prev *runtime, breakers *circuit.Set) (rt *runtime, reused map[string]bool, err error) {
	rt = &runtime{cfg: cfg, sups: map[string]*providers.Supervisor{}}
	reused = map[string]bool{}
	defer func() {
		if err != nil {
			for name, s := range rt.sups {
				if !reused[name] {
					_ = s.Close()
				}
			}
			if rt.chain != nil {
				_ = rt.chain.Close(context.Background())
			}
		}
	}()

	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, p := range cfg.EnabledProviders() {
		spec := providers.Spec{Name: p.Name, Path: p.Plugin, SHA256: p.SHA256, Settings: p.SettingsJSON(), Secrets: p.Secrets}
		if prev != nil && prev.sups[p.Name] != nil && sameProvider(prev.cfg, cfg, p.Name) {
			rt.sups[p.Name] = prev.sups[p.Name]
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
		specs = append(specs, rules.Spec{Name: r.Name, Path: r.Module, Config: r.ConfigJSON(), Mode: r.Mode,
			OnError: r.OnError, Headers: r.Headers,
			Limits: rules.Limits{Deadline: r.Deadline.D(), MemoryMiB: r.Memory, Pool: r.Pool}})
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
	breakers.Configure(circuit.Config{FailureThreshold: cfg.Circuit.FailureThreshold,
		CoolDown: cfg.Circuit.CoolDown.D(), HalfOpenProbes: cfg.Circuit.HalfOpenProbes})
	rt.pipeline = pipeline.New(pipeline.Options{Config: cfg, Catalogue: cat, Dispatchers: dispatchers,
		Rules: evaluator, RuleHeaders: headers, Metrics: m, Logger: log, Breakers: breakers})
	m.Prime(labels(cfg, cat))
	for name, s := range rt.sups {
		m.PluginUpChanged(name, s.Up())
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
	for _, r := range cfg.Rules {
		l.Rules = append(l.Rules, r.Name)
		if r.Mode == "shadow" {
			l.ShadowRules = append(l.ShadowRules, r.Name)
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
	if string(pa.SettingsJSON()) != string(pb.SettingsJSON()) || len(pa.Secrets) != len(pb.Secrets) {
		return false
	}
	for k, v := range pa.Secrets {
		if pb.Secrets[k] != v {
			return false
		}
	}
	return a.Plugins == b.Plugins
}

// ready reports whether the runtime can serve.
func (rt *runtime) ready() error {
	for name, s := range rt.sups {
		if !s.Up() {
			return fmt.Errorf("provider plugin %s is not up", name)
		}
	}
	return nil
}

// close stops what the runtime started, except the supervisors in keep.
func (rt *runtime) close(keep map[string]*providers.Supervisor) {
	for name, s := range rt.sups {
		if keep[name] != s {
			_ = s.Close()
		}
	}
	if rt.chain != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.chain.Close(ctx)
	}
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
