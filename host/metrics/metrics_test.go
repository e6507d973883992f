package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// sample is the configuration primed in TestMetricsMatchDoc: its names are the label
// values that come from configuration, not from a fixed list.
var sample = Labels{Models: []string{"default", "mock-small", "auto"}, ProviderModels: [][2]string{{"mock", "mock-small"}},
	Plugins: []string{"mock"}, Rules: []string{"tiered", "shadowy"}, ShadowRules: []string{"shadowy"}, CachedRoutes: []string{"default"}, Keys: []string{"team-a"}, Budgets: map[string]float64{"team-a": 10}}

// configLabels are the labels whose values come from the configuration (api/metrics.md
// describes them in words, not as a list).
var configLabels = map[string]bool{"model": true, "provider": true, "plugin": true, "rule": true, "key": true, "route": true}

// TestMetricsMatchDoc checks api/metrics.md against what a primed registry exposes, both
// ways: every series exposed at load is documented, with its type and labels, and every
// documented series is exposed; and every fixed label value exposed is documented, and
// every documented one exposed.
func TestMetricsMatchDoc(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg).Prime(sample)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	config := map[string]bool{Unknown: true}
	for _, l := range [][]string{sample.Models, sample.Plugins, sample.Rules, sample.ShadowRules, sample.Keys, sample.CachedRoutes} {
		for _, v := range l {
			config[v] = true
		}
	}
	for _, pm := range sample.ProviderModels {
		config[pm[0]], config[pm[1]] = true, true
	}

	doc := readMetricsDoc(t)
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "switchyard_") {
			continue
		}
		d, ok := doc.series[name]
		if !ok {
			t.Errorf("%s is exposed but api/metrics.md does not list it", name)
			continue
		}
		delete(doc.series, name)
		if typ := strings.ToLower(f.GetType().String()); typ != d.typ {
			t.Errorf("%s is a %s, api/metrics.md says %s", name, typ, d.typ)
		}
		values := map[string]map[string]bool{} // label → values exposed
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if values[lp.GetName()] == nil {
					values[lp.GetName()] = map[string]bool{}
				}
				if !config[lp.GetValue()] {
					values[lp.GetName()][lp.GetValue()] = true
				}
			}
		}
		if got := sortedKeys(values); !slices.Equal(got, d.labels) {
			t.Errorf("%s has the labels %v, api/metrics.md says %v", name, got, d.labels)
		}
		for label, got := range values {
			key := label + " " + name
			want, documented := doc.values[key]
			delete(doc.values, key)
			if configLabels[label] {
				if documented {
					t.Errorf("%s: %s takes its values from the configuration, api/metrics.md lists fixed ones", name, label)
				}
				continue
			}
			if !documented {
				t.Errorf("%s: api/metrics.md does not list the values of %s (exposed: %v)", name, label, sortedKeys(got))
				continue
			}
			if g := sortedKeys(got); !slices.Equal(g, want) {
				t.Errorf("%s: %s exposes %v, api/metrics.md lists %v", name, label, g, want)
			}
		}
	}
	for name := range doc.series {
		t.Errorf("api/metrics.md lists %s, which has no series at load", name)
	}
	for key := range doc.values {
		t.Errorf("api/metrics.md lists values of %q, which no series has", key)
	}
}

type metricsDoc struct {
	series map[string]docSeries
	// values are the fixed values of a label of a series, by "label series".
	values map[string][]string
}

type docSeries struct {
	typ    string
	labels []string // sorted
}

var ticked = regexp.MustCompile("`([^`]+)`")

// readMetricsDoc reads the two tables of api/metrics.md: "## Series" (series, type,
// labels, meaning) and "## Label values" (label, series, values).
func readMetricsDoc(t *testing.T) metricsDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "api", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := metricsDoc{series: map[string]docSeries{}, values: map[string][]string{}}
	section := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			section = line
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue // not a table row, or a header or separator row
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		ticks := func(i int) []string {
			var out []string
			for _, m := range ticked.FindAllStringSubmatch(cells[i], -1) {
				out = append(out, m[1])
			}
			return out
		}
		switch section {
		case "## Series":
			if len(cells) != 4 {
				t.Fatalf("api/metrics.md: a series row needs 4 cells: %s", line)
			}
			name := ticks(0)
			if len(name) != 1 {
				t.Fatalf("api/metrics.md: one series per row: %s", line)
			}
			if _, dup := doc.series[name[0]]; dup {
				t.Errorf("api/metrics.md lists %s twice", name[0])
			}
			labels := ticks(2)
			slices.Sort(labels)
			doc.series[name[0]] = docSeries{typ: strings.TrimSpace(cells[1]), labels: labels}
		case "## Label values":
			if len(cells) != 3 {
				t.Fatalf("api/metrics.md: a label values row needs 3 cells: %s", line)
			}
			label, of := ticks(0), ticks(1)
			if len(label) != 1 || len(of) == 0 {
				t.Fatalf("api/metrics.md: want one label and its series: %s", line)
			}
			values := ticks(2)
			slices.Sort(values)
			for _, series := range of {
				key := label[0] + " " + series
				if _, dup := doc.values[key]; dup {
					t.Errorf("api/metrics.md lists the values of %s twice", key)
				}
				doc.values[key] = values
			}
		}
	}
	if len(doc.series) == 0 || len(doc.values) == 0 {
		t.Fatal("api/metrics.md: found no series or no label values")
	}
	return doc
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestFixedListsFollowTheKinds checks that the outcome and reason lists are built from the
// SDK's kinds: every kind is an outcome and a fallback reason, and the retry reasons are
// exactly the kinds retried by default plus a rule's retry verdict.
func TestFixedListsFollowTheKinds(t *testing.T) {
	var retried []string
	for _, k := range provider.Kinds() {
		if !slices.Contains(ProviderOutcomes, string(k)) || !slices.Contains(FallbackReasons, string(k)) {
			t.Errorf("kind %s is missing from ProviderOutcomes or FallbackReasons", k)
		}
		if k.DefaultRetryable() {
			retried = append(retried, string(k))
		}
	}
	if want := append(retried, RetryValidation); !slices.Equal(RetryReasons, want) {
		t.Errorf("RetryReasons = %v, want %v", RetryReasons, want)
	}
	if len(ProviderOutcomes) != len(provider.Kinds())+3 || len(FallbackReasons) != len(provider.Kinds())+3 {
		t.Errorf("ProviderOutcomes %v, FallbackReasons %v: want the kinds and three more each", ProviderOutcomes, FallbackReasons)
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
