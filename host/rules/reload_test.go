package rules

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// copyModule copies the module at src to dst, with extra bytes appended
// (a custom section changes the module's sha256, not what it does).
func copyModule(t *testing.T, src, dst string, extra []byte) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, append(data, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// customSection is a custom section named "test".
var customSection = []byte{0x00, 0x05, 0x04, 't', 'e', 's', 't'}

// loadNext loads specs with Previous set and closes the result when the
// test ends; it also returns how many modules it compiled.
func loadNext(t *testing.T, opts Options, specs ...Spec) (*Chain, int64) {
	t.Helper()
	before := compilations.Load()
	c := load(t, opts, specs...)
	return c, compilations.Load() - before
}

func refs(r *rule) int {
	r.refMu.Lock()
	defer r.refMu.Unlock()
	return r.refs
}

// TestReloadSharesUnchangedRules: a rule whose module and whole Spec are
// unchanged is shared with the previous chain, without compiling; any
// change makes a new rule.
func TestReloadSharesUnchangedRules(t *testing.T) {
	dir := t.TempDir()
	decide := copyModule(t, wat(t, "decide.wat"), filepath.Join(dir, "decide.wasm"), nil)
	base := []Spec{
		{Name: "a", Path: decide, Config: json.RawMessage(`{"x":1}`), Headers: []string{"X-Tenant"}},
		{Name: "b", Path: wat(t, "reject.wat"), Mode: ModeShadow},
	}
	prev, n := loadNext(t, Options{}, base...)
	if n != 2 {
		t.Fatalf("first load compiled %d modules, want 2", n)
	}
	edit := func(f func(a *Spec)) []Spec {
		specs := append([]Spec(nil), base...)
		f(&specs[0])
		return specs
	}
	tests := []struct {
		name   string
		specs  []Spec
		opts   Options
		shared []bool // per rule
	}{
		{name: "nothing changed", specs: base, shared: []bool{true, true}},
		{name: "defaults spelled out", specs: edit(func(a *Spec) {
			a.Mode, a.OnError, a.Headers = ModeActive, OnErrorSkip, []string{"x-tenant"}
			a.Limits = Limits{Deadline: DefaultDeadline, MemoryMiB: DefaultMemoryMiB, Pool: DefaultPool}
		}), shared: []bool{true, true}},
		{name: "config", specs: edit(func(a *Spec) { a.Config = json.RawMessage(`{"x":2}`) }), shared: []bool{false, true}},
		{name: "mode", specs: edit(func(a *Spec) { a.Mode = ModeShadow }), shared: []bool{false, true}},
		{name: "on_error", specs: edit(func(a *Spec) { a.OnError = OnErrorFail }), shared: []bool{false, true}},
		{name: "headers", specs: edit(func(a *Spec) { a.Headers = []string{"x-other"} }), shared: []bool{false, true}},
		{name: "content", specs: edit(func(a *Spec) { a.ContentBytes = 1024 }), shared: []bool{false, true}},
		{name: "deadline", specs: edit(func(a *Spec) { a.Limits.Deadline = 7 * time.Millisecond }), shared: []bool{false, true}},
		{name: "memory", specs: edit(func(a *Spec) { a.Limits.MemoryMiB = 32 }), shared: []bool{false, true}},
		{name: "pool", specs: edit(func(a *Spec) { a.Limits.Pool = 2 }), shared: []bool{false, true}},
		{name: "path", specs: edit(func(a *Spec) { a.Path = copyModule(t, decide, filepath.Join(dir, "same.wasm"), nil) }),
			shared: []bool{false, true}},
		{name: "module bytes", specs: edit(func(a *Spec) {
			a.Path = copyModule(t, decide, filepath.Join(dir, "changed.wasm"), customSection)
		}), shared: []bool{false, true}},
		{name: "renamed", specs: edit(func(a *Spec) { a.Name = "c" }), shared: []bool{false, true}},
		{name: "quarantine setting", specs: base, opts: Options{QuarantineAfter: 2}, shared: []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Previous = prev
			c, n := loadNext(t, opts, tt.specs...)
			var want int64
			for i, shared := range tt.shared {
				if got := c.all[i] == prev.all[i]; got != shared {
					t.Errorf("rule %s shared = %v, want %v", tt.specs[i].Name, got, shared)
				}
				if !shared {
					want++
				}
			}
			if n != want {
				t.Errorf("compiled %d modules, want %d", n, want)
			}
			if c.opts.Previous != nil {
				t.Error("the chain keeps its predecessor")
			}
			if res := c.Evaluate(context.Background(), testInput()); len(res.Trace) != 2 || res.Trace[0].Outcome != OutcomeDecided {
				t.Fatalf("new chain: %+v", res.Trace)
			}
			if err := c.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Closing the chain that shared a rule leaves it to the other.
			if res := prev.Evaluate(context.Background(), testInput()); !strings.HasPrefix(res.Rule, "a@") {
				t.Fatalf("previous chain after the new one closed: %q %+v", res.Rule, res.Trace)
			}
			for _, r := range prev.all {
				if got := refs(r); got != 1 {
					t.Errorf("rule %s has %d holders, want 1", r.spec.Name, got)
				}
			}
		})
	}

	// The same path with other bytes is a new module.
	copyModule(t, decide, decide, customSection)
	c, n := loadNext(t, Options{Previous: prev}, base...)
	if c.all[0] == prev.all[0] || c.all[1] != prev.all[1] || n != 1 {
		t.Fatalf("after the file changed: shared %v %v, compiled %d", c.all[0] == prev.all[0], c.all[1] == prev.all[1], n)
	}
	if c.Rules()[0].SHA256 == prev.Rules()[0].SHA256 {
		t.Error("same sha256 for other bytes")
	}
}

