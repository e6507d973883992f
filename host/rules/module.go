package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/switchyard-llm/switchyard/host/rules/internal/instrument"
)

const (
	pageSize      = 64 << 10
	maxOutput     = 64 << 10
	initialBuffer = 16 << 10 // first sy_alloc per instance; grown when an input does not fit
	maxLogLine    = 1 << 10
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// requiredExports and optionalExports are the ABI v1 functions with their
// signatures.
var (
	requiredExports = map[string][2][]api.ValueType{
		"sy_abi_v1": {nil, nil},
		"sy_alloc":  {{i32}, {i32}},
		"sy_route":  {{i32, i32}, {i64}},
	}
	optionalExports = map[string][2][]api.ValueType{
		"sy_init":     {{i32, i32}, {i32}},
		"sy_validate": {{i32, i32}, {i64}},
		"_initialize": {nil, nil},
	}
)

// errAbort is the trap raised by env.abort.
var errAbort = errors.New("env.abort called")

// errCompile marks a module wazero could not compile.
var errCompile = errors.New("compile")

// compilations counts the modules handed to wazero's compiler, so tests can
// tell a shared rule from a recompiled one.
var compilations atomic.Int64

// compileRule builds the rule's runtime (host modules included), compiles
// and checks the module: instrumented with the stop flag (internal/instrument)
// when the rewriter can, otherwise as it is, with wazero's context check.
// On error everything it created is closed.
func compileRule(ctx context.Context, r *rule, wasm []byte, cache wazero.CompilationCache) error {
	if err := instrument.CheckSizes(wasm); err != nil {
		return fmt.Errorf("malformed module: %w", err)
	}
	code, err := instrument.Rewrite(wasm)
	switch {
	case errors.Is(err, instrument.ErrReservedName):
		return err
	case err != nil:
		r.log.logger.Debug("rules: cannot instrument the module; wazero's context check stops it at its deadline (slower)",
			"reason", err.Error())
		return compileWith(ctx, r, wasm, cache, false)
	}
	err = compileWith(ctx, r, code, cache, true)
	if errors.Is(err, errCompile) {
		// The rewriter keeps validity (FuzzInstrument checks it); should the
		// rewritten module still not compile, the original decides.
		r.log.logger.Warn("rules: the instrumented module does not compile; using wazero's context check",
			"error", err.Error())
		return compileWith(ctx, r, wasm, cache, false)
	}
	return err
}

// compileWith compiles wasm in a new Runtime of the rule. instrumented
// says the module carries the stop flag; otherwise the Runtime stops guests
// through the context (WithCloseOnContextDone).
func compileWith(ctx context.Context, r *rule, wasm []byte, cache wazero.CompilationCache, instrumented bool) (err error) {
	// CapacityFromMax reserves the limit up front (virtual memory, touched
	// lazily), so memory.grow never copies the whole memory: Go guests grow
	// their heap often. Declared maxima over the limit are refused below.
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(!instrumented).
		WithMemoryCapacityFromMax(true).
		WithMemoryLimitPages(uint32(r.limits.MemoryMiB) * (1 << 20) / pageSize)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	if instrumented {
		// DWARF line numbers would be off by the inserted checks.
		cfg = cfg.WithDebugInfoEnabled(false)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer func() {
		if err != nil {
			_ = rt.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fmt.Errorf("host module wasi_snapshot_preview1: %w", err)
	}
	if _, err := rt.NewHostModuleBuilder("switchyard").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.log.hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export("log").
		Instantiate(ctx); err != nil {
		return fmt.Errorf("host module switchyard: %w", err)
	}
	if _, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) { panic(errAbort) }),
			[]api.ValueType{i32, i32, i32, i32}, nil).
		WithParameterNames("message", "file", "line", "column").
		Export("abort").
		Instantiate(ctx); err != nil {
		return fmt.Errorf("host module env: %w", err)
	}

	compilations.Add(1)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("%w: %w", errCompile, err)
	}
	if err := checkImports(rt, compiled); err != nil {
		return err
	}
	if err := checkExports(compiled); err != nil {
		return err
	}
	limit := uint32(r.limits.MemoryMiB) * (1 << 20) / pageSize
	mem := compiled.ExportedMemories()["memory"]
	if max, ok := mem.Max(); ok && max > limit {
		return fmt.Errorf("declares a maximum memory of %d pages, over the rule's limit of %d MiB (%d pages)", max, r.limits.MemoryMiB, limit)
	}
	if mem.Min() > limit {
		return fmt.Errorf("needs %d pages of memory, over the rule's limit of %d MiB (%d pages)", mem.Min(), r.limits.MemoryMiB, limit)
	}
	r.rt, r.compiled, r.instrumented = rt, compiled, instrumented
	_, r.hasInit = compiled.ExportedFunctions()["sy_init"]
	_, r.hasValidate = compiled.ExportedFunctions()["sy_validate"]
	r.modCfg = moduleConfig()
	if instrumented {
		// _initialize is called by newInstance, with the stop flag armed.
		r.modCfg = r.modCfg.WithStartFunctions()
	}
	return nil
}

