package state

import (
	"fmt"
	"time"
)

const (
	windowSeconds = 60                          // buckets in a window
	windowTTL     = 61 * time.Second            // expiry of a window's Redis hash
	neverFits     = windowSeconds * time.Second // RetryAfter of a take larger than its limit
)

// checkTakes refuses what no window could hold.
func checkTakes(takes []Take) error {
	for _, t := range takes {
		if t.N < 0 || t.Limit < 0 {
			return fmt.Errorf("state: take on %q: negative n %d or limit %d", t.Window, t.N, t.Limit)
		}
	}
	return nil
}

// unixSec is the second of t (floor, also before 1970).
func unixSec(t time.Time) int64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return (ms - 999) / 1000
	}
	return ms / 1000
}

// retryAfter clamps the wait until a bucket expires to at least 1 s.
func retryAfter(ms int64) time.Duration {
	return max(time.Duration(ms)*time.Millisecond, time.Second)
}