// TestReloadOldChainServesUntilClosed: evaluations on the previous chain go
// on while new chains share its rules and are closed, and a shared rule is
// closed with the last chain that holds it.
func TestReloadOldChainServesUntilClosed(t *testing.T) {
	specs := []Spec{
		{Name: "trap", Path: wat(t, "trap.wat"), Limits: Limits{Pool: 1, Deadline: time.Second}},
		{Name: "decide", Path: wat(t, "decide.wat"), Limits: Limits{Pool: 2, Deadline: time.Second}},
	}
	old, err := Load(context.Background(), specs, Options{QuarantineAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		stop  atomic.Bool
		count atomic.Int64
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				// The trap discards its instance and refills in the
				// background (a timeout when the refill is late): refills
				// run across the reloads too.
				res := old.Evaluate(context.Background(), testInput())
				if tr := res.Trace[0]; !strings.HasPrefix(res.Rule, "decide@") || tr.Outcome != OutcomeError && tr.Outcome != OutcomeTimeout {
					t.Errorf("old chain: %q %+v", res.Rule, res.Trace)
					return
				}
				count.Add(1)
			}
		}()
	}
	var next *Chain
	for i := range 5 {
		c, err := Load(context.Background(), specs, Options{QuarantineAfter: -1, Previous: old})
		if err != nil {
			t.Fatal(err)
		}
		if c.all[0] != old.all[0] || c.all[1] != old.all[1] {
			t.Fatal("rules not shared")
		}
		if res := c.Evaluate(context.Background(), testInput()); !strings.HasPrefix(res.Rule, "decide@") {
			t.Fatalf("new chain: %+v", res.Trace)
		}
		if i < 4 {
			if err := c.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		} else {
			next = c
		}
	}
	stop.Store(true)
	wg.Wait()
	if count.Load() == 0 {
		t.Fatal("no evaluation ran on the old chain")
	}
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range next.all {
		if got := refs(r); got != 1 || r.bg.Err() != nil {
			t.Fatalf("rule %s after the old chain closed: %d holders, stopped %v", r.spec.Name, got, r.bg.Err() != nil)
		}
	}
	if res := next.Evaluate(context.Background(), testInput()); !strings.HasPrefix(res.Rule, "decide@") {
		t.Fatalf("next chain after the old one closed: %+v", res.Trace)
	}
	if err := next.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range next.all {
		if got := refs(r); got != 0 || r.bg.Err() == nil {
			t.Fatalf("rule %s after the last chain closed: %d holders, stopped %v", r.spec.Name, got, r.bg.Err() != nil)
		}
	}
}

