package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The systems a run can measure, in the order they are reported.
const (
	SysDirect      = "direct"
	SysProxy       = "proxy"
	SysSwitchyard  = "switchyard-1rule"
	SysSwitchyard5 = "switchyard-5rules"

	// The governance systems: switchyard-1rule plus one feature each, measured only in
	// the paired comparison (see compare.go), against the system named in comparePairs.
	SysLedger = "switchyard-ledger" // + ledger.url, a SQLite file in the run's folder
	SysKeys   = "switchyard-keys"   // + a configured key with limits; clients send it
	SysRedis  = "switchyard-redis"  // switchyard-keys + state.url, a private redis-server
)

var errNotLinux = errors.New("loadtest: needs Linux (/proc)")

// AllSystems lists every system: (a) to (d), then the governance systems.
var AllSystems = []string{SysDirect, SysProxy, SysSwitchyard, SysSwitchyard5, SysLedger, SysKeys, SysRedis}

// benchKey is the key switchyard-keys and switchyard-redis configure and the clients
// send. Its limits are some thousand times what a run sends (1,000 rps is 60,000
// requests and about 36 M tokens a minute), so every request is checked and none refused.
var benchKey = KeySpec{Name: "loadtest", Secret: "sk-loadtest-limited-key", Team: "loadtest", RPM: 1_000_000_000, TPM: 1_000_000_000_000}

// Options are the knobs of one benchmark run. DefaultOptions gives the full
// run, QuickOptions a smoke run.
type Options struct {
	Rates         []float64     // fixed rates, requests/s
	Duration      time.Duration // measured time per fixed-rate step
	Warmup        time.Duration // unmeasured load before each step, at its rate
	BodyBytes     int           // size of request bodies and of the mock's answers' content
	StreamChunks  int           // content chunks of a streamed answer
	UpstreamDelay time.Duration // the mock's delay before answering
	MaxInflight   int           // the generator's concurrency cap
	Systems       []string      // subset of AllSystems

	StreamRate float64 // rate of the streaming (TTFB) steps; 0 skips them

	Sustain         bool      // search the highest rate with p99 < SustainP99
	SustainRates    []float64 // the ramp, stopping at the first miss
	SustainDuration time.Duration
	SustainWarmup   time.Duration
	SustainP99      time.Duration

	StreamsOpen int // streams held open through switchyard-1rule to read its RSS; 0 skips

	// The paired comparison of the governance systems with their baselines (compare.go):
	// CompareRounds quiet rounds at CompareRate, each a warm-up then a measured step of
	// every system involved. A step is quiet when the rest of the machine used at most
	// CompareQuiet cores of user CPU meanwhile. CompareDuration and CompareWarmup 0
	// are half of Duration and Warmup, so --duration, --warmup and --quick scale them.
	CompareRate     float64
	CompareRounds   int
	CompareQuiet    float64
	CompareDuration time.Duration
	CompareWarmup   time.Duration

	BinDir        string // where bin/switchyard, bin/plugins and bin/rules are
	DefaultConfig string // host/config/default.yaml, for the idle memory of the default config
	Drain         time.Duration
	Command       string // printed as is
}

// DefaultOptions is the full run (about 5-6 minutes on 2 cores).
func DefaultOptions() Options {
	return Options{
		Rates: []float64{500, 1000, 2000}, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		BodyBytes: 1024, StreamChunks: 20, MaxInflight: 2000, Systems: AllSystems,
		StreamRate: 1000,
		Sustain:    true, SustainRates: []float64{1000, 2000, 3000, 4000, 5000, 6000},
		SustainDuration: 4 * time.Second, SustainWarmup: time.Second, SustainP99: 50 * time.Millisecond,
		StreamsOpen: 1000,
		CompareRate: 1000, CompareRounds: 5, CompareQuiet: 0.1,
		BinDir: "bin", DefaultConfig: "host/config/default.yaml", Drain: 10 * time.Second,
	}
}