// checkImports refuses any import the host does not offer with the same
// signature, and any imported memory, table or global.
func checkImports(rt wazero.Runtime, compiled wazero.CompiledModule) error {
	for _, m := range compiled.ImportedMemories() {
		mod, name, _ := m.Import()
		return fmt.Errorf("imports memory %s.%s; the host offers none", mod, name)
	}
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		host := rt.Module(mod)
		if host == nil || !slices.Contains([]string{"wasi_snapshot_preview1", "switchyard", "env"}, mod) {
			return fmt.Errorf("imports %s.%s, which the host does not offer", mod, name)
		}
		def, ok := host.ExportedFunctionDefinitions()[name]
		if !ok {
			return fmt.Errorf("imports %s.%s, which the host does not offer", mod, name)
		}
		if !slices.Equal(def.ParamTypes(), f.ParamTypes()) || !slices.Equal(def.ResultTypes(), f.ResultTypes()) {
			return fmt.Errorf("imports %s.%s with signature %s, the host offers %s", mod, name, signature(f), signature(def))
		}
	}
	return nil
}

func checkExports(compiled wazero.CompiledModule) error {
	if _, ok := compiled.ExportedMemories()["memory"]; !ok {
		return errors.New("does not export memory")
	}
	fns := compiled.ExportedFunctions()
	for _, name := range []string{"sy_abi_v1", "sy_alloc", "sy_route"} {
		if _, ok := fns[name]; !ok {
			return fmt.Errorf("does not export %s (not a Switchyard rule ABI v1 module)", name)
		}
	}
	for _, table := range []map[string][2][]api.ValueType{requiredExports, optionalExports} {
		for name, sig := range table {
			f, ok := fns[name]
			if !ok {
				continue
			}
			if !slices.Equal(f.ParamTypes(), sig[0]) || !slices.Equal(f.ResultTypes(), sig[1]) {
				return fmt.Errorf("exports %s with signature %s, want %s", name, signature(f), sigString(sig[0], sig[1]))
			}
		}
	}
	return nil
}

func signature(f api.FunctionDefinition) string { return sigString(f.ParamTypes(), f.ResultTypes()) }

func sigString(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ",") + ")"
	}
	return name(params) + "->" + name(results)
}

// moduleConfig is the sandbox every instance gets: no filesystem, no args,
// no env, discarded stdio, a frozen clock. The random source is added per
// instance (a reader is not goroutine-safe).
func moduleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStdin(strings.NewReader("")).
		WithStdout(io.Discard).
		WithStderr(io.Discard).
		WithWalltime(func() (int64, int32) { return frozenUnixSec, 0 }, 1).
		WithNanotime(func() int64 { return frozenNanotime }, 1).
		WithNanosleep(func(int64) {}).
		WithOsyield(func() {})
}

// The frozen clock: rules get time from the input, never from the clock.
const (
	frozenUnixSec  = 1_700_000_000
	frozenNanotime = 1_000_000_000
)

// instance is one instantiated module. It is not goroutine-safe: it lives
// in its rule's pool and is used by one evaluation at a time.
type instance struct {
	mod      api.Module
	mem      api.Memory
	route    api.Function
	validate api.Function // nil when the module does not export sy_validate
	alloc    api.Function
	buf      uint32 // the sy_alloc buffer
	bufCap   uint32
	stack    [2]uint64

	stop    api.MutableGlobal // the stop flag of an instrumented module, else nil
	raise   func()            // sets stop to instrument.StopRaised
	timer   *time.Timer       // calls raise at the deadline of an evaluation; stopped between them
	raiseMu sync.Mutex        // orders raise's write before stopSeen's read
}

// stopSeen reports whether the guest stopped because it saw the stop flag
// (rather than trapping on its own). Call it only after the guest returned.
func (in *instance) stopSeen() bool {
	in.raiseMu.Lock()
	defer in.raiseMu.Unlock()
	return api.DecodeI32(in.stop.Get()) == instrument.StopSeen
}

// arm makes the guest stop when ctx is done: for an instrumented module,
// ctx's end sets the stop flag, and the guest traps at its next function
// entry or loop header; otherwise wazero's context check stops it. The
// caller must call disarm when the guest returns; disarm reports false if
// the flag was (or is being) set, after which the instance must be
// discarded.
func (in *instance) arm(ctx context.Context) (disarm func() bool) {
	if in.stop == nil {
		return notArmed
	}
	in.stop.Set(0)
	return context.AfterFunc(ctx, in.raise)
}

func notArmed() bool { return true }

