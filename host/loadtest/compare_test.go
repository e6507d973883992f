package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every compared pair runs back to back, in both orders across rounds, and only the
// systems a plan needs run.
func TestRoundOrder(t *testing.T) {
	all := comparePlan(AllSystems)
	if len(all) != 3 {
		t.Fatalf("plan of every system: %+v", all)
	}
	for r := range 2 {
		order := roundOrder(all, r)
		for _, p := range all {
			i, j := slices.Index(order, p.System), slices.Index(order, p.Baseline)
			if i < 0 || j < 0 || (i-j != 1 && j-i != 1) {
				t.Errorf("round %d: %v: %s and %s not next to each other", r, order, p.System, p.Baseline)
			}
		}
		if r == 1 && order[0] != SysRedis {
			t.Errorf("round 1 not reversed: %v", order)
		}
	}
	if got := roundOrder(comparePlan([]string{SysRedis}), 0); !slices.Equal(got, []string{SysKeys, SysRedis}) {
		t.Errorf("redis alone runs %v", got)
	}
	if got := comparePlan([]string{SysDirect, SysSwitchyard}); len(got) != 0 {
		t.Errorf("no governance system, plan %+v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{{nil, 0}, {[]time.Duration{3}, 3}, {[]time.Duration{5, -1, 3}, 3}, {[]time.Duration{4, 1, 2, 100}, 3}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The governance targets: PASS and MISS on the median difference, MISS with errors,
// n/a when the feature was not seen at work or the comparison did not run.
func TestCompareTargets(t *testing.T) {
	us := time.Microsecond
	rounds := make([]CompareRound, 5)
	mark := func(r *Report) map[string]string {
		r.Options = DefaultOptions()
		out := map[string]string{}
		for _, tg := range targets(r) {
			if strings.Contains(tg.Name, "ledger") || strings.Contains(tg.Name, "Redis") {
				out[tg.Name] = tg.Mark
			}
		}
		return out
	}
	r := &Report{Compare: []*CompareResult{
		{System: SysLedger, Baseline: SysSwitchyard, Rounds: rounds, Verified: true, BaseP50: 500 * us, P50: 540 * us, DeltaP50: 40 * us, DeltaCPU: 25 * us},
		{System: SysRedis, Baseline: SysKeys, Rounds: rounds, Verified: true, DeltaP50: 200 * us},
	}}
	want := map[string]string{
		"ledger on vs off at 1,000 rps: Δp50":               "PASS",
		"ledger on vs off at 1,000 rps: Δ CPU per request":  "MISS",
		"Redis-shared limits at 1,000 rps: Δp50 (vs local)": "PASS",
	}
	if got := mark(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	r.Compare[0].ErrorRounds = 1
	r.Compare[1].Verified, r.Compare[1].Why = false, "no limit windows in the private Redis"
	got := mark(r)
	if got["ledger on vs off at 1,000 rps: Δp50"] != "MISS" || got["Redis-shared limits at 1,000 rps: Δp50 (vs local)"] != "n/a" {
		t.Errorf("errors and unverified: %v", got)
	}
	r.Compare[0].Rounds, r.Compare[0].Busy, r.Compare[0].ErrorRounds = nil, 4, 0
	if got := mark(r); got["ledger on vs off at 1,000 rps: Δp50"] != "n/a" {
		t.Errorf("busy in every round: %v", got)
	}
	// Rounds on both sides of the limit: judged on the median, said to be unresolved.
	r = &Report{Options: DefaultOptions(), Compare: []*CompareResult{{System: SysLedger, Verified: true, DeltaP50: 40 * us,
		Rounds: []CompareRound{{P50: 100 * us}, {P50: 40 * us}, {P50: 40 * us}, {}, {}}}}}
	if tg := targets(r); !strings.Contains(tg[len(tg)-3].Got, "+0.000..+0.100, not resolved") || tg[len(tg)-3].Mark != "PASS" {
		t.Errorf("straddling rounds: %+v", tg[len(tg)-3])
	}
	for _, m := range mark(&Report{}) {
		if m != "n/a" {
			t.Errorf("not run: %v", mark(&Report{}))
		}
	}
}

func TestScrapeMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP x\n# TYPE switchyard_ledger_rows_total counter\nswitchyard_ledger_rows_total 1234\n"+
			"switchyard_requests_total{route=\"bench\"} 9\nswitchyard_state_up 1\n")
	}))
	defer srv.Close()
	m, err := scrapeMetrics(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if m["switchyard_ledger_rows_total"] != 1234 || m["switchyard_state_up"] != 1 || len(m) != 2 {
		t.Errorf("scraped %v", m)
	}
}

// Step.Header goes with every request (the keys systems' client key).
func TestStepHeader(t *testing.T) {
	var with, without atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer k" && r.Header.Get("Content-Type") == "application/json" {
			with.Add(1)
		} else {
			without.Add(1)
		}
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("Authorization", "Bearer k")
	res := Run(context.Background(), srv.Client(), Step{URL: srv.URL, Body: []byte("{}"), Header: h, Rate: 200, Duration: 50 * time.Millisecond, MaxInflight: 4})
	if res.OK != res.Planned || with.Load() != int64(res.Planned) || without.Load() != 0 {
		t.Errorf("ok %d of %d, with the header %d, without %d", res.OK, res.Planned, with.Load(), without.Load())
	}
}
