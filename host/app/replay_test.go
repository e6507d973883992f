package app

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/rules"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// repoRoot is the module root, above the package's folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", d, err)
	}
	return d
}

// buildWAT compiles a WAT rule of the repository (a path from its root) with wabt, as the
// Makefile builds WAT rules; a missing wat2wasm fails the test.
func buildWAT(t *testing.T, src string) string {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found: install wabt (`make toolchains`, or apt-get install wabt)")
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
	if b, err := exec.Command(tool, filepath.Join(repoRoot(t), src), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
	}
	return out
}

// The marks of what a request's input holds that a replay must never print: its prompt,
// its user and its metadata.
const (
	promptMark = "PROMPT-MARK-prod-password-4242"
	userMark   = "user-mark-77"
	metaMark   = "meta-mark-31"
)

// replayInput is a recorded rule input (the bytes the router stores) of a request for
// route at priority, over the four mock models in route order.
func replayInput(id, route string, priority int, at time.Time) []byte {
	cand := func(model string, window int64, in float64) abi.Candidate {
		return abi.Candidate{Provider: "mock", Model: model, ContextWindow: window, USDPerMTokIn: in, USDPerMTokOut: 4 * in,
			Capabilities: []string{"stream"}, Healthy: true, Circuit: "closed", P50MS: 100, P95MS: 300}
	}
	in := &abi.Input{NowUnixMS: at.UnixMilli(), RandomSeed: 8812,
		Request: abi.RequestView{ID: id, Endpoint: "chat.completions", Model: route, Priority: priority,
			PromptTokensEstimate: 500, MaxTokens: 1024, Messages: 2, Chars: 2000, Key: "team-a", User: userMark,
			Metadata: map[string]json.RawMessage{"note": json.RawMessage(`"` + metaMark + `"`)},
			Content:  &abi.Content{LastUser: promptMark, System: "be brief"}},
		Candidates: []abi.Candidate{cand("mock-large", 128000, 2.5), cand("mock-medium", 32768, 0.5),
			cand("mock-small", 8192, 0.1), cand("mock-tiny", 4096, 0.05)}}
	return abi.EncodeInput(in, nil)
}

// replayFixture is a config whose one rule is example-wat ("fit", high_priority 8) and a
// SQLite ledger holding what that rule decided: r1 (default, priority 9: the largest
// windows first), r2 (default, priority 5: the cheapest first), r3 (smart, priority 5),
// r4 (default, no input recorded), r5 (default, priority 9, two days ago).
type replayFixture struct {
	cfg, fit, ledger string
	inputs           [][]byte
}

var (
	largestFirst  = []string{"mock/mock-large", "mock/mock-medium", "mock/mock-small"}
	cheapestFirst = []string{"mock/mock-tiny", "mock/mock-small", "mock/mock-medium"}
)

