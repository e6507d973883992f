package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// queryStore is what the query tests need of a store: the Store, the Reader, and the
// backend (deleteBefore with a small chunk).
type queryStore interface {
	Store
	Reader
	backend
}

// TestQueriesSQLite runs the queries' tests against the real SQLite, a new file each.
func TestQueriesSQLite(t *testing.T) {
	testQueries(t, func(t *testing.T) queryStore {
		s, _ := openTemp(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestQueriesPostgres runs the same tests against a real PostgreSQL, a new database each.
func TestQueriesPostgres(t *testing.T) {
	open := freshPostgres(t, "queries")
	testQueries(t, func(t *testing.T) queryStore { return open(t) })
}

// day0 is 2025-11-24 00:00 UTC, a day's (and an hour's) start.
const day0 = 20416 * dayMs

func at(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// usageRows are the rows the usage and request filter tests query, in insertion order.
func usageRows() []Row {
	mk := func(id string, ms int64, key, team, model, provider, route, endpoint string, status int, in, out, cached int64, cost float64) Row {
		return Row{ID: id, Time: at(ms), Key: key, Team: team, Endpoint: endpoint, Route: route, Rule: "default",
			Targets: []string{provider + "/" + model}, Attempts: 1, Provider: provider, Model: model, Status: status,
			TokensIn: in, TokensOut: out, TokensCached: cached, CostUSD: cost, Latency: 1500 * time.Microsecond,
			TTFT: 700 * time.Microsecond, Overhead: 42 * time.Microsecond}
	}
	rows := []Row{
		mk("u1", day0-1, "kc", "tc", "m3", "p1", "r1", "chat.completions", 404, 7, 0, 0, 0), // the day before, its last hour
		mk("u2", day0+hourMs+5*60000, "ka", "ta", "m1", "p1", "r1", "chat.completions", 200, 100, 10, 5, 0.5),
		mk("u3", day0+hourMs+30*60000, "ka", "ta", "m2", "p2", "r1", "messages", 429, 50, 0, 0, 0.25),
		mk("u4", day0+2*hourMs+1, "kb", "tb", "m1", "p1", "r2", "chat.completions", 500, 10, 1, 0, 0.125),
		mk("u5", day0+dayMs+3*hourMs, "kb", "ta", "m1", "p2", "r2", "responses", 200, 20, 2, 1, 1),
		mk("u6", day0+2*dayMs, "ka", "ta", "m1", "p1", "r1", "chat.completions", 200, 1, 1, 0, 0.0625), // on To's edge
		mk("u7", day0+hourMs+5*60000, "kb", "tb", "m2", "p2", "r1", "messages", 502, 3, 0, 0, 0),       // u2's millisecond
	}
	rows[2].RuleInput, rows[2].Trace = []byte(`{"abi":1}`), []byte(`{"rules":[]}`) // never in a list
	return rows
}

var groupOf = map[string]func(*Row) string{
	"":         func(*Row) string { return "" },
	"key":      func(r *Row) string { return r.Key },
	"team":     func(r *Row) string { return r.Team },
	"model":    func(r *Row) string { return r.Model },
	"provider": func(r *Row) string { return r.Provider },
	"route":    func(r *Row) string { return r.Route },
	"endpoint": func(r *Row) string { return r.Endpoint },
}

// wantUsage is Usage computed in Go, over rows in memory.
func wantUsage(rows []Row, q UsageQuery) []UsageBucket {
	type k struct {
		group string
		start int64
	}
	sums := map[k]*UsageBucket{}
	for i := range rows {
		r := &rows[i]
		if !q.From.IsZero() && r.Time.Before(q.From) || !q.To.IsZero() && !r.Time.Before(q.To) || q.Key != "" && r.Key != q.Key {
			continue
		}
		var start time.Time
		switch q.Interval {
		case "hour":
			start = r.Time.Truncate(time.Hour)
		case "day":
			start = r.Time.Truncate(24 * time.Hour) // from the zero time, which starts a UTC day
		}
		key := k{groupOf[q.GroupBy](r), start.UnixMilli()}
		b := sums[key]
		if b == nil {
			b = &UsageBucket{Group: key.group, Start: start}
			sums[key] = b
		}
		b.Requests++
		if r.Status >= 400 {
			b.Errors++
		}
		b.TokensIn += r.TokensIn
		b.TokensOut += r.TokensOut
		b.TokensCached += r.TokensCached
		b.CostUSD += r.CostUSD // costs are binary fractions: sums are exact in any order
	}
	out := []UsageBucket{}
	for _, b := range sums {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b UsageBucket) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Group, b.Group))
	})
	return out
}

// bucketsText shows buckets for comparing and for messages (Start as UTC text).
func bucketsText(bs []UsageBucket) string {
	var b strings.Builder
	for _, u := range bs {
		start := "-"
		if !u.Start.IsZero() {
			start = u.Start.Format(time.RFC3339)
			if u.Start.Location() != time.UTC {
				start += " (not UTC)"
			}
		}
		fmt.Fprintf(&b, "[%q %s n=%d err=%d in=%d out=%d cached=%d $%v] ", u.Group, start, u.Requests, u.Errors,
			u.TokensIn, u.TokensOut, u.TokensCached, u.CostUSD)
	}
	return b.String()
}

// wantRequests is Requests computed in Go: rows are in insertion order.
func wantRequests(rows []Row, q RequestQuery) []Row {
	out := []Row{}
	for i := len(rows) - 1; i >= 0; i-- { // newest inserted first, then stably by time
		r := rows[i]
		s := r.Status
		ok := (q.Key == "" || r.Key == q.Key) && (q.Team == "" || r.Team == q.Team) && (q.Model == "" || r.Model == q.Model) &&
			(q.Route == "" || r.Route == q.Route) && (q.Endpoint == "" || r.Endpoint == q.Endpoint) &&
			(q.Since.IsZero() || !r.Time.Before(q.Since)) && (q.Until.IsZero() || r.Time.Before(q.Until))
		switch q.Status {
		case "":
		case "error":
			ok = ok && s >= 400
		case "2xx", "4xx", "5xx":
			ok = ok && s/100 == int(q.Status[0]-'0')
		default:
			ok = ok && strconv.Itoa(s) == q.Status
		}
		if ok {
			r.RuleInput, r.Trace = nil, nil
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Row) int { return b.Time.Compare(a.Time) })
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	return out[:min(len(out), limit, 1000)]
}

func idList(rows []Row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.ID)
	}
	return strings.Join(s, " ")
}

