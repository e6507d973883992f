package ledger

import (
	"fmt"
	"net/url"
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

// RequestParams are GET /admin/requests' query parameters, which ParseRequestQuery reads.
var RequestParams = []string{"key", "team", "model", "route", "endpoint", "status", "since", "until", "limit"}

// ParamError is a query parameter's bad value; it wraps ErrBadQuery.
type ParamError struct {
	Param string
	Msg   string // what is wrong, naming the value and what is wanted
}

func (e *ParamError) Error() string { return e.Param + " " + e.Msg }
func (e *ParamError) Unwrap() error { return ErrBadQuery }

// ParseRequestQuery reads GET /admin/requests' parameters (RequestParams) into a query:
// the admin API and `switchyard rules replay --from-ledger` take this one syntax. Other
// parameters are ignored; a bad value is a *ParamError. The status is checked by the
// query itself.
func ParseRequestQuery(v url.Values, now time.Time) (RequestQuery, error) {
	q := RequestQuery{Key: v.Get("key"), Team: v.Get("team"), Model: v.Get("model"), Route: v.Get("route"),
		Endpoint: v.Get("endpoint"), Status: v.Get("status")}
	var err error
	if q.Since, err = ParseTime(v.Get("since"), now); err != nil {
		return q, &ParamError{"since", err.Error()}
	}
	if q.Until, err = ParseTime(v.Get("until"), now); err != nil {
		return q, &ParamError{"until", err.Error()}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, &ParamError{"limit", fmt.Sprintf("%.32q: want a whole number of at least 1", s)}
		}
		q.Limit = n
	}
	return q, nil
}