func newReplayFixture(t *testing.T) *replayFixture {
	t.Helper()
	t.Setenv("SWITCHYARD_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	f := &replayFixture{fit: buildWAT(t, "rules-wasm/example-wat/example-wat.wat"), ledger: filepath.Join(dir, "ledger.db")}
	f.cfg = filepath.Join(dir, "switchyard.yaml")
	text := `providers:
  - {name: mock, plugin: /bin/true}
models:
  - {name: mock-large, provider: mock, context_window: 128000, usd_per_mtok_in: 2.5}
  - {name: mock-medium, provider: mock, context_window: 32768, usd_per_mtok_in: 0.5}
  - {name: mock-small, provider: mock, context_window: 8192, usd_per_mtok_in: 0.1}
  - {name: mock-tiny, provider: mock, context_window: 4096, usd_per_mtok_in: 0.05}
routes:
  - {name: default, targets: [mock-large, mock-medium, mock-small, mock-tiny]}
  - {name: smart, targets: [mock-large, mock-medium, mock-small, mock-tiny]}
rules:
  - name: fit
    module: ` + f.fit + `
    config: {high_priority: 8}
ledger:
  url: sqlite:ledger.db
  record_inputs: all
`
	if err := os.WriteFile(f.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := ledger.OpenSQLite(ctx, f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	row := func(id, route string, priority int, ago time.Duration, targets []string) ledger.Row {
		at := now.Add(-ago)
		in := replayInput(id, route, priority, at)
		for _, mark := range []string{promptMark, userMark, metaMark} {
			if !strings.Contains(string(in), mark) {
				t.Fatalf("the recorded input lacks %q, so its absence from the output proves nothing: %s", mark, in)
			}
		}
		f.inputs = append(f.inputs, in)
		return ledger.Row{ID: id, Time: at, Key: "team-a", Endpoint: "chat.completions", Route: route, Rule: "fit@0123456789ab",
			Targets: targets, Attempts: 1, Provider: "mock", Model: strings.TrimPrefix(targets[0], "mock/"), Status: 200,
			RuleInput: in, Trace: []byte(`{"rule":"fit@0123456789ab","rules":[]}`)}
	}
	rows := []ledger.Row{
		row("r1", "default", 9, time.Hour, largestFirst),
		row("r2", "default", 5, 2*time.Hour, cheapestFirst),
		row("r3", "smart", 5, 3*time.Hour, cheapestFirst),
		{ID: "r4", Time: now.Add(-30 * time.Minute), Route: "default", Rule: "fit@0123456789ab", Targets: largestFirst, Status: 200},
		row("r5", "default", 9, 48*time.Hour, largestFirst),
	}
	if err := db.Write(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return f
}

// replay runs `switchyard rules replay` with the fixture's config and args.
func (f *replayFixture) replay(t *testing.T, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	err, stdout, stderr = run(t, append([]string{"rules", "replay", "--config", f.cfg}, args...)...)
	// Whatever the outcome, nothing of an input is ever printed.
	for _, out := range []string{stdout, stderr, errText(err)} {
		for _, mark := range []string{promptMark, userMark, metaMark, "be brief"} {
			if strings.Contains(out, mark) {
				t.Errorf("the output shows the input's %q:\n%s", mark, out)
			}
		}
		for _, in := range f.inputs {
			if strings.Contains(out, string(in)) {
				t.Errorf("the output holds a recorded input:\n%s", out)
			}
		}
	}
	return err, stdout, stderr
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// replayJSON runs a replay with --json and decodes its report.
func (f *replayFixture) replayJSON(t *testing.T, args ...string) replayReport {
	t.Helper()
	err, out, errOut := f.replay(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("replay %v: %v\n%s", args, err, errOut)
	}
	var rep replayReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	return rep
}

// counts is a report's route counts: route replayed/changed/unchanged/errors, by route.
func counts(rep replayReport) map[string][4]int {
	m := map[string][4]int{}
	for _, r := range rep.Routes {
		m[r.Route] = [4]int{r.Replayed, r.Changed, r.Unchanged, r.Errors}
	}
	return m
}

func sameCounts(t *testing.T, what string, rep replayReport, want map[string][4]int) {
	t.Helper()
	got := counts(rep)
	if len(got) != len(want) {
		t.Errorf("%s: routes %v, want %v", what, got, want)
	}
	for route, w := range want {
		if got[route] != w {
			t.Errorf("%s: route %s replayed/changed/unchanged/errors %v, want %v", what, route, got[route], w)
		}
	}
}

// TestReplaySameModule: the module that made the recorded decisions, with its config,
// changes none of them; the row without an input is skipped and named, and the one older
// than --since is not read.
func TestReplaySameModule(t *testing.T) {
	f := newReplayFixture(t)
	err, out, errOut := f.replay(t, "--module", f.fit)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{`as rule "fit"`, "4, 3 with a recorded input, 1 skipped (no input recorded)",
		"ROUTE", "default  2         0        2          0", "smart    1         0        1          0",
		"(all)    3         0        3          0", "hint: 1 row(s) have no recorded rule input: set ledger.record_inputs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "→") || strings.Contains(out, "failed on") {
		t.Errorf("changes or errors shown for an identical module:\n%s", out)
	}
	rep := f.replayJSON(t, "--module", f.fit)
	sameCounts(t, "same module", rep, map[string][4]int{"default": {2, 0, 2, 0}, "smart": {1, 0, 1, 0}})
	if rep.Rows != 4 || rep.WithInput != 3 || rep.Skipped != 1 || rep.Replayed != 3 || rep.Changed != 0 || rep.Limited ||
		rep.Rule != "fit" || len(rep.SHA256) != 64 || rep.Hint == "" {
		t.Errorf("report %+v", rep)
	}
}

// TestReplayChanged: a module that decides otherwise, a config that does, and a module
// that rejects: the changes are counted per route and sampled, recorded → new.
func TestReplayChanged(t *testing.T) {
	f := newReplayFixture(t)
	t.Run("another module", func(t *testing.T) {
		decide := buildWAT(t, "host/rules/testdata/decide.wat") // always mock/mock-small
		err, out, errOut := f.replay(t, "--module", decide)
		if err != nil {
			t.Fatalf("changed decisions must exit 0: %v\n%s", err, errOut)
		}
		for _, want := range []string{"default  2         2        0          0", "smart    1         1        0          0",
			"route default: 2 of 2 decisions change:",
			"  r1  ", "mock/mock-large, mock/mock-medium, mock/mock-small → mock/mock-small",
			"  r2  ", "mock/mock-tiny, mock/mock-small, mock/mock-medium → mock/mock-small",
			"route smart: 1 of 1 decisions change:", "  r3  "} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// Newest first.
		if strings.Index(out, "  r1  ") > strings.Index(out, "  r2  ") {
			t.Errorf("r2 shown before r1:\n%s", out)
		}
		rep := f.replayJSON(t, "--module", decide)
		sameCounts(t, "decide", rep, map[string][4]int{"default": {2, 2, 0, 0}, "smart": {1, 1, 0, 0}})
		c := rep.Routes[0].Changes[0]
		if c.ID != "r1" || strings.Join(c.Recorded.Targets, " ") != strings.Join(largestFirst, " ") ||
			strings.Join(c.New.Targets, " ") != "mock/mock-small" {
			t.Errorf("first change %+v", c)
		}
		// --sample bounds what is shown, not what is counted.
		rep = f.replayJSON(t, "--module", decide, "--sample", "1")
		if len(rep.Routes[0].Changes) != 1 || rep.Routes[0].Changed != 2 {
			t.Errorf("--sample 1: %+v", rep.Routes[0])
		}
		err, out, _ = f.replay(t, "--module", decide, "--sample", "1")
		if err != nil || !strings.Contains(out, "route default: 2 of 2 decisions change (the newest 1):") || strings.Contains(out, "  r2  ") {
			t.Errorf("--sample 1: %v\n%s", err, out)
		}
	})
	t.Run("another config", func(t *testing.T) {
		// At high_priority 4, priority 5 gets the largest windows too: r2 and r3 change.
		rep := f.replayJSON(t, "--module", f.fit, "--rule-config", "high_priority: 4")
		sameCounts(t, "high_priority 4", rep, map[string][4]int{"default": {2, 1, 1, 0}, "smart": {1, 1, 0, 0}})
		if c := rep.Routes[0].Changes; len(c) != 1 || c[0].ID != "r2" || strings.Join(c[0].New.Targets, " ") != strings.Join(largestFirst, " ") {
			t.Errorf("changes %+v", c)
		}
		cfgFile := filepath.Join(t.TempDir(), "fit.json")
		if err := os.WriteFile(cfgFile, []byte(`{"high_priority": 8}`), 0o600); err != nil {
			t.Fatal(err)
		}
		rep = f.replayJSON(t, "--module", f.fit, "--rule-config", "@"+cfgFile)
		if rep.Changed != 0 || rep.Replayed != 3 {
			t.Errorf("the entry's own config from a file: %+v", rep)
		}
	})
	t.Run("rejects and no opinion", func(t *testing.T) {
		// priority-gate at 6 rejects priority 5 (429) and has no opinion on 9: the route's
		// default targets, all four models in route order.
		gate := buildWAT(t, "rules-wasm/priority-gate/priority-gate.wat")
		err, out, errOut := f.replay(t, "--module", gate, "--rule-config", `{"min_priority": 6}`)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		for _, want := range []string{"mock/mock-tiny, mock/mock-small, mock/mock-medium → reject 429",
			"mock/mock-large, mock/mock-medium, mock/mock-small → mock/mock-large, mock/mock-medium, mock/mock-small, mock/mock-tiny"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestReplayErrors: a module that traps on every input counts errors, with their messages,
// not changes.
func TestReplayErrors(t *testing.T) {
	f := newReplayFixture(t)
	trap := buildWAT(t, "host/rules/testdata/trap.wat")
	err, out, errOut := f.replay(t, "--module", trap)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{"default  2         0        0          2", "route default: the new module failed on 2 of 2 inputs:",
		"  r1  ", "error: ", "unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rep := f.replayJSON(t, "--module", trap)
	sameCounts(t, "trap", rep, map[string][4]int{"default": {2, 0, 0, 2}, "smart": {1, 0, 0, 1}})
	if s := rep.Routes[1].ErrorSamples; len(s) != 1 || s[0].ID != "r3" || !strings.HasPrefix(s[0].Error, "error: ") {
		t.Errorf("error samples %+v", s)
	}
}

// TestReplaySelection: --route, --since, --limit and --from-ledger choose the rows.
func TestReplaySelection(t *testing.T) {
	f := newReplayFixture(t)
	rep := f.replayJSON(t, "--module", f.fit, "--route", "smart")
	sameCounts(t, "--route smart", rep, map[string][4]int{"smart": {1, 0, 1, 0}})
	if rep.Rows != 1 || rep.Skipped != 0 || rep.Filters != "route=smart" {
		t.Errorf("--route smart: %+v", rep)
	}
	rep = f.replayJSON(t, "--module", f.fit, "--since", "72h")
	sameCounts(t, "--since 72h", rep, map[string][4]int{"default": {3, 0, 3, 0}, "smart": {1, 0, 1, 0}})
	rep = f.replayJSON(t, "--module", f.fit, "--since", "72h", "--until", "24h")
	sameCounts(t, "--until 24h", rep, map[string][4]int{"default": {1, 0, 1, 0}})
	rep = f.replayJSON(t, "--module", f.fit, "--limit", "1")
	sameCounts(t, "--limit 1", rep, map[string][4]int{"default": {1, 0, 1, 0}})
	if !rep.Limited || rep.WithInput != 3 {
		t.Errorf("--limit 1: %+v", rep)
	}
	rep = f.replayJSON(t, "--module", f.fit, "--from-ledger", "route=default&since=72h&key=team-a&status=2xx")
	sameCounts(t, "--from-ledger", rep, map[string][4]int{"default": {3, 0, 3, 0}})
	if rep.Rows != 3 || rep.Skipped != 0 { // r4 has no key
		t.Errorf("--from-ledger: %+v", rep)
	}
	rep = f.replayJSON(t, "--module", f.fit, "--from-ledger", "/admin/requests?model=mock-tiny&limit=5")
	sameCounts(t, "--from-ledger URL", rep, map[string][4]int{"default": {1, 0, 1, 0}, "smart": {1, 0, 1, 0}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--route", "smart", "--from-ledger", "route=default"}, "--route and --from-ledger's route= both given"},
		{[]string{"--from-ledger", "modle=x"}, `unknown parameter "modle"`},
		{[]string{"--from-ledger", "limit=0"}, "limit"},
		{[]string{"--from-ledger", "status=3xx"}, "status"},
		{[]string{"--since", "yesterday"}, "since"},
		{[]string{"--since", "1h", "--until", "2h"}, "is not before until"},
	} {
		err, out, _ := f.replay(t, append([]string{"--module", f.fit}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if out != "" {
			t.Errorf("%v: printed %q", tc.args, out)
		}
	}
}

// TestReplayBadFiles: a bad module, config or ledger fails with a message naming the file.
func TestReplayBadFiles(t *testing.T) {
	f := newReplayFixture(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junk, []byte("not wasm"), 0o600); err != nil {
		t.Fatal(err)
	}
	noLedger := filepath.Join(dir, "noledger.yaml")
	text, _ := os.ReadFile(f.cfg)
	if err := os.WriteFile(noLedger, []byte(strings.Replace(string(text), "sqlite:ledger.db", "sqlite:missing.db", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no module flag", []string{"--config", f.cfg}, []string{"--module is required"}},
		{"missing module", []string{"--config", f.cfg, "--module", filepath.Join(dir, "gone.wasm")}, []string{"gone.wasm"}},
		{"not a module", []string{"--config", f.cfg, "--module", junk}, []string{"rules/fit", junk}},
		{"missing config", []string{"--config", filepath.Join(dir, "gone.yaml"), "--module", f.fit}, []string{"gone.yaml"}},
		{"missing ledger", []string{"--config", noLedger, "--module", f.fit}, []string{filepath.Join(dir, "missing.db"), "does not exist"}},
		{"unknown rule", []string{"--config", f.cfg, "--module", f.fit, "--rule", "nope"}, []string{f.cfg, `no rule "nope"`}},
		{"bad rule config", []string{"--config", f.cfg, "--module", f.fit, "--rule-config", "[1, 2"}, []string{"--rule-config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, out, _ := run(t, append([]string{"rules", "replay"}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("printed %q", out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a replay created the missing ledger")
	}
}

// TestReplaySpecs: which rule entry the module replaces, and how the chain is set up.
func TestReplaySpecs(t *testing.T) {
	two := &config.File{Path: "/etc/sy.yaml", Rules: []config.Rule{
		{Name: "gate", Module: "/rules/priority-gate.wasm", Config: map[string]any{"min_priority": 2}},
		{Name: "fit", Module: "/rules/example-wat.wasm", Mode: rules.ModeShadow, Headers: []string{"x-tier"},
			Content: &config.RuleContent{MaxBytes: 100}, Memory: 32},
	}}
	for _, tc := range []struct {
		name, module, rule string
		cfg                *config.File
		want               string // the replaced rule, or the error's text
		at                 int
	}{
		{"by file name", "/new/example-wat.wasm", "", two, "fit", 1},
		{"by rule name", "/new/gate.wasm", "", two, "gate", 0},
		{"by flag", "/new/x.wasm", "fit", two, "fit", 1},
		{"ambiguous", "/new/x.wasm", "", two, "has rules gate, fit: name the one x.wasm replaces with --rule", -1},
		{"unknown", "/new/x.wasm", "nope", two, `/etc/sy.yaml has no rule "nope" (its rules: gate, fit)`, -1},
		{"the only rule", "/new/x.wasm", "", &config.File{Rules: two.Rules[:1]}, "gate", 0},
		{"no rules", "/new/My Rule.wasm", "", &config.File{}, "my-rule", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, name, err := replaySpecs(tc.cfg, tc.module, tc.rule, json.RawMessage(`{"k":1}`), 3*time.Second)
			if tc.at < 0 {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || name != tc.want {
				t.Fatalf("replaced %q (%v), want %q", name, err, tc.want)
			}
			if len(specs) != max(1, len(tc.cfg.Rules)) {
				t.Fatalf("%d specs", len(specs))
			}
			for i, s := range specs {
				if s.Limits.Deadline != 3*time.Second || s.Limits.Pool != 1 {
					t.Errorf("spec %d limits %+v", i, s.Limits)
				}
				if i == tc.at {
					if s.Path != tc.module || s.Mode != rules.ModeActive || string(s.Config) != `{"k":1}` || s.Name != tc.want {
						t.Errorf("the replaced spec %+v", s)
					}
					continue
				}
				if s.Path != tc.cfg.Rules[i].Module || string(s.Config) != string(tc.cfg.Rules[i].ConfigJSON()) {
					t.Errorf("spec %d changed: %+v", i, s)
				}
			}
		})
	}
	// The entry's other settings stay: headers, content, memory.
	specs, _, _ := replaySpecs(two, "/new/example-wat.wasm", "", nil, time.Second)
	if s := specs[1]; strings.Join(s.Headers, ",") != "x-tier" || s.ContentBytes != 100 || s.Limits.MemoryMiB != 32 || string(s.Config) != "{}" {
		t.Errorf("fit's settings: %+v", s)
	}
}
