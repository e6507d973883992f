package metrics

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func primed(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Prime(Labels{Models: []string{"default", "mock-small", "auto"}, ProviderModels: [][2]string{{"mock", "mock-small"}},
		Plugins: []string{"mock"}, Rules: []string{"tiered", "shadowy"}, ShadowRules: []string{"shadowy"}})
	return m, reg
}

// TestEverySeriesExistsAtLoad checks that every metric of DESIGN §6 is exposed, with its
// series at zero, before any traffic.
func TestEverySeriesExistsAtLoad(t *testing.T) {
	_, reg := primed(t)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range families {
		got[f.GetName()] = len(f.GetMetric())
	}
	for _, name := range []string{
		"switchyard_requests_total", "switchyard_request_duration_seconds", "switchyard_active_requests",
		"switchyard_overhead_seconds", "switchyard_rule_evaluations_total", "switchyard_rule_evaluation_duration_seconds",
		"switchyard_rule_shadow_agreement_total", "switchyard_provider_requests_total", "switchyard_provider_request_duration_seconds",
		"switchyard_provider_time_to_first_token_seconds", "switchyard_provider_tokens_total", "switchyard_provider_cost_usd_total",
		"switchyard_plugin_up", "switchyard_plugin_restarts_total", "switchyard_retries_total", "switchyard_fallbacks_total",
		"switchyard_validation_failures_total", "switchyard_circuit_open", "switchyard_rule_reloads_total",
		"switchyard_admission_queue_depth", "switchyard_admission_shed_total",
	} {
		if got[name] == 0 {
			t.Errorf("%s has no series at load", name)
		}
	}
	if t.Failed() {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Logf("exposed: %s", strings.Join(names, ", "))
	}
}

func TestLabelValuesComeFromConfig(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.Prime(Labels{Models: []string{"mock-small"}, Rules: []string{"tiered"}})
	if m.Model("mock-small") != "mock-small" || m.Model("made-up") != Unknown {
		t.Errorf("Model: %q %q", m.Model("mock-small"), m.Model("made-up"))
	}
	m.RuleEvaluated("tiered", "timeout", 0)
	want := `
# HELP switchyard_rule_evaluations_total Rule evaluations by rule and outcome.
# TYPE switchyard_rule_evaluations_total counter
switchyard_rule_evaluations_total{outcome="decided",rule="tiered"} 0
switchyard_rule_evaluations_total{outcome="error",rule="tiered"} 0
switchyard_rule_evaluations_total{outcome="no_opinion",rule="tiered"} 0
switchyard_rule_evaluations_total{outcome="rejected",rule="tiered"} 0
switchyard_rule_evaluations_total{outcome="timeout",rule="tiered"} 1
`
	if err := testutil.CollectAndCompare(m.RuleEvaluations, strings.NewReader(want), "switchyard_rule_evaluations_total"); err != nil {
		t.Error(err)
	}
}
