package rules

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// The tests build their modules from source through testkit, once per
// test binary, and share one compilation cache.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

func repoRoot(tb testing.TB) string                      { return testkit.RepoRoot(tb) }
func wat(tb testing.TB, src string) string               { return testkit.WAT(tb, src) }
func goRule(tb testing.TB, pkg string) string            { return testkit.Go(tb, pkg) }
func buildShippedRule(tb testing.TB, name string) string { return testkit.ShippedRule(tb, name) }
func shippedRules(tb testing.TB) []string                { return testkit.ShippedRules(tb) }

// testInput is a request of about 1 KB with three candidates.
func testInput() *Input { return testkit.Input() }

// load loads a chain and closes it when the test ends. Without a
// CacheDir, it takes the test binary's.
func load(tb testing.TB, opts Options, specs ...Spec) *Chain {
	tb.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = testkit.CacheDir(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Load(ctx, specs, opts)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return c
}

// waitPool waits until the rule's pool is full again: after a trap or a
// timeout the pool refills in the background, and how soon depends on the
// machine's load, so a test that needs an instance waits for it rather
// than for a fixed time.
func waitPool(tb testing.TB, r *rule) {
	tb.Helper()
	give := time.Now().Add(time.Minute)
	for len(r.pool) < r.limits.Pool {
		if time.Now().After(give) {
			tb.Fatalf("rule %s: pool of %d not refilled within a minute (%d ready)", r.spec.Name, r.limits.Pool, len(r.pool))
		}
		time.Sleep(time.Millisecond) // polling, bounded above
	}
}

// recorder is an Observer that records outcomes.
type recorder struct {
	mu          sync.Mutex
	outcomes    []string
	verdicts    []string
	quarantined []string
}

func (r *recorder) RuleEvaluated(rule, outcome string, _ time.Duration) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, rule+":"+outcome)
	r.mu.Unlock()
}

func (r *recorder) RuleValidated(rule, verdict string, _ time.Duration) {
	r.mu.Lock()
	r.verdicts = append(r.verdicts, rule+":"+verdict)
	r.mu.Unlock()
}

func (r *recorder) RuleQuarantineChanged(rule string, quarantined bool) {
	r.mu.Lock()
	r.quarantined = append(r.quarantined, fmt.Sprintf("%s:%v", rule, quarantined))
	r.mu.Unlock()
}

// changes returns the quarantine changes seen so far.
func (r *recorder) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.quarantined...)
}

var (
	_ Observer           = (*recorder)(nil)
	_ QuarantineObserver = (*recorder)(nil)
	_ ValidationObserver = (*recorder)(nil)

	// The router's metrics are the observer in production: the gauge
	// switchyard_rule_quarantined follows the quarantine.
	_ Observer           = (*metrics.Metrics)(nil)
	_ QuarantineObserver = (*metrics.Metrics)(nil)
)
