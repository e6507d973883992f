package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// TestEvaluateOutcomes runs one fixture per case through a one-rule chain
// (plus, where it matters, a second rule that shows the chain goes on).
func TestEvaluateOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		outcome string
		errHas  string
		target  string // first target of the chain's decision, "" = none
		reject  int
	}{
		{name: "decided", fixture: "decide.wat", outcome: OutcomeDecided, target: "mock/mock-small"},
		{name: "no opinion", fixture: "noopinion.wat", outcome: OutcomeNoOpinion},
		{name: "reject", fixture: "reject.wat", outcome: OutcomeRejected, reject: 429},
		{name: "trap", fixture: "trap.wat", outcome: OutcomeError, errHas: "unreachable"},
		{name: "memory growth", fixture: "memgrow.wat", outcome: OutcomeError, errHas: "unreachable"},
		{name: "stack overflow", fixture: "recurse.wat", outcome: OutcomeError, errHas: "stack overflow"},
		{name: "output pointer out of range", fixture: "badptr.wat", outcome: OutcomeError, errHas: "outside memory"},
		{name: "oversized output", fixture: "oversize.wat", outcome: OutcomeError, errHas: "exceeds 64 KiB"},
		{name: "output not json", fixture: "notjson.wat", outcome: OutcomeError, errHas: "not a valid decision"},
		{name: "target not a candidate", fixture: "badtarget.wat", outcome: OutcomeError, errHas: "not among the candidates"},
		{name: "param not allowed", fixture: "badparams.wat", outcome: OutcomeError, errHas: "unknown field"},
		{name: "reject status not allowed", fixture: "badstatus.wat", outcome: OutcomeError, errHas: "not 400, 403, 429 or 503"},
		{name: "open a file fails", fixture: "openfile.wat", outcome: OutcomeDecided, target: "mock/mock-small"},
		{name: "env.abort traps", fixture: "abort.wat", outcome: OutcomeError, errHas: "abort"},
		{name: "log", fixture: "logger.wat", outcome: OutcomeDecided, target: "mock/mock-small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No fixture here loops: the deadline only bounds a loaded
			// machine under -race, where the stack overflow takes seconds.
			c := load(t, Options{}, Spec{Name: "fx", Path: wat(t, tt.fixture), Limits: Limits{Deadline: time.Minute, Pool: 1}})
			for round := range 2 { // the second round shows the rule still works (or still fails the same way)
				waitPool(t, c.all[0])
				res := c.Evaluate(context.Background(), testInput())
				if len(res.Trace) != 1 {
					t.Fatalf("round %d: trace has %d entries", round, len(res.Trace))
				}
				tr := res.Trace[0]
				if tr.Outcome != tt.outcome {
					t.Fatalf("round %d: outcome %q (error %q), want %q", round, tr.Outcome, tr.Error, tt.outcome)
				}
				if !strings.Contains(tr.Error, tt.errHas) {
					t.Errorf("round %d: error %q does not mention %q", round, tr.Error, tt.errHas)
				}
				got := ""
				if res.Decision != nil && len(res.Decision.Targets) > 0 {
					got = res.Decision.Targets[0].Provider + "/" + res.Decision.Targets[0].Model
				}
				if got != tt.target {
					t.Errorf("round %d: target %q, want %q", round, got, tt.target)
				}
				if tt.reject != 0 && (res.Decision == nil || res.Decision.Reject == nil || res.Decision.Reject.Status != tt.reject) {
					t.Errorf("round %d: decision %+v, want reject %d", round, res.Decision, tt.reject)
				}
				if res.Err != nil {
					t.Errorf("round %d: Err %v with on_error skip", round, res.Err)
				}
				if (res.Decision != nil) != (res.Rule != "") || res.Rule != "" && !strings.HasPrefix(res.Rule, "fx@") {
					t.Errorf("round %d: Rule %q with decision %v", round, res.Rule, res.Decision)
				}
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		errHas  string
	}{
		{name: "import not offered", fixture: "badimport.wat", errHas: "imports env.fetch, which the host does not offer"},
		{name: "missing sy_abi_v1", fixture: "noabi.wat", errHas: "does not export sy_abi_v1"},
		{name: "sy_init non-zero", fixture: "initfail.wat", errHas: "sy_init returned 7"},
		{name: "memory maximum over the limit", fixture: "bigmem.wat", errHas: "over limit of 256 pages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := wat(t, tt.fixture)
			c, err := Load(context.Background(), []Spec{{Name: "bad", Path: path}}, Options{})
			if err == nil {
				c.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			want := "rules/bad: " + path + ": "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %q, want prefix %q and %q", err, want, tt.errHas)
			}
		})
	}
}