// guarded runs f (a guest call) with the stop flag armed on ctx.
func (in *instance) guarded(ctx context.Context, f func() error) error {
	disarm := in.arm(ctx)
	err := f()
	if !disarm() {
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	return err
}

// newInstance instantiates the module, runs sy_init with the config and
// allocates the input buffer.
func (r *rule) newInstance(ctx context.Context) (*instance, error) {
	n := r.seq.Add(1)
	seed := r.seed
	for i := 0; i < 8; i++ {
		seed[i] ^= byte(n >> (8 * i))
	}
	mod, err := r.rt.InstantiateModule(ctx, r.compiled,
		r.modCfg.WithRandSource(rand.NewChaCha8(seed)))
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	inst := &instance{
		mod:      mod,
		mem:      mod.Memory(),
		route:    mod.ExportedFunction("sy_route"),
		validate: mod.ExportedFunction("sy_validate"),
		alloc:    mod.ExportedFunction("sy_alloc"),
	}
	if inst.mem == nil {
		_ = mod.Close(ctx)
		return nil, errors.New("instantiate: no memory")
	}
	if r.instrumented {
		stop, ok := mod.ExportedGlobal(instrument.StopFlagExport).(api.MutableGlobal)
		if !ok {
			_ = mod.Close(ctx)
			return nil, errors.New("instantiate: no stop flag")
		}
		inst.stop = stop
		inst.raise = func() {
			inst.raiseMu.Lock()
			stop.Set(instrument.StopRaised)
			inst.raiseMu.Unlock()
		}
		inst.timer = time.AfterFunc(time.Hour, inst.raise)
		inst.timer.Stop()
		if start := mod.ExportedFunction("_initialize"); start != nil {
			if err := inst.guarded(ctx, func() error { _, err := start.Call(ctx); return err }); err != nil {
				_ = mod.Close(ctx)
				return nil, fmt.Errorf("_initialize: %w", err)
			}
		}
	}
	if r.hasInit {
		cfg := r.config
		if len(cfg) == 0 {
			cfg = []byte("{}")
		}
		if err := inst.guarded(ctx, func() error { return inst.grow(ctx, uint32(len(cfg))) }); err != nil {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("sy_init: %w", err)
		}
		inst.mem.Write(inst.buf, cfg)
		var res []uint64
		err := inst.guarded(ctx, func() (err error) {
			res, err = mod.ExportedFunction("sy_init").Call(ctx, uint64(inst.buf), uint64(len(cfg)))
			return err
		})
		if err != nil {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("sy_init: %w", err)
		}
		if code := int32(res[0]); code != 0 {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("sy_init returned %d (config refused)", code)
		}
		inst.bufCap = 0 // the config buffer is not ours to reuse after sy_init
	}
	if err := inst.guarded(ctx, func() error { return inst.grow(ctx, initialBuffer) }); err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	return inst, nil
}

// grow makes the instance's buffer hold at least n bytes (one sy_alloc).
func (in *instance) grow(ctx context.Context, n uint32) error {
	in.stack[0] = api.EncodeU32(n)
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return fmt.Errorf("sy_alloc: %w", err)
	}
	ptr := api.DecodeU32(in.stack[0])
	if ptr == 0 {
		return fmt.Errorf("sy_alloc(%d) returned 0", n)
	}
	if uint64(ptr)+uint64(n) > uint64(in.mem.Size()) {
		return fmt.Errorf("sy_alloc(%d) returned %d, outside memory", n, ptr)
	}
	in.buf, in.bufCap = ptr, n
	return nil
}

func (in *instance) close() {
	if in.timer != nil {
		in.timer.Stop()
	}
	_ = in.mod.Close(context.Background())
}

// ruleLog is the switchyard.log host function of one rule: lines are
// truncated to 1 KiB and rate-limited (a burst of logBurst, then
// logPerSecond a second); dropped lines are counted in the next line.
type ruleLog struct {
	logger *slog.Logger

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

const (
	logBurst     = 20
	logPerSecond = 5
)

func (l *ruleLog) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	now := time.Now()
	l.mu.Lock()
	l.tokens += now.Sub(l.last).Seconds() * logPerSecond
	l.last = now
	if l.tokens > logBurst {
		l.tokens = logBurst
	}
	if l.tokens < 1 {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.tokens--
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()

	truncated := n > maxLogLine
	if truncated {
		n = maxLogLine
	}
	data, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	msg := strings.ToValidUTF8(string(data), "\uFFFD")
	attrs := []slog.Attr{}
	if truncated {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("dropped_before", dropped))
	}
	l.logger.LogAttrs(ctx, slogLevel(level), msg, attrs...)
}

func slogLevel(level int32) slog.Level {
	switch {
	case level <= 0:
		return slog.LevelDebug
	case level == 1:
		return slog.LevelInfo
	case level == 2:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func fileSHA256(path string) ([]byte, string, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(wasm)
	return wasm, hex.EncodeToString(sum[:]), nil
}