// TestReloadHeapBounded: 40 reloads in a row, each sharing the previous
// chain's rules and closing it, leave the live heap where the first load
// left it, and compile nothing.
func TestReloadHeapBounded(t *testing.T) {
	specs := []Spec{
		{Name: "tiered", Path: buildShippedRule(t, "tiered"), Limits: Limits{Deadline: time.Second, Pool: 2}},
		{Name: "decide", Path: wat(t, "decide.wat")},
	}
	ctx := context.Background()
	opts := Options{CacheDir: testkit.CacheDir(t)} // tiered is compiled once per test binary
	c, err := Load(ctx, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx) }()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	start, compiled := heap(), compilations.Load()
	const slack = 8 << 20
	for i := range 40 {
		opts.Previous = c
		next, err := Load(ctx, specs, opts)
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatalf("reload %d: close: %v", i, err)
		}
		c = next
		if res := c.Evaluate(ctx, testInput()); res.Trace[0].Outcome != OutcomeDecided {
			t.Fatalf("reload %d: %+v", i, res.Trace[0])
		}
	}
	if n := compilations.Load() - compiled; n != 0 {
		t.Errorf("40 reloads compiled %d modules, want 0", n)
	}
	if end := heap(); end > start+slack {
		t.Errorf("live heap grew from %d to %d bytes over 40 reloads (allowed: %d)", start, end, slack)
	}
}

// TestReloadKeepsQuarantine: a shared rule keeps its quarantine and its
// failure count, and Load reports nothing.
func TestReloadKeepsQuarantine(t *testing.T) {
	rec := &recorder{}
	opts := Options{Observer: rec, QuarantineAfter: 2}
	specs := []Spec{
		{Name: "trap", Path: wat(t, "trap.wat"), Limits: Limits{Pool: 1, Deadline: time.Second}},
		{Name: "decide", Path: wat(t, "decide.wat")},
	}
	prev := load(t, opts, specs...)
	for range 2 {
		waitPool(t, prev.all[0])
		prev.Evaluate(context.Background(), testInput())
	}
	if got := rec.changes(); !reflect.DeepEqual(got, []string{"trap:true"}) {
		t.Fatalf("changes %v", got)
	}
	opts.Previous = prev
	next := load(t, opts, specs...)
	if info := next.Rules(); !info[0].Quarantined || info[0].Failures != 2 {
		t.Fatalf("after the reload: %+v", info[0])
	}
	if got := rec.changes(); len(got) != 1 {
		t.Fatalf("Load reported %v", got[1:])
	}
	if res := next.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeQuarantined {
		t.Fatalf("after the reload: %+v", res.Trace[0])
	}
}