// TestLoopStoppedAtDeadline: a looping rule is stopped at its deadline,
// counts as a timeout, and the next request is served, by the
// next rule of the chain and by the same rule's refilled pool.
func TestLoopStoppedAtDeadline(t *testing.T) {
	const deadline = 20 * time.Millisecond
	rec := &recorder{}
	c := load(t, Options{Observer: rec},
		Spec{Name: "loop", Path: wat(t, "loop.wat"), Limits: Limits{Deadline: deadline, Pool: 1}},
		Spec{Name: "decide", Path: wat(t, "decide.wat")},
	)
	looping := testInput()
	looping.Request.Tags = []string{"loop-forever"}
	for round := range 3 {
		waitPool(t, c.all[0])
		res := c.Evaluate(context.Background(), looping)
		// Stopped by its own deadline (not, say, by a test timeout); how
		// late is up to the machine's load.
		if tr := res.Trace[0]; tr.Outcome != OutcomeTimeout || !strings.Contains(tr.Error, "deadline") || tr.Duration < deadline {
			t.Fatalf("round %d: outcome %q (%s) after %s, want timeout at the deadline", round, tr.Outcome, tr.Error, tr.Duration)
		}
		if res.Rule == "" || !strings.HasPrefix(res.Rule, "decide@") {
			t.Fatalf("round %d: decided by %q, want the next rule", round, res.Rule)
		}
	}
	// The same rule serves a request that does not make it loop.
	waitPool(t, c.all[0])
	res := c.Evaluate(context.Background(), testInput())
	if res.Trace[0].Outcome != OutcomeDecided || !strings.HasPrefix(res.Rule, "loop@") {
		t.Fatalf("after timeouts: %+v, rule %q", res.Trace[0], res.Rule)
	}
	if got := strings.Join(rec.outcomes, " "); !strings.HasPrefix(got, "loop:timeout decide:decided") {
		t.Errorf("observer saw %q", got)
	}
}

func TestOnErrorFail(t *testing.T) {
	c := load(t, Options{},
		Spec{Name: "trap", Path: wat(t, "trap.wat"), OnError: OnErrorFail},
		Spec{Name: "decide", Path: wat(t, "decide.wat")},
	)
	res := c.Evaluate(context.Background(), testInput())
	if res.Err == nil || res.Err.Rule != "trap" || res.Err.Outcome != OutcomeError {
		t.Fatalf("Err = %v, want a trap error", res.Err)
	}
	if res.Decision != nil || len(res.Trace) != 1 {
		t.Fatalf("chain went on after a failing rule: %+v", res)
	}
}