// Quick turns o into a smoke run of under a minute: short steps, a coarser ramp.
func (o Options) Quick() Options {
	o.Duration, o.Warmup = time.Second, 500*time.Millisecond
	o.SustainRates = []float64{2000, 4000, 6000}
	o.SustainDuration, o.SustainWarmup = time.Second, 300*time.Millisecond
	o.Drain = 5 * time.Second
	return o
}

func (o Options) check() error {
	switch {
	case len(o.Rates) == 0 && o.StreamRate <= 0 && !o.Sustain && o.StreamsOpen <= 0 && len(comparePlan(o.Systems)) == 0:
		return errors.New("nothing to measure")
	case len(comparePlan(o.Systems)) > 0 && (o.CompareRate <= 0 || o.CompareRounds < 1 || o.CompareDuration < 0 || o.CompareWarmup < 0):
		return errors.New("the comparison needs a positive rate, duration and number of rounds")
	case o.Duration <= 0 || o.Warmup < 0 || o.SustainDuration <= 0 || o.SustainWarmup < 0:
		return errors.New("durations must be positive")
	case o.BodyBytes < 1 || o.StreamChunks < 1 || o.MaxInflight < 1:
		return errors.New("--body-bytes, --stream-chunks and --max-inflight must be at least 1")
	case len(o.Systems) == 0:
		return errors.New("no systems")
	}
	for _, r := range append(append([]float64{}, o.Rates...), o.SustainRates...) {
		if r <= 0 {
			return fmt.Errorf("rate %v is not positive", r)
		}
	}
	for _, s := range o.Systems {
		if !contains(AllSystems, s) {
			return fmt.Errorf("unknown system %q (known: %s)", s, strings.Join(AllSystems, ", "))
		}
	}
	return nil
}

// system is one system under test.
type system struct {
	name   string
	url    string // chat completions endpoint
	model  string
	router *Router // nil: runs inside this process
	close  func()  // stops what runs inside this process, if anything
	client *http.Client
	header http.Header // sent with every request: the client key, for the keys systems
	// redisPID is the private redis-server of switchyard-redis: its CPU is sampled
	// around the steps too, apart from the router's.
	redisPID int
	info     *SystemInfo

	// compareOnly: measured in the paired comparison only (a governance system, or a
	// baseline started for it that --systems did not name).
	compareOnly bool
}

