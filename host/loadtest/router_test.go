package loadtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/host/config"
)

// The generated configs must pass the router's own strict loader.
func TestRouterConfigLoads(t *testing.T) {
	dir := t.TempDir()
	touch := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plugin := touch("switchyard-provider-openai")
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range append(neutralRules, RuleSpec{Module: "tiered.wasm"}) {
		touch(filepath.Join("rules", r.Module))
	}
	chains := fiveRuleChains(dir)
	if len(chains) != 2 || len(chains[0]) != 5 || chains[0][4].Name != "tiered" {
		t.Fatalf("fiveRuleChains = %+v", chains)
	}
	key := benchKey
	governance := map[string]RouterConfig{
		"ledger": {LedgerURL: "sqlite:" + filepath.Join(dir, "ledger.db")},
		"keys":   {Key: &key},
		"redis":  {Key: &key, StateURL: "redis://127.0.0.1:6399/0"},
	}
	for name, rules := range map[string][]RuleSpec{"one": {tieredRule(dir)}, "five": chains[0], "fallback": chains[1],
		"ledger": {tieredRule(dir)}, "keys": {tieredRule(dir)}, "redis": {tieredRule(dir)}} {
		t.Run(name, func(t *testing.T) {
			c := governance[name]
			c.UpstreamURL, c.Plugin, c.Rules, c.MaxInflight = "http://127.0.0.1:1234", plugin, rules, 3000
			p, err := c.WriteConfig(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := config.Load(p)
			if err != nil {
				t.Fatalf("%v\n%s", err, c.YAML())
			}
			if len(f.Rules) != len(rules) || f.Limits.MaxInflight != 3000 || len(f.Providers) != 1 {
				t.Errorf("loaded %d rules, max_inflight %d, %d providers", len(f.Rules), f.Limits.MaxInflight, len(f.Providers))
			}
			if f.Ledger.URL != c.LedgerURL || f.State.URL != c.StateURL {
				t.Errorf("ledger.url %q, state.url %q; want %q, %q", f.Ledger.URL, f.State.URL, c.LedgerURL, c.StateURL)
			}
			if c.Key != nil {
				if len(f.Keys) != 1 || f.Keys[0].Key != c.Key.Secret || f.Keys[0].Limits.RPM != c.Key.RPM || f.Keys[0].Limits.TPM != c.Key.TPM {
					t.Errorf("keys %+v, want %+v", f.Keys, *c.Key)
				}
			} else if len(f.Keys) != 0 {
				t.Errorf("keys %+v, want none", f.Keys)
			}
			names := map[string]bool{}
			for _, r := range f.Rules {
				if names[r.Name] {
					t.Errorf("rule name %s twice", r.Name)
				}
				names[r.Name] = true
			}
		})
	}
	if got := ruleNames(chains[1]); strings.Join(got, ",") != "priority-gate,cheapest,priority-gate-2,cheapest-2,tiered" {
		t.Errorf("fallback chain %v", got)
	}
}