func sameRows(t *testing.T, what string, got, want []Row) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil, want a slice (JSON [])", what)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got [%s]\nwant [%s]", what, idList(got), idList(want))
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("first difference at %d:\n got %+v\nwant %+v", i, got[i], want[i])
				break
			}
		}
	}
}

func write(t *testing.T, s Store, rows []Row) {
	t.Helper()
	if err := s.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// testQueries is the queries' contract, against the store open makes (a new, empty one
// each call).
func testQueries(t *testing.T, open func(t *testing.T) queryStore) {
	ctx := context.Background()

	t.Run("usage", func(t *testing.T) {
		s := open(t)
		rows := usageRows()
		write(t, s, rows[:4])
		write(t, s, rows[4:])
		// A few answers spelled out, to keep wantUsage honest.
		got, err := s.Usage(ctx, UsageQuery{GroupBy: "key", Interval: "day", From: at(day0), To: at(day0 + 2*dayMs)})
		if err != nil {
			t.Fatal(err)
		}
		want := []UsageBucket{
			{Group: "ka", Start: at(day0), Requests: 2, Errors: 1, TokensIn: 150, TokensOut: 10, TokensCached: 5, CostUSD: 0.75},
			{Group: "kb", Start: at(day0), Requests: 2, Errors: 2, TokensIn: 13, TokensOut: 1, CostUSD: 0.125},
			{Group: "kb", Start: at(day0 + dayMs), Requests: 1, TokensIn: 20, TokensOut: 2, TokensCached: 1, CostUSD: 1},
		}
		if bucketsText(got) != bucketsText(want) {
			t.Errorf("by key and day:\n got %s\nwant %s", bucketsText(got), bucketsText(want))
		}
		got, err = s.Usage(ctx, UsageQuery{GroupBy: "model", Interval: "hour", Key: "ka"})
		if err != nil {
			t.Fatal(err)
		}
		want = []UsageBucket{
			{Group: "m1", Start: at(day0 + hourMs), Requests: 1, TokensIn: 100, TokensOut: 10, TokensCached: 5, CostUSD: 0.5},
			{Group: "m2", Start: at(day0 + hourMs), Requests: 1, Errors: 1, TokensIn: 50, CostUSD: 0.25},
			{Group: "m1", Start: at(day0 + 2*dayMs), Requests: 1, TokensIn: 1, TokensOut: 1, CostUSD: 0.0625},
		}
		if bucketsText(got) != bucketsText(want) {
			t.Errorf("key ka by model and hour:\n got %s\nwant %s", bucketsText(got), bucketsText(want))
		}
		got, err = s.Usage(ctx, UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		want = []UsageBucket{{Requests: 7, Errors: 4, TokensIn: 191, TokensOut: 14, TokensCached: 6, CostUSD: 1.9375}}
		if bucketsText(got) != bucketsText(want) {
			t.Errorf("everything:\n got %s\nwant %s", bucketsText(got), bucketsText(want))
		}
		if j, _ := json.Marshal(got[0]); strings.Contains(string(j), "start") {
			t.Errorf("a bucket without an interval shows its start: %s", j)
		}
		// Every dimension, interval, range and key against the same sums done in Go.
		ranges := [][2]time.Time{{}, {at(day0), {}}, {{}, at(day0 + 2*dayMs)}, {at(day0), at(day0 + 2*dayMs)},
			{at(day0 + hourMs + 5*60000).Add(time.Microsecond), at(day0 + 2*hourMs + 1).Add(time.Microsecond)},
			{at(day0 + 10*dayMs), at(day0 + 11*dayMs)}} // empty
		for _, g := range []string{"", "key", "team", "model", "provider", "route", "endpoint"} {
			for _, iv := range []string{"", "hour", "day"} {
				for _, r := range ranges {
					for _, key := range []string{"", "ka", "kb", "nobody"} {
						q := UsageQuery{GroupBy: g, Interval: iv, From: r[0], To: r[1], Key: key}
						got, err := s.Usage(ctx, q)
						if err != nil {
							t.Fatalf("%+v: %v", q, err)
						}
						if got == nil {
							t.Errorf("%+v: nil, want a slice", q)
						}
						if want := wantUsage(rows, q); bucketsText(got) != bucketsText(want) {
							t.Errorf("%+v:\n got %s\nwant %s", q, bucketsText(got), bucketsText(want))
						}
					}
				}
			}
		}
	})

	t.Run("requests", func(t *testing.T) {
		s := open(t)
		rows := usageRows()
		write(t, s, rows[:4])
		write(t, s, rows[4:])
		got, err := s.Requests(ctx, RequestQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if idList(got) != "u6 u5 u4 u3 u7 u2 u1" { // u7 and u2 share a millisecond: the later written first
			t.Errorf("newest first: %s", idList(got))
		}
		for status, want := range map[string]string{"error": "u4 u3 u7 u1", "4xx": "u3 u1", "5xx": "u4 u7", "2xx": "u6 u5 u2",
			"200": "u6 u5 u2", "429": "u3", "404": "u1", "201": ""} {
			if got, err := s.Requests(ctx, RequestQuery{Status: status}); err != nil || idList(got) != want {
				t.Errorf("status %s: [%s] %v, want [%s]", status, idList(got), err, want)
			}
		}
		queries := []RequestQuery{{}, {Key: "ka"}, {Key: "kb"}, {Team: "tb"}, {Team: "ta"}, {Model: "m2"}, {Route: "r2"},
			{Endpoint: "messages"}, {Endpoint: "chat.completions"}, {Key: "nobody"}, {Key: "' OR 1=1 --"}, {Route: "r1?"},
			{Status: "error"}, {Status: "2xx"}, {Status: "4xx"}, {Status: "5xx"}, {Status: "200"}, {Status: "502"},
			{Since: at(day0)}, {Until: at(day0 + dayMs)}, {Since: at(day0), Until: at(day0 + dayMs)},
			{Since: at(day0 + 2*hourMs + 1)}, {Since: at(day0 + 2*hourMs + 1).Add(time.Microsecond)},
			{Until: at(day0 + 2*hourMs + 1)}, {Until: at(day0 + 2*hourMs + 1).Add(time.Microsecond)},
			{Key: "kb", Status: "error", Since: at(day0), Until: at(day0 + dayMs)}, {Team: "ta", Model: "m1", Route: "r1"},
			{Limit: 2}, {Limit: 1, Status: "5xx"}, {Limit: -5}}
		for _, q := range queries {
			got, err := s.Requests(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			sameRows(t, fmt.Sprintf("%+v", q), got, wantRequests(rows, q))
		}
	})

	t.Run("limit", func(t *testing.T) {
		s := open(t)
		var rows []Row
		for i := range 1100 { // three a millisecond: ties fall back on the order written, across batches too
			rows = append(rows, Row{ID: fmt.Sprintf("l%d", i), Time: at(day0 + int64(i/3)), Status: 200})
		}
		for i := 0; i < len(rows); i += 500 {
			write(t, s, rows[i:min(i+500, len(rows))])
		}
		for _, c := range []struct{ limit, n int }{{0, 100}, {-1, 100}, {1, 1}, {999, 999}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
			got, err := s.Requests(ctx, RequestQuery{Limit: c.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.n || got[0].ID != "l1099" || got[len(got)-1].ID != fmt.Sprintf("l%d", 1100-c.n) {
				t.Errorf("limit %d: %d rows, %s ... %s; want %d, l1099 ... l%d", c.limit, len(got), got[0].ID, got[len(got)-1].ID, c.n, 1100-c.n)
			}
			sameRows(t, fmt.Sprintf("limit %d", c.limit), got, wantRequests(rows, RequestQuery{Limit: c.limit}))
		}
	})

	t.Run("request", func(t *testing.T) {
		s := open(t)
		full := Row{ID: "dup", Time: at(day0 + 123), Key: "team-a-key", Team: "team-a", Endpoint: "messages", Route: "default",
			Rule: "guard@abc", Targets: []string{"mock/mock-small", "mock/mock-large"}, Attempts: 2, Fallbacks: 1, Provider: "mock",
			Model: "mock-large", Status: 200, TokensIn: 260, TokensOut: 64, TokensCached: 10, CostUSD: 0.00125,
			Latency: 350 * time.Millisecond, TTFT: 120*time.Millisecond + 7*time.Microsecond, Overhead: 300 * time.Microsecond,
			CacheHit: true, RuleInput: []byte(`{"abi":1,"model":"default"}`), Trace: []byte(`{"rules":[{"name":"guard"}]}`)}
		older := Row{ID: "dup", Time: at(day0), Endpoint: "chat.completions", Route: "other", Rule: "default", Attempts: 1,
			Status: 429, Code: "rate_limited", RuleInput: []byte(`{}`), Trace: []byte(`[]`)}
		bare := Row{ID: "bare", Time: at(-1), Route: "bad\xff\x00name"} // no targets, input or trace; before 1970
		write(t, s, []Row{full, {ID: "other", Time: at(day0 + 500)}})
		write(t, s, []Row{older, bare})
		got, err := s.Request(ctx, "dup")
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, "request dup", got, []Row{full, older})
		got, err = s.Request(ctx, "none")
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("an unknown id: %v %v, want an empty slice", got, err)
		}
		stored := bare
		stored.Route = "bad\uFFFDname" // as clean stored it; the filter is cleaned alike
		got, err = s.Request(ctx, "bare")
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, "request bare", got, []Row{stored})
		got, err = s.Requests(ctx, RequestQuery{Route: bare.Route})
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, "requests by an unclean route", got, []Row{stored})
		light := full
		light.RuleInput, light.Trace = nil, nil
		got, err = s.Requests(ctx, RequestQuery{Key: "team-a-key"})
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, "requests without input and trace", got, []Row{light})
	})

	t.Run("delete", func(t *testing.T) {
		s := open(t)
		var rows []Row
		for i := range 10 {
			rows = append(rows, Row{ID: fmt.Sprintf("d%d", i), Time: at(day0 + int64(i)), Status: 200})
		}
		write(t, s, rows)
		// Chunks of 3 delete d0 to d2 (a full chunk, then an empty one).
		if n, err := deleteBefore(ctx, s, at(day0+2).Add(500*time.Microsecond), 3); err != nil || n != 3 {
			t.Fatalf("deleted %d (%v), want 3", n, err)
		}
		// Chunks of 1: d3 and d4, a statement each.
		if n, err := deleteBefore(ctx, s, at(day0+4).Add(time.Microsecond), 1); err != nil || n != 2 {
			t.Fatalf("deleted %d (%v), want 2", n, err)
		}
		got, err := s.Requests(ctx, RequestQuery{})
		if err != nil || idList(got) != "d9 d8 d7 d6 d5" {
			t.Fatalf("left [%s] %v", idList(got), err)
		}
		if n, err := s.DeleteBefore(ctx, at(day0+9)); err != nil || n != 4 { // time < t: d9 stays
			t.Fatalf("deleted %d (%v), want 4", n, err)
		}
		if n, err := s.DeleteBefore(ctx, at(day0+9)); err != nil || n != 0 {
			t.Fatalf("deleted %d again (%v), want 0", n, err)
		}
		if got, err := s.Requests(ctx, RequestQuery{}); err != nil || idList(got) != "d9" {
			t.Fatalf("left [%s] %v", idList(got), err)
		}
		if u, err := s.Usage(ctx, UsageQuery{}); err != nil || len(u) != 1 || u[0].Requests != 1 {
			t.Fatalf("usage after deleting: %s %v", bucketsText(u), err)
		}
	})

	t.Run("bad query", func(t *testing.T) {
		s := open(t)
		check := func(what string, err error, param, allowed string) {
			t.Helper()
			if !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), param) || !strings.Contains(err.Error(), allowed) {
				t.Errorf("%s: %v, want ErrBadQuery naming %s and %s", what, err, param, allowed)
			}
		}
		_, err := s.Usage(ctx, UsageQuery{GroupBy: "color"})
		check("group_by color", err, "group_by", "key, team, model, provider, route, endpoint")
		_, err = s.Usage(ctx, UsageQuery{GroupBy: "key; DROP TABLE requests"})
		check("group_by injection", err, "group_by", "endpoint")
		_, err = s.Usage(ctx, UsageQuery{Interval: "week"})
		check("interval week", err, "interval", "hour, day")
		_, err = s.Usage(ctx, UsageQuery{Interval: "Hour"})
		check("interval Hour", err, "interval", "hour, day")
		for _, st := range []string{"abc", "3xx", "1xx", "600", "099", "20", "2000", " 200", "+20", "-200", "ERROR", "2XX"} {
			_, err := s.Requests(ctx, RequestQuery{Status: st})
			check("status "+st, err, "status", "2xx, 4xx, 5xx, error")
		}
		if _, err := s.Requests(ctx, RequestQuery{Status: strings.Repeat("x", 10000)}); err == nil || len(err.Error()) > 300 {
			t.Errorf("a long status: the message is %d bytes", len(err.Error()))
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a deadlock fails instead of hanging
		defer cancel()
		write(t, s, usageRows())
		// A batch's transaction is open (not committed): queries answer, with what was committed.
		release := holdWrite(t, s, Row{ID: "uncommitted", Time: at(day0), Status: 200})
		got, err := s.Requests(ctx, RequestQuery{})
		if err != nil || idList(got) != "u6 u5 u4 u3 u7 u2 u1" {
			t.Fatalf("requests during a write: [%s] %v", idList(got), err)
		}
		if u, err := s.Usage(ctx, UsageQuery{}); err != nil || len(u) != 1 || u[0].Requests != 7 {
			t.Fatalf("usage during a write: %s %v", bucketsText(u), err)
		}
		if got, err := s.Request(ctx, "uncommitted"); err != nil || len(got) != 0 {
			t.Fatalf("request during a write: [%s] %v", idList(got), err)
		}
		release()

		// The Writer writes large batches while queries and a chunked delete run.
		const old, n = 3000, 10000
		var seed []Row
		for i := range old {
			seed = append(seed, Row{ID: fmt.Sprintf("old%d", i), Time: at(day0 - 1 - int64(i)), Key: "old"})
		}
		write(t, s, seed)
		w := NewWriter(s, Options{Batch: 2500}) // n is whole batches: no batch waits for its Interval
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				w.Add(Row{ID: fmt.Sprintf("w%d", i), Time: at(day0 + 3*dayMs + int64(i)), Key: "w", Status: 200, TokensIn: 1})
			}
		}()
		var deleted int64
		for rounds := 0; ; rounds++ {
			if ctx.Err() != nil {
				t.Fatalf("after %d rounds: %v", rounds, ctx.Err())
			}
			u, err := s.Usage(ctx, UsageQuery{Key: "w", Interval: "day"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Requests(ctx, RequestQuery{Key: "w", Limit: 10}); err != nil {
				t.Fatal(err)
			}
			d, err := deleteBefore(ctx, s, at(day0), 100) // small chunks between the Writer's batches
			if err != nil {
				t.Fatal(err)
			}
			deleted += d
			if len(u) == 1 && u[0].Requests == n && u[0].TokensIn == n {
				break // the Writer got every batch in
			}
		}
		wg.Wait()
		if deleted != old+1 { // and u1, from the day before
			t.Errorf("deleted %d, want %d", deleted, old+1)
		}
		got, err = s.Requests(ctx, RequestQuery{Limit: 1})
		if err != nil || idList(got) != fmt.Sprintf("w%d", n-1) {
			t.Errorf("newest: [%s] %v", idList(got), err)
		}
		if w.Dropped() != 0 {
			t.Errorf("%d rows dropped", w.Dropped())
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// holdWrite opens a transaction on the store's writing side, inserts r and leaves it
// uncommitted, as a batch being written; release rolls it back.
func holdWrite(t *testing.T, s queryStore, r Row) (release func()) {
	t.Helper()
	ctx := context.Background()
	insert := `INSERT INTO requests (` + strings.Join(columns, ",") + `) VALUES (?` + strings.Repeat(",?", len(columns)-1) + `)`
	switch s := s.(type) {
	case *SQLite:
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, insert, values(&r)...); err != nil {
			t.Fatal(err)
		}
		return func() { tx.Rollback() }
	case *Postgres:
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, pgDialect.bind(insert), values(&r)...); err != nil {
			t.Fatal(err)
		}
		return func() { tx.Rollback(ctx) }
	}
	t.Fatalf("holdWrite: %T", s)
	return nil
}

func TestBind(t *testing.T) {
	q := `SELECT a FROM t WHERE a = ? AND b < ? LIMIT ?`
	if got := pgDialect.bind(q); got != `SELECT a FROM t WHERE a = $1 AND b < $2 LIMIT $3` {
		t.Errorf("postgres: %s", got)
	}
	if got := sqliteDialect.bind(q); got != q {
		t.Errorf("sqlite: %s", got)
	}
}

func TestCeilMilli(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want int64
	}{{time.UnixMilli(5), 5}, {time.UnixMilli(5).Add(time.Nanosecond), 6}, {time.UnixMilli(-5), -5},
		{time.UnixMilli(-5).Add(-time.Nanosecond), -5}, {time.UnixMilli(-5).Add(time.Nanosecond), -4}} {
		if got := ceilMilli(c.t); got != c.want {
			t.Errorf("ceilMilli(%v) = %d, want %d", c.t, got, c.want)
		}
	}
}

// FuzzRequestStatus: a status is refused with ErrBadQuery (a short message, no
// condition) or is one of the forms RequestQuery names.
func FuzzRequestStatus(f *testing.F) {
	for _, s := range []string{"", "200", "599", "100", "2xx", "4xx", "5xx", "error", "600", "099", "abc", "+20", "3xx", "٢٠٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var w where
		err := statusCond(&w, s)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) || len(w.conds) != 0 || len(err.Error()) > 400 {
				t.Fatalf("%q: %v (%d conditions)", s, err, len(w.conds))
			}
			return
		}
		switch s {
		case "":
			if len(w.conds) != 0 {
				t.Fatalf("any status has conditions %v", w.conds)
			}
		case "error", "2xx", "4xx", "5xx":
		default:
			n, err := strconv.Atoi(s)
			if err != nil || strconv.Itoa(n) != s || n < 100 || n > 599 || !reflect.DeepEqual(w.args, []any{n}) {
				t.Fatalf("%q accepted as %v %v", s, w.conds, w.args)
			}
		}
	})
}

