package ledger

import (
	"fmt"
	"strconv"
	"time"
)

// ParseTime reads a query's time as the admin API and `switchyard usage` take it: an RFC
// 3339 time, unix seconds, or a Go duration meaning that long before now ("24h"). An
// empty value is the zero time (no bound).
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%.64q: want an RFC 3339 time, unix seconds, or a duration back from now such as 24h", v)
}
