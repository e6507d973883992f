package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// inputStore is what the input tests need of a store.
type inputStore interface {
	Store
	InputReader
}

// TestInputsSQLite runs the input reads' tests against the real SQLite, a new file each.
func TestInputsSQLite(t *testing.T) {
	testInputs(t, func(t *testing.T) inputStore {
		s, _ := openTemp(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestInputsPostgres runs the same tests against a real PostgreSQL (a private instance, or
// SWITCHYARD_TEST_POSTGRES; missing, the test fails), a new database each.
func TestInputsPostgres(t *testing.T) {
	open := freshPostgres(t, "inputs")
	testInputs(t, func(t *testing.T) inputStore { return open(t) })
}

// inputRows are usageRows (one of which has an input) with inputs and traces on most of
// them, in insertion order: u1, u3, u4, u6 and u7 have one, u2 none, u5 an empty one
// (which is none).
func inputRows() []Row {
	rows := usageRows()
	for i := range rows {
		switch rows[i].ID {
		case "u2":
			rows[i].RuleInput, rows[i].Trace = nil, nil
		case "u5":
			rows[i].RuleInput, rows[i].Trace = []byte{}, nil
		default:
			// Bytes of every value, NUL and invalid UTF-8 included: the input is a blob,
			// stored exactly.
			rows[i].RuleInput = []byte(`{"abi":1,"id":"` + rows[i].ID + "\"}\x00\xff")
			rows[i].Trace = []byte(`{"rule":"r@abc","rules":[]}`)
		}
	}
	return rows
}

// wantInputs is Inputs computed in Go: rows are in insertion order.
func wantInputs(rows []Row, q RequestQuery) []Row {
	var with []Row
	for _, r := range rows {
		if len(r.RuleInput) > 0 {
			with = append(with, r)
		}
	}
	// wantRequests filters and orders as Inputs must; its limit and its clearing of the
	// inputs are Requests' own, so both are undone here.
	all := q
	all.Limit = len(with) + 1
	out := wantRequests(with, all)
	for i := range out {
		for _, r := range with {
			if r.ID == out[i].ID && r.Time.Equal(out[i].Time) && r.Status == out[i].Status {
				out[i].RuleInput, out[i].Trace = r.RuleInput, r.Trace
			}
		}
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// collect reads q's inputs into a slice.
func collect(t *testing.T, s InputReader, q RequestQuery) []Row {
	t.Helper()
	out := []Row{}
	if err := s.Inputs(context.Background(), q, func(r Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Inputs(%+v): %v", q, err)
	}
	return out
}

// testInputs is the input reads' contract, against the store open makes (a new, empty
// one each call).
func testInputs(t *testing.T, open func(t *testing.T) inputStore) {
	ctx := context.Background()

	t.Run("filters", func(t *testing.T) {
		s := open(t)
		rows := inputRows()
		write(t, s, rows[:4])
		write(t, s, rows[4:])
		// A row of u3's id and millisecond from a later batch: ties go newest inserted first.
		dup := inputRows()[2]
		dup.Status, dup.Route = 201, "r3"
		write(t, s, []Row{dup})
		rows = append(rows, dup)
		for _, q := range []RequestQuery{
			{},
			{Route: "r1"}, {Route: "r3"}, {Route: "none"},
			{Key: "ka"}, {Team: "tb"}, {Model: "m2"}, {Endpoint: "messages"},
			{Status: "error"}, {Status: "2xx"}, {Status: "4xx"}, {Status: "5xx"}, {Status: "404"}, {Status: "201"},
			{Since: at(day0 + hourMs + 5*60000)}, {Until: at(day0 + hourMs + 5*60000)},
			{Since: at(day0 + hourMs + 5*60000), Until: at(day0 + 2*dayMs)},
			{Since: at(day0 + hourMs + 5*60000).Add(time.Microsecond)}, // rounded up: the row is out
			{Until: at(day0 + hourMs + 5*60000).Add(time.Microsecond)}, // rounded up: the row is in
			{Limit: 1}, {Limit: 2}, {Limit: 100}, {Limit: -1},
			{Key: "kb", Route: "r1", Status: "error", Limit: 5},
		} {
			got := collect(t, s, q)
			want := wantInputs(rows, q)
			sameRows(t, fmt.Sprintf("Inputs(%+v)", q), got, want)
			all, with, err := s.CountInputs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			nq := q
			nq.Limit = 0
			wantWith := len(wantInputs(rows, nq))
			nq.Limit = len(rows) + 1
			wantAll := len(wantRequests(rows, nq))
			if all != int64(wantAll) || with != int64(wantWith) {
				t.Errorf("CountInputs(%+v) = %d, %d; want %d, %d", q, all, with, wantAll, wantWith)
			}
		}
		// Spelled out, to keep wantInputs honest: the inputs come back byte for byte, with
		// their traces and every other field.
		got := collect(t, s, RequestQuery{Route: "r1"})
		if ids := idList(got); ids != "u6 u3 u7 u1" {
			t.Fatalf("route r1: [%s], want [u6 u3 u7 u1]", ids)
		}
		if string(got[1].RuleInput) != "{\"abi\":1,\"id\":\"u3\"}\x00\xff" || string(got[1].Trace) != `{"rule":"r@abc","rules":[]}` ||
			!slices.Equal(got[1].Targets, []string{"p2/m2"}) || got[1].Status != 429 {
			t.Errorf("u3 read back as %+v", got[1])
		}
	})

	t.Run("empty", func(t *testing.T) {
		s := open(t)
		if got := collect(t, s, RequestQuery{}); len(got) != 0 {
			t.Errorf("an empty ledger gave %d rows", len(got))
		}
		write(t, s, []Row{{ID: "x", Time: at(day0), Status: 200}})
		if got := collect(t, s, RequestQuery{}); len(got) != 0 {
			t.Errorf("a ledger without inputs gave %d rows", len(got))
		}
		all, with, err := s.CountInputs(ctx, RequestQuery{})
		if err != nil || all != 1 || with != 0 {
			t.Errorf("CountInputs = %d, %d, %v; want 1, 0", all, with, err)
		}
	})

	t.Run("many rows, no cap", func(t *testing.T) {
		// A replay's default: 10,000 rows, well over Requests' cap of 1000, in the order
		// written (newest first); each row is handed over as it is read.
		s := open(t)
		const n = 10000
		batch := make([]Row, 0, 2500)
		for i := range n {
			batch = append(batch, Row{ID: "m" + strconv.Itoa(i), Time: at(day0 + int64(i/3)), Route: "r", Status: 200,
				Targets: []string{"p/m"}, RuleInput: []byte(`{"abi":1,"n":` + strconv.Itoa(i) + `}`)})
			if len(batch) == cap(batch) {
				write(t, s, batch)
				batch = batch[:0]
			}
		}
		want := n - 1
		count := 0
		if err := s.Inputs(ctx, RequestQuery{}, func(r Row) error {
			if r.ID != "m"+strconv.Itoa(want) || string(r.RuleInput) != `{"abi":1,"n":`+strconv.Itoa(want)+`}` {
				return fmt.Errorf("row %d: got %s %s", count, r.ID, r.RuleInput)
			}
			want--
			count++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if count != n {
			t.Errorf("%d rows, want %d", count, n)
		}
		if got := collect(t, s, RequestQuery{Limit: 1500}); len(got) != 1500 || got[0].ID != "m9999" || got[1499].ID != "m8500" {
			t.Errorf("limit 1500: %d rows", len(got))
		}
		all, with, err := s.CountInputs(ctx, RequestQuery{Limit: 1})
		if err != nil || all != n || with != n {
			t.Errorf("CountInputs = %d, %d, %v; want %d, %d (the limit does not count)", all, with, err, n, n)
		}
	})

	t.Run("callback error stops the read", func(t *testing.T) {
		s := open(t)
		write(t, s, inputRows())
		stop := errors.New("enough")
		calls := 0
		err := s.Inputs(ctx, RequestQuery{}, func(Row) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 2 {
			t.Errorf("error %v after %d calls, want the callback's own after 2", err, calls)
		}
		// The connection went back to the pool: the store still answers.
		if got := collect(t, s, RequestQuery{}); len(got) != 5 {
			t.Errorf("after a stopped read: %d rows, want 5", len(got))
		}
	})

	t.Run("bad status and a cancelled context", func(t *testing.T) {
		s := open(t)
		write(t, s, inputRows())
		err := s.Inputs(ctx, RequestQuery{Status: "3xx"}, func(Row) error { t.Error("called"); return nil })
		if !errors.Is(err, ErrBadQuery) {
			t.Errorf("Inputs with status 3xx: %v, want ErrBadQuery", err)
		}
		if _, _, err := s.CountInputs(ctx, RequestQuery{Status: "ok"}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("CountInputs with status ok: %v, want ErrBadQuery", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Inputs(cctx, RequestQuery{}, func(Row) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	})
}
