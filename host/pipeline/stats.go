package pipeline

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/host/metrics"
)

// targetStats keeps the live statistics rules see for one catalogue model.
// Record and Snapshot are safe for concurrent use.
type targetStats struct {
	inflight atomic.Int64
	// series are the target's metrics, looked up once.
	series *metrics.TargetSeries

	mu       sync.Mutex
	lat      [128]time.Duration // ring of recent successful call durations
	n        int                // filled entries
	next     int
	errRate  float64 // exponentially weighted error rate
	snap     statsSnapshot
	snapTime time.Time
}

type statsSnapshot struct {
	P50, P95  time.Duration
	ErrorRate float64
}

const (
	errAlpha    = 0.1 // weight of one outcome in the error rate
	snapshotTTL = 250 * time.Millisecond
	minLatencyN = 1
)

func (s *targetStats) record(d time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := 0.0
	if failed {
		v = 1
	} else {
		s.lat[s.next] = d
		s.next = (s.next + 1) % len(s.lat)
		if s.n < len(s.lat) {
			s.n++
		}
	}
	s.errRate += errAlpha * (v - s.errRate)
}

// snapshot returns percentiles recomputed at most every snapshotTTL, so building a rule
// input does not sort on every request.
func (s *targetStats) snapshot(now time.Time) statsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.snapTime) < snapshotTTL {
		s.snap.ErrorRate = s.errRate
		return s.snap
	}
	s.snapTime = now
	s.snap.ErrorRate = s.errRate
	if s.n < minLatencyN {
		return s.snap
	}
	buf := make([]time.Duration, s.n)
	copy(buf, s.lat[:s.n])
	slices.Sort(buf)
	s.snap.P50 = buf[(len(buf)-1)*50/100]
	s.snap.P95 = buf[(len(buf)-1)*95/100]
	return s.snap
}
