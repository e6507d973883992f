package ledger

import (
	"encoding/json"
	"strings"
)

// columns are the requests table's columns in the order values gives them; both stores
// insert through them.
var columns = []string{"id", "ts_unix_ms", "key", "team", "endpoint", "route", "rule", "targets", "attempts", "fallbacks",
	"provider", "model", "status", "code", "tokens_in", "tokens_out", "tokens_cached", "cost_usd", "latency_us", "ttft_us",
	"overhead_us", "cache_hit", "rule_input", "trace"}

// maxText bounds a text column: the route and the request id come from clients.
const maxText = 256

// clean makes a client-given string storable everywhere: PostgreSQL refuses invalid UTF-8
// and NUL in text, and one refused row would keep its whole batch (and every row behind
// it) out of the ledger.
func clean(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// values is r as the columns' values.
func values(r *Row) []any {
	targets := []byte("[]")
	if len(r.Targets) > 0 {
		targets, _ = json.Marshal(r.Targets)
	}
	hit := 0
	if r.CacheHit {
		hit = 1
	}
	var trace []byte
	if len(r.Trace) > 0 {
		trace = r.Trace
	}
	return []any{clean(r.ID), r.Time.UnixMilli(), clean(r.Key), clean(r.Team), r.Endpoint, clean(r.Route), clean(r.Rule),
		string(targets), r.Attempts, r.Fallbacks, clean(r.Provider), clean(r.Model), r.Status, clean(r.Code), r.TokensIn,
		r.TokensOut, r.TokensCached, r.CostUSD, r.Latency.Microseconds(), r.TTFT.Microseconds(), r.Overhead.Microseconds(),
		hit, r.RuleInput, trace}
}