// TestSQLiteReaderReadOnly: the read pool refuses writes (query_only), so everything
// written goes through the one writing connection.
func TestSQLiteReaderReadOnly(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	if _, err := s.reader.Exec(`DELETE FROM requests`); err == nil {
		t.Fatal("the read pool wrote")
	}
}

func TestParseRequestQuery(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := url.Values{"key": {"k"}, "team": {"t"}, "model": {"m"}, "route": {"r"}, "endpoint": {"messages"},
		"status": {"4xx"}, "since": {"24h"}, "until": {"1700000000"}, "limit": {"7"}, "other": {"x"}}
	q, err := ParseRequestQuery(v, now)
	want := RequestQuery{Key: "k", Team: "t", Model: "m", Route: "r", Endpoint: "messages", Status: "4xx",
		Since: now.Add(-24 * time.Hour), Until: time.Unix(1_700_000_000, 0), Limit: 7}
	if err != nil || q != want {
		t.Fatalf("got %+v, %v\nwant %+v", q, err, want)
	}
	for param, bad := range map[string]string{"since": "yesterday", "until": "-1h", "limit": "0"} {
		_, err := ParseRequestQuery(url.Values{param: {bad}}, now)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != param || !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s=%s: %v", param, bad, err)
		}
	}
}