func TestShadowAgreement(t *testing.T) {
	tests := []struct {
		name   string
		active string
		shadow string
		agreed bool
	}{
		{name: "same target", active: "decide.wat", shadow: "decide.wat", agreed: true},
		{name: "both reject", active: "reject.wat", shadow: "reject.wat", agreed: true},
		{name: "target vs reject", active: "decide.wat", shadow: "reject.wat", agreed: false},
		{name: "no decision vs target", active: "noopinion.wat", shadow: "decide.wat", agreed: false},
		{name: "both without decision", active: "noopinion.wat", shadow: "noopinion.wat", agreed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, Options{},
				Spec{Name: "shadowed", Path: wat(t, tt.shadow), Mode: ModeShadow},
				Spec{Name: "active", Path: wat(t, tt.active)},
			)
			res := c.Evaluate(context.Background(), testInput())
			if got, ok := res.ShadowAgreement["shadowed"]; !ok || got != tt.agreed {
				t.Fatalf("agreement = %v (present %v), want %v", got, ok, tt.agreed)
			}
			if len(res.Trace) != 2 || res.Trace[1].Rule != "shadowed" || res.Trace[1].Mode != ModeShadow {
				t.Fatalf("trace %+v: want the shadow rule last", res.Trace)
			}
			if strings.HasPrefix(res.Rule, "shadowed@") {
				t.Fatalf("a shadow rule decided")
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	var logs bytes.Buffer
	rec := &recorder{}
	c := load(t, Options{Observer: rec, Logger: slog.New(slog.NewTextHandler(&logs, nil)), QuarantineAfter: 3},
		// A generous deadline: the pool of one refills in the background after each trap,
		// and on a loaded machine that can take longer than the default 5ms.
		Spec{Name: "trap", Path: wat(t, "trap.wat"), Limits: Limits{Pool: 1, Deadline: time.Second}},
		Spec{Name: "decide", Path: wat(t, "decide.wat")},
	)
	var outcomes []string
	for range 5 {
		waitPool(t, c.all[0])
		res := c.Evaluate(context.Background(), testInput())
		outcomes = append(outcomes, res.Trace[0].Outcome)
		if !strings.HasPrefix(res.Rule, "decide@") {
			t.Fatalf("request not served by the next rule: %q", res.Rule)
		}
	}
	want := "error error error quarantined quarantined"
	if got := strings.Join(outcomes, " "); got != want {
		t.Fatalf("outcomes %q, want %q", got, want)
	}
	if got := rec.changes(); len(got) != 1 || got[0] != "trap:true" {
		t.Errorf("RuleQuarantineChanged calls: %v", got)
	}
	if !strings.Contains(logs.String(), "quarantined") || !strings.Contains(logs.String(), "rule=trap") {
		t.Errorf("no quarantine log line: %s", logs.String())
	}
	if info := c.Rules(); !info[0].Quarantined || info[0].Failures != 3 || info[1].Quarantined || info[1].Failures != 0 {
		t.Errorf("Rules() = %+v", info)
	}
}

func TestGuestLog(t *testing.T) {
	var logs bytes.Buffer
	c := load(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		Spec{Name: "chatty", Path: wat(t, "logger.wat")})
	for range 50 {
		c.Evaluate(context.Background(), testInput())
	}
	out := logs.String()
	if !strings.Contains(out, `msg="hello from wasm" rule=chatty`) || !strings.Contains(out, "level=WARN") {
		t.Fatalf("log: %s", out)
	}
	if n := strings.Count(out, "hello from wasm"); n >= 50 || n < logBurst {
		t.Errorf("%d lines logged of 50: want the rate limit (burst %d) to drop some", n, logBurst)
	}
}

func TestHeadersFiltered(t *testing.T) {
	in := testInput()
	got := string(abi.AppendInput(nil, in, []string{"x-tenant"}))
	if !strings.Contains(got, `"headers":{"x-tenant":"acme"}`) || strings.Contains(got, "x-secret") {
		t.Fatalf("headers not filtered: %s", got)
	}
	if !strings.HasPrefix(got, `{"abi":1,`) {
		t.Fatalf("abi missing: %s", got)
	}
}

// TestContentPerRule: each rule of a chain sees request.content as its own
// Spec says, whatever the rules around it see (the chain shares one encoding
// between rules only when their view is the same), and the chain reports the
// largest size for the pipeline.
func TestContentPerRule(t *testing.T) {
	no := wat(t, "noopinion.wat")
	specs := []Spec{
		{Name: "plain", Path: no},
		{Name: "small", Path: no, ContentBytes: 8},
		{Name: "small-too", Path: no, ContentBytes: 8},
		{Name: "plain-again", Path: no},
		{Name: "large", Path: no, ContentBytes: 4096, Headers: []string{"x-tenant"}},
		{Name: "shadow", Path: no, ContentBytes: 16, Mode: ModeShadow},
	}
	c := load(t, Options{}, specs...)
	if got := c.ContentBytes(); got != 4096 {
		t.Fatalf("ContentBytes() = %d, want 4096", got)
	}
	if got := load(t, Options{}, Spec{Name: "plain", Path: no}).ContentBytes(); got != 0 {
		t.Fatalf("a chain without content rules: ContentBytes() = %d", got)
	}
	for _, in := range []*Input{testInput(), testkit.InputWithContent()} {
		in.Trace = true
		res := c.Evaluate(context.Background(), in)
		if len(res.Trace) != len(specs) {
			t.Fatalf("%d traces", len(res.Trace))
		}
		for i, tr := range res.Trace {
			s := specs[i]
			sum := sha256.Sum256(abi.AppendInputFor(nil, in, s.Headers, s.ContentBytes))
			if tr.InputSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("rule %s (content %d, input with content %v) saw another input", s.Name, s.ContentBytes, in.Request.Content != nil)
			}
		}
	}
}

// TestConcurrentEvaluate runs many evaluations and validations at once over
// small pools, with rules that loop now and then; run it with -race.
func TestConcurrentEvaluate(t *testing.T) {
	c := load(t, Options{QuarantineAfter: -1},
		Spec{Name: "loop", Path: wat(t, "loop.wat"), Limits: Limits{Deadline: 5 * time.Millisecond, Pool: 2}},
		// decide never loops: its deadline only bounds the wait for one of its two
		// instances among eight goroutines, which a loaded machine (-race, other test
		// binaries) can stretch far past the default; the test is about the decision.
		Spec{Name: "decide", Path: wat(t, "decide.wat"), Limits: Limits{Deadline: time.Minute, Pool: 2}},
		Spec{Name: "judge", Path: wat(t, "validate_retry.wat"), Limits: Limits{Deadline: 5 * time.Millisecond, Pool: 2}},
		Spec{Name: "shadow", Path: wat(t, "reject.wat"), Mode: ModeShadow, Limits: Limits{Pool: 1}},
	)
	var (
		wg      sync.WaitGroup
		retries atomic.Int32
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				in := testInput()
				if (g+i)%10 == 0 {
					in.Request.Tags = []string{"loop-forever"}
				}
				res := c.Evaluate(context.Background(), in)
				if res.Decision == nil || res.Err != nil {
					t.Errorf("no decision: %+v", res.Trace)
					return
				}
				content, want := "fine", VerdictAccept
				switch (g + i) % 7 {
				case 0:
					content = "LOOP" // a timeout, skipped
				case 1:
					content, want = "RETRY", VerdictRetry
				}
				// A validation that finds no free instance in time (the
				// looping ones hold theirs) is skipped: accept.
				switch v := c.Validate(context.Background(), validateInput(content)); v.Verdict {
				case want:
					if want == VerdictRetry {
						retries.Add(1)
					}
				case VerdictAccept:
				default:
					t.Errorf("Validate(%q) = %+v, want %s", content, v, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if retries.Load() == 0 {
		t.Error("no validation said retry")
	}
}

// TestPoolExhaustedIsTimeout: an evaluation that finds no free instance
// within the deadline counts as a timeout, without quarantining the rule.
func TestPoolExhaustedIsTimeout(t *testing.T) {
	c := load(t, Options{QuarantineAfter: 1},
		Spec{Name: "decide", Path: wat(t, "decide.wat"), Limits: Limits{Deadline: 10 * time.Millisecond, Pool: 1}})
	r := c.all[0]
	held := <-r.pool // take the only instance
	res := c.Evaluate(context.Background(), testInput())
	r.pool <- held
	if tr := res.Trace[0]; tr.Outcome != OutcomeTimeout || !strings.Contains(tr.Error, "no free instance") {
		t.Fatalf("trace %+v", tr)
	}
	if res := c.Evaluate(context.Background(), testInput()); res.Trace[0].Outcome != OutcomeDecided {
		t.Fatalf("after the pool freed up: %+v", res.Trace[0])
	}
}

func TestLoadSpecErrors(t *testing.T) {
	decide := wat(t, "decide.wat")
	tests := []struct {
		name   string
		specs  []Spec
		errHas string
	}{
		{name: "missing file", specs: []Spec{{Name: "x", Path: "/nonexistent.wasm"}}, errHas: "rules/x: /nonexistent.wasm: "},
		{name: "duplicate name", specs: []Spec{{Name: "x", Path: decide}, {Name: "x", Path: decide}}, errHas: "used twice"},
		{name: "bad mode", specs: []Spec{{Name: "x", Path: decide, Mode: "passive"}}, errHas: `mode "passive"`},
		{name: "bad on_error", specs: []Spec{{Name: "x", Path: decide, OnError: "retry"}}, errHas: `on_error "retry"`},
		{name: "config not json", specs: []Spec{{Name: "x", Path: decide, Config: []byte("{")}}, errHas: "config is not valid JSON"},
		{name: "content too large", specs: []Spec{{Name: "x", Path: decide, ContentBytes: abi.MaxContentBytes + 1}}, errHas: "content max_bytes 65537 is not 1..65536"},
		{name: "content negative", specs: []Spec{{Name: "x", Path: decide, ContentBytes: -1}}, errHas: "content max_bytes -1"},
		{name: "not wasm", specs: []Spec{{Name: "x", Path: "testdata/README.md"}}, errHas: "compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(context.Background(), tt.specs, Options{})
			if err == nil {
				c.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %q, want %q", err, tt.errHas)
			}
		})
	}
}

func TestRulesAndClose(t *testing.T) {
	path := wat(t, "decide.wat")
	c, err := Load(context.Background(), []Spec{{Name: "a", Path: path}, {Name: "b", Path: path, Mode: ModeShadow}}, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	info := c.Rules()
	if len(info) != 2 || info[0].Name != "a" || info[0].Mode != ModeActive || info[1].Mode != ModeShadow || len(info[0].SHA256) != 64 || info[0].Path != path {
		t.Fatalf("Rules() = %+v", info)
	}
	if res := c.Evaluate(context.Background(), testInput()); res.Rule != "a@"+info[0].SHA256[:12] {
		t.Fatalf("Rule = %q", res.Rule)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if res := c.Evaluate(context.Background(), testInput()); res.Decision != nil || len(res.Trace) != 0 {
		t.Fatalf("closed chain decided: %+v", res)
	}
}
