package ledger

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-llm/switchyard/host/internal/testservers"
)

// testPostgres is the URL of a real PostgreSQL for the test (testservers: private
// instance or SWITCHYARD_TEST_POSTGRES).
func testPostgres(t *testing.T) string { return testservers.StartPostgres(t).URL }

// freshPostgres starts one PostgreSQL and returns a function that opens a new, empty
// database on it (named prefix_1, prefix_2, ...) for each call, closed when its test ends.
func freshPostgres(t *testing.T, prefix string) func(t *testing.T) *Postgres {
	base := testPostgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	n := 0
	return func(t *testing.T) *Postgres {
		n++
		name := fmt.Sprintf("%s_%d", prefix, n)
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		p, err := OpenPostgres(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
}

// TestPostgres: the same contract as the SQLite store, against a real PostgreSQL: a
// batch round trips, a refused batch stores nothing, reopening keeps the rows, a newer
// schema is refused, and the Writer's batches land.
func TestPostgres(t *testing.T) {
	url := testPostgres(t)
	ctx := context.Background()
	p, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1764000000123)
	in := Row{ID: "req_1", Time: at, Key: "team-a", Team: "a", Endpoint: "messages", Route: "default", Rule: "guard@abc",
		Targets: []string{"mock/mock-small"}, Attempts: 2, Fallbacks: 1, Provider: "mock", Model: "mock-small", Status: 200,
		TokensIn: 260, TokensOut: 64, TokensCached: 10, CostUSD: 0.00125, Latency: 350 * time.Millisecond, RuleInput: []byte(`{"abi":1}`)}
	if err := p.Write(ctx, []Row{in}); err != nil {
		t.Fatal(err)
	}
	var id, targets string
	var ts, lat int64
	var cost float64
	var input []byte
	if err := p.pool.QueryRow(ctx, `SELECT id, ts_unix_ms, targets, cost_usd, latency_us, rule_input FROM requests`).
		Scan(&id, &ts, &targets, &cost, &lat, &input); err != nil {
		t.Fatal(err)
	}
	if id != "req_1" || ts != at.UnixMilli() || targets != `["mock/mock-small"]` || cost != 0.00125 || lat != 350000 || string(input) != `{"abi":1}` {
		t.Errorf("read back %s %d %s %v %d %s", id, ts, targets, cost, lat, input)
	}
	// A row the database refuses (a constraint the test adds) fails its whole batch; a
	// repeated request id (clients choose them) and text PostgreSQL cannot hold (invalid
	// UTF-8, NUL) are not such rows.
	if err := p.Write(ctx, []Row{{ID: "req_1", Route: "bad\xff\x00name"}}); err != nil {
		t.Fatalf("a repeated id with unstorable text: %v", err)
	}
	if _, err := p.pool.Exec(ctx, `ALTER TABLE requests ADD CONSTRAINT refuse CHECK (id <> 'bad')`); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(ctx, []Row{{ID: "x"}, {ID: "bad"}}); err == nil {
		t.Fatal("a refused row was accepted")
	}
	var n int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows after a refused batch (%v), want 2", n, err)
	}
	w := NewWriter(p, Options{Batch: 100})
	for i := range 1000 {
		w.Add(Row{ID: fmt.Sprintf("w_%d", i), Time: at, Status: 200})
	}
	if err := w.Close(ctx); err != nil { // closes p too
		t.Fatal(err)
	}
	p, err = OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 1002 {
		t.Fatalf("%d rows after the Writer and a reopen (%v), want 1002", n, err)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE schema_version SET version = $1`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	p.Close()
	_, err = OpenPostgres(ctx, url)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, newer than this switchyard's %d", SchemaVersion+1, SchemaVersion)) {
		t.Fatalf("a newer database: %v", err)
	}
	if strings.Contains(redact("postgres://u:hunter2@h/db"), "hunter2") {
		t.Error("the password shows in messages")
	}
}
