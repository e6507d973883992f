package abi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// TestSDKsReadKeyState: the C, Rust, AssemblyScript and WAT SDKs read request.team,
// request.budget and request.limits as this encoder writes them (the Go SDK is tested
// on sdk/rule/testdata/router-input-budget.json). Each SDK has a probe in its
// testdata/ that answers with the first candidate and, as its reason, what it read
// (amounts in thousandths, then the SDK's fractions; WAT has no fraction helpers). The
// probes run in the real engine, as rules do; a missing toolchain fails the test, as
// for the shipped rules.
func TestSDKsReadKeyState(t *testing.T) {
	root := testkit.RepoRoot(t)
	probes := []struct {
		sdk       string
		path      func(t *testing.T) string
		fractions bool
	}{
		{"c", func(t *testing.T) string { return testkit.C(t, "sdk/rule/c/testdata/probe.c") }, true},
		{"rust", func(t *testing.T) string { return testkit.Rust(t, "sdk/rule/rust/testdata/probe.rs") }, true},
		{"assemblyscript", func(t *testing.T) string { return testkit.AS(t, "sdk/rule/assemblyscript/testdata/probe.ts") }, true},
		{"wat", func(t *testing.T) string { return watProbe(t, root) }, false},
	}
	inputs := []struct {
		name      string
		in        *abi.Input
		want      string
		fractions string
	}{
		{"team, budget and limits", inputWithBudget(),
			"team=research budget=10000,day,8500,1500,1764028800000 limits=30,12,100000,5000", "150,400,50"},
		{"none of them", testkit.Input(), "team= budget=none limits=none", "0,1000,1000"},
		{"total budget, no token limit", func() *abi.Input {
			in := testkit.InputWithContent()
			in.Request.Team = "ops"
			in.Request.Budget = &abi.BudgetView{USD: 0.25, Period: abi.BudgetPeriodTotal, SpentUSD: 0.2, RemainingUSD: 0.05}
			in.Request.Limits = &abi.LimitsView{RPM: 60, RPMRemaining: 0}
			return in
		}(), "team=ops budget=250,total,200,50,0 limits=60,0,0,0", "200,0,1000"},
		{"budget spent", func() *abi.Input {
			in := inputWithBudget()
			in.Request.Budget.SpentUSD, in.Request.Budget.RemainingUSD = 10.75, 0
			in.Request.Limits = nil
			return in
		}(), "team=research budget=10000,day,10750,0,1764028800000 limits=none", "0,1000,1000"},
	}
	for _, p := range probes {
		t.Run(p.sdk, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c, err := rules.Load(ctx, []rules.Spec{{Name: "probe-" + p.sdk, Path: p.path(t), ContentBytes: 64,
				Limits: rules.Limits{Deadline: time.Second, Pool: 1}}}, rules.Options{CacheDir: testkit.CacheDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			for _, tc := range inputs {
				res := c.Evaluate(ctx, tc.in)
				if res.Decision == nil {
					t.Fatalf("%s: no decision: %+v", tc.name, res.Trace)
				}
				want := tc.want
				if p.fractions {
					want += " fractions=" + tc.fractions
				}
				if res.Decision.Reason != want {
					t.Errorf("%s:\n got %s\nwant %s", tc.name, res.Decision.Reason, want)
				}
			}
		})
	}
}

// watProbe builds the WAT probe: template.wat's kit (up to its "THE RULE" line), then
// sdk/rule/wat/testdata/probe-rule.wat, so the probe runs on the kit as it is.
func watProbe(t *testing.T, root string) string {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatalf("wat2wasm not found: install wabt (apt-get update && apt-get install -y wabt): %v", err)
	}
	kit, err := os.ReadFile(filepath.Join(root, "sdk", "rule", "wat", "template.wat"))
	if err != nil {
		t.Fatal(err)
	}
	rule, err := os.ReadFile(filepath.Join(root, "sdk", "rule", "wat", "testdata", "probe-rule.wat"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(kit), ";; ============================== THE RULE")
	if i < 0 {
		t.Fatal(`template.wat has no "THE RULE" line`)
	}
	dir := t.TempDir()
	src, out := filepath.Join(dir, "probe.wat"), filepath.Join(dir, "probe.wasm")
	if err := os.WriteFile(src, append(kit[:i:i], rule...), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, b)
	}
	return out
}