// TestRefusedCandidateLeavesServingRules: a candidate refused at reload
// (a module that does not compile, a failing sy_init, a later rule that
// fails, golden cases that fail) leaves the serving rules as they were:
// not quarantined, no failure counted, nothing reported.
func TestRefusedCandidateLeavesServingRules(t *testing.T) {
	rec := &recorder{}
	opts := Options{Observer: rec, QuarantineAfter: 1}
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.wasm")
	if err := os.WriteFile(garbage, []byte("\x00asm\x01\x00\x00\x00\x01\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	loop := Spec{Name: "loop", Path: wat(t, "loop.wat"), Limits: Limits{Pool: 1, Deadline: 20 * time.Millisecond}}
	decide := Spec{Name: "decide", Path: wat(t, "decide.wat")}
	serving := load(t, opts, loop, decide)
	looping := testInput()
	looping.Request.Tags = []string{"loop-forever"}
	input, err := json.Marshal(looping)
	if err != nil {
		t.Fatal(err)
	}
	opts.Previous = serving
	compiled := compilations.Load()

	candidates := []struct {
		name  string
		specs []Spec
	}{
		{name: "does not compile", specs: []Spec{{Name: "loop", Path: garbage}, decide}},
		{name: "sy_init fails", specs: []Spec{{Name: "loop", Path: wat(t, "initfail.wat")}, decide}},
		{name: "a later rule fails", specs: []Spec{loop, {Name: "decide", Path: wat(t, "noabi.wat")}}},
	}
	for _, cand := range candidates {
		if c, err := Load(context.Background(), cand.specs, opts); err == nil {
			c.Close(context.Background())
			t.Fatalf("%s: Load succeeded", cand.name)
		}
	}
	// Golden cases that make the serving module time out: RunGolden loads
	// it on its own even when handed the serving chain.
	results, err := RunGolden(context.Background(), loop, []GoldenCase{{Name: "loops", Input: input, Expect: GoldenExpect{NoOpinion: true}}}, opts)
	if err != nil || GoldenFailures(results) == nil || !strings.Contains(results[0].Problem, "timeout") {
		t.Fatalf("RunGolden: %+v, %v: want a failed case", results, err)
	}
	if compilations.Load() == compiled {
		t.Error("nothing compiled: the candidates were not loaded")
	}

	for _, info := range serving.Rules() {
		if info.Quarantined || info.Failures != 0 {
			t.Errorf("serving rule after refused candidates: %+v", info)
		}
	}
	for _, r := range serving.all {
		if got := refs(r); got != 1 {
			t.Errorf("serving rule %s has %d holders, want 1", r.spec.Name, got)
		}
	}
	rec.mu.Lock()
	outcomes, changes := rec.outcomes, rec.quarantined
	rec.mu.Unlock()
	if len(outcomes) != 0 || len(changes) != 0 {
		t.Errorf("refused candidates reported outcomes %v, quarantine changes %v", outcomes, changes)
	}
	if res := serving.Evaluate(context.Background(), testInput()); !strings.HasPrefix(res.Rule, "loop@") {
		t.Fatalf("serving chain: %+v", res.Trace)
	}
}

// TestReset: Reset lifts a quarantine and clears the failure count,
// reporting the change (the router's gauge follows); an unknown name is
// ErrUnknownRule.
func TestReset(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	rec := &recorder{}
	gauge := func() float64 { return testutil.ToFloat64(m.RuleQuarantined.WithLabelValues("trap")) }
	obs := &tee{rec, m}
	c := load(t, Options{Observer: obs, QuarantineAfter: 2},
		Spec{Name: "trap", Path: wat(t, "trap.wat"), Limits: Limits{Pool: 1, Deadline: time.Second}},
		Spec{Name: "decide", Path: wat(t, "decide.wat")})

	trap := c.all[0]
	c.Evaluate(context.Background(), testInput())
	if info := c.Rules()[0]; info.Failures != 1 || info.Quarantined {
		t.Fatalf("after one failure: %+v", info)
	}
	if err := c.Reset("trap"); err != nil {
		t.Fatal(err)
	}
	if info := c.Rules()[0]; info.Failures != 0 || len(rec.changes()) != 0 {
		t.Fatalf("Reset of a rule not quarantined: %+v, reported %v", info, rec.changes())
	}

	for range 2 {
		waitPool(t, trap)
		c.Evaluate(context.Background(), testInput())
	}
	if info := c.Rules()[0]; !info.Quarantined || gauge() != 1 {
		t.Fatalf("not quarantined: %+v, gauge %v", info, gauge())
	}
	if err := c.Reset("trap"); err != nil {
		t.Fatal(err)
	}
	if info := c.Rules()[0]; info.Quarantined || info.Failures != 0 || gauge() != 0 {
		t.Fatalf("after Reset: %+v, gauge %v", info, gauge())
	}
	if got := rec.changes(); !reflect.DeepEqual(got, []string{"trap:true", "trap:false"}) {
		t.Fatalf("changes %v", got)
	}
	waitPool(t, trap)
	if res := c.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeError {
		t.Fatalf("the rule does not run again: %+v", res.Trace[0])
	}

	err := c.Reset("nope")
	if !errors.Is(err, ErrUnknownRule) || !strings.Contains(err.Error(), "rules/nope") {
		t.Fatalf("Reset(nope) = %v", err)
	}

	c.ReportQuarantine()
	if got := rec.changes(); !reflect.DeepEqual(got[2:], []string{"trap:false", "decide:false"}) {
		t.Fatalf("ReportQuarantine reported %v", got[2:])
	}
}

// tee sends every report to a recorder, and quarantine changes to the
// router's metrics too.
type tee struct {
	rec *recorder
	m   *metrics.Metrics
}

func (o *tee) RuleEvaluated(rule, outcome string, d time.Duration) {
	o.rec.RuleEvaluated(rule, outcome, d)
}

func (o *tee) RuleQuarantineChanged(rule string, quarantined bool) {
	o.rec.RuleQuarantineChanged(rule, quarantined)
	o.m.RuleQuarantineChanged(rule, quarantined)
}

// holdHandler is a slog.Handler that calls hold for every record: the
// guest's switchyard.log call waits in it.
type holdHandler struct{ hold func() }

func (h *holdHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *holdHandler) Handle(context.Context, slog.Record) error {
	if h.hold != nil {
		h.hold()
	}
	return nil
}
func (h *holdHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *holdHandler) WithGroup(string) slog.Handler      { return h }

// TestTrapAtTheDeadlineIsError: a rule that traps on its own is an error,
// counted towards its quarantine, even when its deadline passed (the stop
// flag raised, but not seen by the guest) or the request ended while it
// ran. Only the deadline's own stop is a timeout (TestLoopStoppedAtDeadline).
func TestTrapAtTheDeadlineIsError(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cancel bool
	}{
		{name: "deadline passed during the call"},
		{name: "request cancelled during the call", cancel: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &holdHandler{}
			rec := &recorder{}
			c := load(t, Options{Observer: rec, Logger: slog.New(h)},
				Spec{Name: "fx", Path: wat(t, "trapnear.wat"), Limits: Limits{Deadline: 20 * time.Millisecond, Pool: 1}})
			r := c.all[0]
			if !r.instrumented {
				t.Fatal("not instrumented")
			}
			// Let the guest's log call wait until the deadline timer has
			// raised the flag: then it traps, without seeing the flag.
			inst := <-r.pool
			fired := make(chan struct{})
			inst.timer.Stop()
			inst.timer = time.AfterFunc(time.Hour, func() { inst.raise(); close(fired) })
			inst.timer.Stop()
			r.pool <- inst
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.hold = func() {
				if tt.cancel {
					cancel()
					return
				}
				select {
				case <-fired:
				case <-time.After(time.Minute):
					t.Error("the deadline timer never fired")
				}
			}
			res := c.Evaluate(ctx, testInput())
			if tr := res.Trace[0]; tr.Outcome != OutcomeError || !strings.Contains(tr.Error, "unreachable") {
				t.Fatalf("outcome %q (%s), want error", tr.Outcome, tr.Error)
			}
			rec.mu.Lock()
			outcomes := rec.outcomes
			rec.mu.Unlock()
			if !reflect.DeepEqual(outcomes, []string{"fx:error"}) {
				t.Errorf("observer saw %v", outcomes)
			}
			if info := c.Rules()[0]; info.Failures != 1 {
				t.Errorf("failures %d, want 1: a trap is the rule's fault", info.Failures)
			}
		})
	}
}
