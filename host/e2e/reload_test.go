package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func ruleLabel(t *testing.T, name, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return name + "@" + hex.EncodeToString(sum[:])[:12]
}

// replace swaps a file the way deploys do: write beside it, then rename over it.
func replace(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func (r *router) ruleHeader(t *testing.T) string {
	t.Helper()
	status, h, body := r.post("/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	return h.Get("x-switchyard-rule")
}

// TestHotReload edits a rule file under a running router: a broken module is refused and
// the old one keeps serving; a good one is swapped in; SIGHUP and the admin endpoint reload
// too; a stream in flight during a reload finishes on the version it started with.
func TestHotReload(t *testing.T) {
	testdata := filepath.Join(root(t), "host/rules/testdata")
	decide := wat2wasm(t, filepath.Join(testdata, "decide.wat"))
	noabi := wat2wasm(t, filepath.Join(testdata, "noabi.wat"))
	noopinion := wat2wasm(t, filepath.Join(testdata, "noopinion.wat"))
	dir := t.TempDir()
	module := filepath.Join(dir, "r.wasm")
	replace(t, module, decide)
	// Rule deadlines here are roomy (the default is 5 ms): these tests are about which
	// module decides, and must not depend on how fast a loaded machine evaluates it.
	r := startRouter(t, baseConfig(t, fmt.Sprintf("admin: {key: admin-key-123}\nrules:\n  - {name: r, module: %s, deadline: 1s}\n", module)))
	old := ruleLabel(t, "r", decide)
	if got := r.ruleHeader(t); got != old {
		t.Fatalf("x-switchyard-rule %q, want %q", got, old)
	}

	t.Run("broken module is refused", func(t *testing.T) {
		replace(t, module, noabi)
		waitFor(t, "the refusal", patience, func() bool {
			v, _ := r.metric(`switchyard_rule_reloads_total{result="refused",rule="r"}`)
			return v >= 1
		})
		if got := r.ruleHeader(t); got != old {
			t.Errorf("after a refused reload x-switchyard-rule is %q, want the old %q", got, old)
		}
		if !strings.Contains(r.log.String(), "sy_abi_v1") {
			t.Errorf("the log does not say why the module was refused:\n%s", r.log.String())
		}
	})

	t.Run("good module is swapped in", func(t *testing.T) {
		replace(t, module, noopinion)
		waitFor(t, "the new module", patience, func() bool { return r.ruleHeader(t) == "default" })
	})

	t.Run("stream in flight survives a reload", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/chat/completions", strings.NewReader(
			`{"model":"default","stream":true,"messages":[{"role":"user","content":"a long answer please"}],"metadata":{"mock.chunk_delay_ms":"40"}}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		lines := 0
		reloaded := false
		var last string
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				lines++
				last = sc.Text()
			}
			if lines == 2 && !reloaded {
				reloaded = true
				replace(t, module, decide)
				if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
		}
		if last != "data: [DONE]" {
			t.Errorf("the stream did not finish cleanly across the reload; last event %q", last)
		}
		waitFor(t, "the reload", patience, func() bool { return r.ruleHeader(t) == old })
	})

	t.Run("admin endpoint", func(t *testing.T) {
		status, _, _ := r.post("/admin/reload", "{}")
		if status != 401 {
			t.Errorf("reload without the admin key: %d, want 401", status)
		}
		status, _, body := r.post("/admin/reload", "{}", "Authorization", "Bearer admin-key-123")
		if status != 200 {
			t.Errorf("reload with the admin key: %d %s", status, body)
		}
		replace(t, module, noabi)
		// The watcher may get there first; either way the module is refused.
		status, _, body = r.post("/admin/reload", "{}", "Authorization", "Bearer admin-key-123")
		if status == 200 && r.ruleHeader(t) != old {
			t.Errorf("a broken module was accepted: %s", body)
		}
		if got := r.ruleHeader(t); got != old {
			t.Errorf("x-switchyard-rule %q after a refused reload, want %q", got, old)
		}
	})
}

// TestShadowRules runs two shadow rules beside an active one: neither acts (the request is
// answered although one shadow rejects it), and their agreement is counted.
func TestShadowRules(t *testing.T) {
	testdata := filepath.Join(root(t), "host/rules/testdata")
	decide := wat2wasm(t, filepath.Join(testdata, "decide.wat"))
	reject := wat2wasm(t, filepath.Join(testdata, "reject.wat"))
	// Roomy deadlines: a rule stopped at a 5 ms default deadline on a loaded machine
	// would count as a timeout, not as the decision this test counts.
	r := startRouter(t, baseConfig(t, fmt.Sprintf(`rules:
  - {name: active, module: %[1]s, deadline: 1s}
  - {name: same, module: %[1]s, mode: shadow, deadline: 1s}
  - {name: strict, module: %[2]s, mode: shadow, deadline: 1s}
`, decide, reject)))
	for i := 0; i < 3; i++ {
		if got := r.ruleHeader(t); !strings.HasPrefix(got, "active@") {
			t.Fatalf("x-switchyard-rule %q: a shadow rule acted", got)
		}
	}
	for series, want := range map[string]float64{
		`switchyard_rule_shadow_agreement_total{agreed="true",rule="same"}`:    3,
		`switchyard_rule_shadow_agreement_total{agreed="false",rule="same"}`:   0,
		`switchyard_rule_shadow_agreement_total{agreed="false",rule="strict"}`: 3,
		`switchyard_rule_evaluations_total{outcome="rejected",rule="strict"}`:  3,
	} {
		if v, ok := r.metric(series); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// TestRulesTestCommand runs `switchyard rules test` as a rule author's CI would.
func TestRulesTestCommand(t *testing.T) {
	bin := built(t, "switchyard")
	tiered := built(t, "rules/tiered.wasm")
	golden := filepath.Join(root(t), "rules-wasm/tiered/testdata/golden")
	out, err := execOut(bin, "rules", "test", "--module", tiered, "--golden", golden)
	if err != nil || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("rules test on the shipped cases: %v\n%s", err, out)
	}
	// A case that expects another decision fails, and says so.
	bad := failingGolden(t)
	out, err = execOut(bin, "rules", "test", "--module", tiered, "--golden", bad)
	if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, "0 passed, 1 failed") {
		t.Errorf("a failing case did not fail the command: %v\n%s", err, out)
	}
}

// TestRecordAndReplay records a live decision from the dry run as a golden case and
// replays it with `switchyard rules test`: every decision can be explained and replayed.
func TestRecordAndReplay(t *testing.T) {
	tiered := built(t, "rules/tiered.wasm")
	// A roomy deadline: the recorded decision must be the rule's, not a timeout's.
	r := startRouter(t, baseConfig(t, fmt.Sprintf("rules:\n  - {name: tiered, module: %s, headers: [x-tenant], deadline: 1s}\n", tiered)))
	status, _, body := r.post("/v1/switchyard/route", `{"model":"chain","messages":[{"role":"user","content":"hi"}],"metadata":{"tier":"pro"}}`,
		"x-switchyard-priority", "9", "x-tenant", "acme")
	if status != 200 {
		t.Fatalf("dry run %d: %s", status, body)
	}
	var d struct {
		Input   json.RawMessage `json:"input"`
		Targets []struct {
			Provider string `json:"provider"`
			Model    string `json:"model"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(body, &d); err != nil || len(d.Input) == 0 || len(d.Targets) == 0 {
		t.Fatalf("dry run without input or targets: %s", body)
	}
	if !strings.Contains(string(d.Input), `"x-tenant":"acme"`) || !strings.Contains(string(d.Input), `"priority":9`) {
		t.Errorf("the recorded input lacks what the rule saw: %s", d.Input)
	}
	c, _ := json.Marshal(map[string]any{"name": "recorded", "headers": []string{"x-tenant"}, "input": d.Input,
		"expect": map[string]any{"targets": d.Targets}})
	path := filepath.Join(t.TempDir(), "recorded.json")
	if err := os.WriteFile(path, c, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execOut(built(t, "switchyard"), "rules", "test", "--module", tiered, "--golden", path)
	if err != nil || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("replaying the recorded decision: %v\n%s", err, out)
	}
}
