package loadtest

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	seq := func(n int) []time.Duration { // n..1 ms, unsorted on purpose
		var out []time.Duration
		for i := n; i >= 1; i-- {
			out = append(out, time.Duration(i)*ms)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		want    Summary
	}{
		{"empty", nil, Summary{}},
		{"one sample", []time.Duration{7 * ms}, Summary{N: 1, P50: 7 * ms, P90: 7 * ms, P99: 7 * ms, Max: 7 * ms, Mean: 7 * ms}},
		{"1 to 100 ms", seq(100), Summary{N: 100, P50: 50 * ms, P90: 90 * ms, P99: 99 * ms, Max: 100 * ms, Mean: 50*ms + 500*time.Microsecond}},
		{"1 to 10 ms: p99 is the largest", seq(10), Summary{N: 10, P50: 5 * ms, P90: 9 * ms, P99: 10 * ms, Max: 10 * ms, Mean: 5*ms + 500*time.Microsecond}},
		{"1 to 1000 ms", seq(1000), Summary{N: 1000, P50: 500 * ms, P90: 900 * ms, P99: 990 * ms, Max: 1000 * ms, Mean: 500*ms + 500*time.Microsecond}},
		{"one outlier", append(make([]time.Duration, 99), time.Second), Summary{N: 100, Max: time.Second, Mean: 10 * ms}},
		{"two outliers reach p99", append(make([]time.Duration, 98), time.Second, time.Second), Summary{N: 100, P99: time.Second, Max: time.Second, Mean: 20 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.samples); got != tc.want {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPercentileRanks(t *testing.T) {
	sorted := []time.Duration{1, 2, 3, 4}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.001, 1}, {25, 1}, {25.001, 2}, {50, 2}, {75, 3}, {99.9, 4}, {100, 4}} {
		if got := Percentile(sorted, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}