// Bench runs the whole benchmark and returns its report. Progress lines go
// to progress. Every server it starts listens on 127.0.0.1 and is stopped
// before it returns; ctx bounds the run.
func Bench(ctx context.Context, o Options, progress io.Writer) (*Report, error) {
	if runtime.GOOS != "linux" {
		return nil, errNotLinux
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	rep := &Report{Command: o.Command, Machine: machine(o.BinDir), Options: o, Sustain: map[string]*SustainResult{}}
	logf := func(format string, args ...any) {
		fmt.Fprintf(progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	rep.Notes = append(rep.Notes, raiseNoFile(2*o.StreamsOpen+2*o.MaxInflight+1024))

	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	router := filepath.Join(bin, "switchyard")
	plugin := filepath.Join(bin, "plugins", "switchyard-provider-openai")
	// Every system the comparison needs, baselines --systems did not name included.
	started := slices.Clone(o.Systems)
	for _, p := range comparePlan(o.Systems) {
		for _, n := range []string{p.Baseline, p.System} {
			if !contains(started, n) {
				started = append(started, n)
			}
		}
	}
	needRouter := slices.ContainsFunc(started, func(n string) bool { return strings.HasPrefix(n, "switchyard-") })
	if needRouter {
		for _, p := range []string{router, plugin, filepath.Join(bin, "rules", "tiered.wasm")} {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("loadtest: %w (run make build rules first)", err)
			}
		}
	}
	tmp, err := os.MkdirTemp("", "switchyard-loadtest-")
	if err != nil {
		return nil, err
	}
	keepTmp := false
	defer func() {
		if keepTmp {
			fmt.Fprintf(progress, "router logs kept in %s\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()

	up, err := StartUpstream(o.behavior())
	if err != nil {
		return nil, err
	}
	defer up.Close()
	logf("mock upstream on %s (delay %s, %d chunks, %d B content)", up.URL(), o.UpstreamDelay, o.StreamChunks, o.BodyBytes)

	// Memory of the default config, idle, before any load heats the machine.
	if needRouter {
		logf("default config: idle memory")
		if err := defaultIdle(ctx, rep, router, o.DefaultConfig, tmp); err != nil {
			keepTmp = true
			return nil, err
		}
	}

	// Registered before the routers' stop, so it runs after it: no router loses its
	// Redis while it still serves.
	var redis *RedisServer
	if contains(started, SysRedis) {
		if redis, err = StartRedis(tmp); err != nil {
			keepTmp = true
			return nil, err
		}
		defer redis.Stop()
		logf("private redis-server on %s (no persistence)", redis.Addr)
	}

	var systems []*system
	defer func() {
		for _, s := range systems {
			if s.router != nil {
				s.router.Stop()
			}
			if s.close != nil {
				s.close()
			}
			s.client.CloseIdleConnections()
		}
	}()
	redisURL := ""
	if redis != nil {
		redisURL = redis.URL
	}
	for _, name := range started {
		s, err := startSystem(ctx, name, "", o, up, router, plugin, bin, tmp, redisURL, logf)
		if err != nil {
			keepTmp = true
			return nil, err
		}
		s.compareOnly = isGovernance(name) || !contains(o.Systems, name)
		s.info.CompareOnly = s.compareOnly
		if name == SysRedis {
			s.redisPID = redis.PID()
		}
		if s.compareOnly && !isGovernance(name) {
			s.info.Note += " (started as a baseline of the comparison only)"
		}
		systems = append(systems, s)
		rep.Systems = append(rep.Systems, s.info)
	}
	// The systems of the fixed, stream and sustain steps.
	var core []*system
	for _, s := range systems {
		if !s.compareOnly {
			core = append(core, s)
		}
	}
	for _, s := range systems {
		if err := s.check(ctx, o); err != nil {
			keepTmp = true
			return nil, err
		}
	}

	body := requestBody(o.BodyBytes, false)
	streamBody := requestBody(o.BodyBytes, true)
	for _, rate := range o.Rates {
		for _, s := range core {
			logf("%-18s %6.0f rps  %s", s.name, rate, o.Duration)
			st := s.step(ctx, "fixed", rate, o.Warmup, o.Duration, body, false, o, up)
			rep.Steps = append(rep.Steps, st)
		}
	}
	if plan := comparePlan(o.Systems); len(plan) > 0 && ctx.Err() == nil {
		steps, res := compare(ctx, plan, systems, o, up, redis, body, logf)
		rep.Steps, rep.Compare = append(rep.Steps, steps...), res
	}
	if o.StreamRate > 0 {
		for _, s := range core {
			logf("%-18s %6.0f rps  %s  stream", s.name, o.StreamRate, o.Duration)
			st := s.step(ctx, "stream", o.StreamRate, o.Warmup, o.Duration, streamBody, true, o, up)
			rep.Steps = append(rep.Steps, st)
		}
	}
	if o.StreamsOpen > 0 && contains(o.Systems, SysSwitchyard) && ctx.Err() == nil {
		// A router of its own, so the RSS is that of the streams, not of
		// the load before them.
		s, err := startSystem(ctx, SysSwitchyard, "-streams", o, up, router, plugin, bin, tmp, "", logf)
		if err != nil {
			keepTmp = true
			rep.Notes = append(rep.Notes, "streams open: not measured: "+err.Error())
		} else {
			logf("%-18s holding %d streams open (a fresh router)", s.name, o.StreamsOpen)
			rep.StreamsOpen = holdOpen(ctx, s, o, up, streamBody)
			s.router.Stop()
			s.client.CloseIdleConnections()
		}
	}
	if o.Sustain {
		for _, s := range core {
			res := &SustainResult{}
			for _, rate := range o.SustainRates {
				logf("%-18s %6.0f rps  %s  sustain", s.name, rate, o.SustainDuration)
				st := s.step(ctx, "sustain", rate, o.SustainWarmup, o.SustainDuration, body, false, o, up)
				rep.Steps = append(rep.Steps, st)
				pass, why := sustained(st.Result, o.SustainP99)
				res.Tried = append(res.Tried, SustainTry{Rate: rate, P99: st.Result.Latency.P99, Errors: st.Result.ErrorCount(), Achieved: st.Result.Achieved, Pass: pass, Why: why})
				if !pass {
					sleepCtx(ctx, time.Second) // let an overloaded router drain before the next system
					break
				}
				res.Max = rate
			}
			res.Capped = len(res.Tried) == len(o.SustainRates) && res.Tried[len(res.Tried)-1].Pass
			rep.Sustain[s.name] = res
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.Targets = targets(rep)
	return rep, ctx.Err()
}

// compareSteps are the measured time and warm-up of a comparison step.
func (o Options) compareSteps() (d, warmup time.Duration) {
	d, warmup = o.CompareDuration, o.CompareWarmup
	if d == 0 {
		d = o.Duration / 2
	}
	if warmup == 0 {
		warmup = o.Warmup / 2
	}
	return d, warmup
}

func (o Options) behavior() Behavior {
	return Behavior{Delay: o.UpstreamDelay, Chunks: o.StreamChunks, ContentBytes: o.BodyBytes}
}

// defaultIdle starts the router with the default config and samples it and
// its plugins once they are ready and have settled, without traffic.
func defaultIdle(ctx context.Context, rep *Report, bin, config, tmp string) error {
	r, err := StartRouter(ctx, "default-config", bin, config, filepath.Join(tmp, "default.log"), 60*time.Second)
	if err != nil {
		return err
	}
	defer r.Stop()
	rep.DefaultIdle = settled(ctx, r)
	return nil
}

// settled samples r's processes once their total RSS has stopped moving
// (two samples 500 ms apart within 1%, at least 1 s after ready, at most 8 s).
func settled(ctx context.Context, r *Router) []Proc {
	start := time.Now()
	prev := r.Procs()
	for time.Since(start) < 8*time.Second && sleepCtx(ctx, 500*time.Millisecond) {
		cur := r.Procs()
		a, b := totalRSS(prev), totalRSS(cur)
		prev = cur
		if time.Since(start) >= time.Second && b > 0 && (a-b)*100 <= b && (b-a)*100 <= b {
			break
		}
	}
	return prev
}

func totalRSS(procs []Proc) int64 {
	var n int64
	for _, p := range procs {
		n += p.RSSKB
	}
	return n
}

// startSystem starts the system called name; tag is added to the names of
// its config and log files.
// redisURL is the private Redis of switchyard-redis.
func startSystem(ctx context.Context, name, tag string, o Options, up *Upstream, router, plugin, bin, tmp, redisURL string, logf func(string, ...any)) (*system, error) {
	s := &system{name: name, client: NewClient(o.MaxInflight), info: &SystemInfo{Name: name}}
	switch name {
	case SysDirect:
		s.url, s.model = up.URL()+"/v1/chat/completions", BenchModel
		s.info.Note = "the mock upstream itself (in the load test's process)"
		return s, nil
	case SysProxy:
		p, err := StartProxy(up.URL())
		if err != nil {
			return nil, err
		}
		s.close = func() { _ = p.Close() }
		s.url, s.model = p.URL+"/v1/chat/completions", BenchModel
		s.info.Note = "httputil.ReverseProxy in the load test's process, 1024 idle conns/host, FlushInterval -1"
		return s, nil
	}
	rules := [][]RuleSpec{{tieredRule(bin)}}
	if name == SysSwitchyard5 {
		rules = fiveRuleChains(bin)
	}
	var lastErr error
	for _, chain := range rules {
		cfg := RouterConfig{UpstreamURL: up.URL(), Plugin: plugin, Rules: chain,
			MaxInflight: max(1024, o.StreamsOpen+o.MaxInflight)}
		switch name {
		case SysLedger:
			cfg.LedgerURL = "sqlite:" + filepath.Join(tmp, name+tag+"-ledger.db")
		case SysKeys, SysRedis:
			k := benchKey
			cfg.Key = &k
			s.header = http.Header{}
			s.header.Set("Authorization", "Bearer "+k.Secret)
			if name == SysRedis {
				cfg.StateURL = redisURL
			}
		}
		path, err := cfg.WriteConfig(tmp, name+tag)
		if err != nil {
			return nil, err
		}
		logf("starting %s (%s)", name, ruleNames(chain))
		r, err := StartRouter(ctx, name, router, path, filepath.Join(tmp, name+tag+".log"), 60*time.Second)
		if err != nil {
			lastErr = err
			logf("%s did not start with %s: %v", name, ruleNames(chain), err)
			continue
		}
		s.router, s.url, s.model = r, r.URL+"/v1/chat/completions", BenchRoute
		s.info.Rules, s.info.Idle = ruleNames(chain), settled(ctx, r)
		s.info.Note = "bin/switchyard + switchyard-provider-openai subprocesses, config " + path
		return s, nil
	}
	return nil, lastErr
}

func tieredRule(bin string) RuleSpec {
	return RuleSpec{Name: "tiered", Module: filepath.Join(bin, "rules", "tiered.wasm"),
		Config: "{high_priority: 8, large_prompt_tokens: 2000, prefer_small: [" + BenchModel + "]}"}
}

// neutralRules are rules configured to have no opinion on the benchmark's
// requests (priority 5, one model priced 0.60 $/Mtok out), in order of
// preference. Each still reads the whole input.
var neutralRules = []RuleSpec{
	{Name: "priority-gate", Module: "priority-gate.wasm", Config: "{min_priority: 1}"},  // gate open
	{Name: "cheapest", Module: "cheapest.wasm", Config: "{max_usd_per_mtok_out: 0.01}"}, // nothing under the cap
	{Name: "conditional", Module: "conditional.wasm", Config: "{routes: [{when: {metadata.loadtest: never}, then: [" + BenchModel + "]}]}"},
	{Name: "cheapest-fit", Module: "cheapest-fit.wasm", Config: "{max_priority: 1}"}, // priority 5 is above it
	{Name: "priority-tiers", Module: "priority-tiers.wasm", Config: "{tiers: [{min_priority: 10, models: [" + BenchModel + "]}]}"},
	{Name: "budget", Module: "budget.wasm", Config: "{tiers: {gold: {models: [" + BenchModel + "]}}}"}, // no tier named, no default
}

// fiveRuleChains returns the chains to try for the five-rule system: four
// neutral rules that exist in bin/rules then tiered (which decides); and, in
// case one of those refuses its config, the same with only the first two
// neutral rules found, each loaded twice.
func fiveRuleChains(bin string) [][]RuleSpec {
	var found []RuleSpec
	for _, r := range neutralRules {
		p := filepath.Join(bin, "rules", r.Module)
		if _, err := os.Stat(p); err == nil {
			r.Module = p
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		// Nothing neutral was built: tiered five times (each one decides, the first wins).
		var chain []RuleSpec
		for i := range 5 {
			t := tieredRule(bin)
			t.Name = fmt.Sprintf("tiered-%d", i+1)
			chain = append(chain, t)
		}
		return [][]RuleSpec{chain}
	}
	fill := func(from []RuleSpec) []RuleSpec {
		var chain []RuleSpec
		for i := 0; len(chain) < 4; i++ {
			r := from[i%len(from)]
			if i >= len(from) {
				r.Name = fmt.Sprintf("%s-%d", r.Name, i/len(from)+1)
			}
			chain = append(chain, r)
		}
		return append(chain, tieredRule(bin))
	}
	chains := [][]RuleSpec{fill(found)}
	if len(found) > 2 {
		chains = append(chains, fill(found[:2]))
	}
	return chains
}

func ruleNames(chain []RuleSpec) []string {
	var out []string
	for _, r := range chain {
		out = append(out, r.Name)
	}
	return out
}

// check sends one whole and one streamed request and, for a router, one dry
// run: the system must answer 200, and the router's decision must come from
// tiered with every earlier rule having no opinion.
func (s *system) check(ctx context.Context, o Options) error {
	for _, stream := range []bool{false, true} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(requestBody(o.BodyBytes, stream)))
		s.setHeaders(req)
		resp, err := s.client.Do(req)
		if err != nil {
			return fmt.Errorf("loadtest/%s: first request: %w", s.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("loadtest/%s: first request: status %d: %.300s", s.name, resp.StatusCode, b)
		}
		if s.router != nil && !stream {
			s.info.DecidedBy = resp.Header.Get("X-Switchyard-Rule")
		}
	}
	if s.router == nil {
		return nil
	}
	if s.header != nil {
		// The key must be required, or the limits are not what is measured.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(requestBody(o.BodyBytes, false)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			return fmt.Errorf("loadtest/%s: request without a key: %w", s.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("loadtest/%s: a request without a key got %d, want 401: the key is not configured", s.name, resp.StatusCode)
		}
		s.info.Checks = append(s.info.Checks, "a request without the key is refused (401)")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.router.URL+"/v1/switchyard/route", bytes.NewReader(requestBody(o.BodyBytes, false)))
	s.setHeaders(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("loadtest/%s: dry run: %w", s.name, err)
	}
	defer resp.Body.Close()
	var dry struct {
		Trace []struct {
			Rule    string `json:"rule"`
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"trace"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dry); err != nil {
		return fmt.Errorf("loadtest/%s: dry run: %w", s.name, err)
	}
	for _, t := range dry.Trace {
		s.info.Trace = append(s.info.Trace, t.Rule+":"+t.Outcome)
	}
	return nil
}

// step runs warmup then a measured step against s, sampling the router's
// processes around the measured part.
func (s *system) step(ctx context.Context, kind string, rate float64, warmup, d time.Duration, body []byte, stream bool, o Options, up *Upstream) StepReport {
	spec := Step{URL: s.url, Body: body, Header: s.header, Stream: stream, Rate: rate, MaxInflight: o.MaxInflight, Drain: o.Drain}
	if warmup > 0 {
		spec.Duration = warmup
		Run(ctx, s.client, spec)
	}
	spec.Duration = d
	var before []Proc
	if s.router != nil {
		before = s.router.Procs()
	}
	var redis0 Proc
	if s.redisPID != 0 {
		redis0, _ = SampleProc(s.redisPID)
	}
	up0 := up.Requests()
	busy0 := sampleUser()
	res := Run(ctx, s.client, spec)
	others := sampleUser().othersSince(busy0)
	st := StepReport{System: s.name, Kind: kind, Stream: stream, Result: res, UpstreamRequests: up.Requests() - up0, Others: others}
	if s.redisPID != 0 {
		if redis1, err := SampleProc(s.redisPID); err == nil && res.OK > 0 {
			st.RedisCPU = redis1.CPU - redis0.CPU
			st.RedisCPUPerRequest = st.RedisCPU / time.Duration(res.OK)
		}
	}
	if s.router != nil {
		after := s.router.Procs()
		st.Procs = after
		st.CPU = cpuDelta(before, after)
		if res.OK > 0 {
			st.CPUPerRequest = st.CPU / time.Duration(res.OK)
		}
	}
	sleepCtx(ctx, 100*time.Millisecond)
	return st
}

// setHeaders sets Content-Type and the system's own headers on req.
func (s *system) setHeaders(req *http.Request) {
	req.Header.Set("Content-Type", "application/json")
	for k, v := range s.header {
		req.Header[k] = v
	}
}

// cpuDelta is the CPU time procs used between two samples; a process only
// in after (a restarted plugin) counts whole.
func cpuDelta(before, after []Proc) time.Duration {
	prev := map[int]time.Duration{}
	for _, p := range before {
		prev[p.PID] = p.CPU
	}
	var d time.Duration
	for _, p := range after {
		d += p.CPU - prev[p.PID]
	}
	return d
}

// sustained says whether a sustain step passed: p99 under limit, at most 1%
// of the requests without a good answer (dropped included), and at least
// 95% of the rate achieved.
func sustained(r StepResult, limit time.Duration) (bool, string) {
	switch {
	case r.OK == 0:
		return false, "no answers"
	case r.Latency.P99 >= limit:
		return false, fmt.Sprintf("p99 %s ms >= %s ms", ms(r.Latency.P99), ms(limit))
	case r.ErrorCount()*100 > r.Planned:
		return false, fmt.Sprintf("%d errors of %d", r.ErrorCount(), r.Planned)
	case r.Achieved < 0.95*r.Rate:
		return false, fmt.Sprintf("achieved %.0f rps", r.Achieved)
	}
	return true, ""
}

// holdOpen opens o.StreamsOpen streams through s (the mock stops each after
// its first chunk), samples the router's processes once they are all open,
// then lets them finish.
func holdOpen(ctx context.Context, s *system, o Options, up *Upstream, body []byte) *StreamsOpenResult {
	res := &StreamsOpenResult{Wanted: o.StreamsOpen, Before: s.router.Procs()}
	hold := make(chan struct{})
	b := o.behavior()
	b.Hold = hold
	up.SetBehavior(b)
	defer up.SetBehavior(o.behavior())
	client := NewClient(o.StreamsOpen + 16)
	defer client.CloseIdleConnections()

	// Open at 1000 streams/s at most (a burst of connections would measure
	// the accept queue, not the streams).
	opened := make(chan bool, o.StreamsOpen)
	var completed atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / 1000
	start := time.Now()
	for i := range o.StreamsOpen {
		if !sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*interval))) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				opened <- false
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				_, _ = io.Copy(io.Discard, resp.Body)
				opened <- false
				return
			}
			signalled := false
			sse, err := ScanSSE(bufio.NewReaderSize(resp.Body, 4096), func() { signalled = true; opened <- true })
			if !signalled {
				opened <- false
			}
			if err == nil && sse.Done && !sse.ErrorEvent {
				completed.Add(1)
			}
		}()
	}
	deadline := time.After(20 * time.Second)
wait:
	for n := 0; n < o.StreamsOpen; n++ {
		select {
		case ok := <-opened:
			if ok {
				res.Opened++
			} else {
				res.Failed++
			}
		case <-deadline:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	sleepCtx(ctx, time.Second) // let the router settle with every stream open
	res.Open = s.router.Procs()
	close(hold)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	res.Completed = int(completed.Load())
	return res
}

// requestBody is a chat completion request of about n bytes.
func requestBody(n int, stream bool) []byte {
	head := `{"model":"` + BenchRoute + `","max_tokens":256,`
	if stream {
		head += `"stream":true,"stream_options":{"include_usage":true},`
	}
	head += `"messages":[{"role":"user","content":"`
	tail := `"}]}`
	fill := max(n-len(head)-len(tail), 1)
	return []byte(head + filler(fill) + tail)
}

// raiseNoFile raises the open-files limit to at least want (up to the hard
// limit); the routers started later inherit it.
func raiseNoFile(want int) string {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "open files limit: " + err.Error()
	}
	if l.Cur >= uint64(want) {
		return fmt.Sprintf("open files limit %d", l.Cur)
	}
	l.Cur = min(max(uint64(want), l.Cur), l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "open files limit: " + err.Error()
	}
	return fmt.Sprintf("open files limit raised to %d", l.Cur)
}

func machine(binDir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(filepath.Join(binDir, "switchyard"), "--version").Output(); err == nil {
		m.Router = strings.TrimSpace(string(out))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
