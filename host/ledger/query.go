package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader answers the admin queries (GET /admin/usage, /admin/requests, /admin/requests/{id}); both stores implement it. Safe for concurrent use, also while the Writer writes.
type Reader interface {
	Usage(ctx context.Context, q UsageQuery) ([]UsageBucket, error)
	Requests(ctx context.Context, q RequestQuery) ([]Row, error)
	Request(ctx context.Context, id string) ([]Row, error)        // every row with that request id (ids are chosen by clients and not unique), newest first, RuleInput and Trace included; empty slice when none
	DeleteBefore(ctx context.Context, t time.Time) (int64, error) // retention: deletes rows with time < t, returns how many; delete in chunks (e.g. 10000 rows per statement/transaction) so a big delete never holds the SQLite write lock for long
}

// UsageQuery selects and groups the rows GET /admin/usage sums.
type UsageQuery struct {
	GroupBy  string    // "key", "team", "model", "provider", "route", "endpoint" or "" (one group, Group "")
	From, To time.Time // rows with From <= time < To; zero From: no lower bound; zero To: no upper bound
	Interval string    // "hour", "day" (UTC buckets) or "" (one bucket over the range, Start zero)
	Key      string    // when set, only this key's rows
}

// UsageBucket is one group's sums over one interval.
type UsageBucket struct {
	Group        string    `json:"group"`
	Start        time.Time `json:"start,omitzero"` // the bucket's start, UTC; zero without an interval
	Requests     int64     `json:"requests"`
	Errors       int64     `json:"errors"` // rows with status >= 400
	TokensIn     int64     `json:"tokens_in"`
	TokensOut    int64     `json:"tokens_out"`
	TokensCached int64     `json:"tokens_cached"`
	CostUSD      float64   `json:"cost_usd"`
}

// RequestQuery selects the rows GET /admin/requests lists.
type RequestQuery struct {
	Key, Team, Model, Route, Endpoint string    // exact matches when set
	Status                            string    // "" any; "200" an exact status; "2xx", "4xx", "5xx" a class; "error": status >= 400
	Since                             time.Time // time >= Since when set
	Until                             time.Time // time < Until when set
	Limit                             int       // default 100, at most 1000 (larger values are cut to 1000)
}

// ErrBadQuery is wrapped by the errors a query's bad value causes (an unknown group_by,
// interval or status); the message names the parameter and the values allowed. The HTTP
// layer answers them with 400.
var ErrBadQuery = errors.New("ledger: bad query")

const (
	defaultLimit = 100
	maxLimit     = 1000
	// deleteChunk is how many rows one DeleteBefore statement deletes: each chunk is its
	// own transaction, so the Writer's batches go between chunks.
	deleteChunk = 10000
	hourMs      = 3600000
	dayMs       = 86400000
)

// groupColumns are the columns usage may be grouped by: the only text of a query that is
// not a parameter comes from here and from intervalMs.
var groupColumns = map[string]string{"key": "key", "team": "team", "model": "model", "provider": "provider",
	"route": "route", "endpoint": "endpoint"}

var intervalMs = map[string]int64{"hour": hourMs, "day": dayMs}

// dialect is what differs between the stores' SQL; everything else is written once.
type dialect struct {
	// dollar: placeholders are $1, $2, ... (PostgreSQL) rather than ?.
	dollar bool
	// newest orders rows newest first: by time, then by insertion order.
	newest string
	// deleteChunk deletes at most the second parameter's count of rows older than the first.
	deleteChunk string
}

var sqliteDialect = dialect{
	newest:      `ts_unix_ms DESC, rowid DESC`,
	deleteChunk: `DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests WHERE ts_unix_ms < ? LIMIT ?)`,
}

// PostgreSQL has no rowid: a batch's rows share their transaction id (xmin) and lie in
// the heap in the order COPY wrote them (ctid), which is insertion order unless VACUUM
// has freed space for later rows to fill.
var pgDialect = dialect{
	dollar:      true,
	newest:      `ts_unix_ms DESC, xmin::text::bigint DESC, ctid DESC`,
	deleteChunk: `DELETE FROM requests WHERE ctid = ANY(ARRAY(SELECT ctid FROM requests WHERE ts_unix_ms < ? LIMIT ?))`,
}

// bind turns q's ? placeholders into the dialect's (the queries hold no ? in literals).
func (d *dialect) bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// backend is one store's way to run the shared SQL.
type backend interface {
	sqlDialect() *dialect
	// query runs q (already bound) and calls row for each result row.
	query(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error
	// exec runs a write through the store's writing connection, returning the rows affected.
	exec(ctx context.Context, q string, args []any) (int64, error)
}

// ceilMilli is the first whole millisecond at or after t: rows hold whole milliseconds,
// so ts >= ceilMilli(t) is time >= t and ts < ceilMilli(t) is time < t.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// where gathers a query's conditions and their parameters.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) eq(column, v string) {
	if v != "" {
		w.add(column+` = ?`, clean(v)) // cleaned as the stored text was
	}
}

func (w *where) between(from, to time.Time) {
	if !from.IsZero() {
		w.add(`ts_unix_ms >= ?`, ceilMilli(from))
	}
	if !to.IsZero() {
		w.add(`ts_unix_ms < ?`, ceilMilli(to))
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(w.conds, ` AND `)
}

// bad is an ErrBadQuery naming the parameter, its (shortened) value and the values allowed.
func bad(param, v, allowed string) error {
	return fmt.Errorf("%w: %s %.64q: want %s", ErrBadQuery, param, v, allowed)
}

func usage(ctx context.Context, b backend, q UsageQuery) ([]UsageBucket, error) {
	group, ok := groupColumns[q.GroupBy]
	if !ok && q.GroupBy != "" {
		return nil, bad("group_by", q.GroupBy, `key, team, model, provider, route, endpoint or "" (one group)`)
	}
	step, ok := intervalMs[q.Interval]
	if !ok && q.Interval != "" {
		return nil, bad("interval", q.Interval, `hour, day or "" (one bucket)`)
	}
	groupExpr, bucketExpr := `''`, `0`
	var by []string
	if group != "" {
		groupExpr = group
		by = append(by, "1")
	}
	if step != 0 {
		// The bucket's start, flooring also before 1970 (% keeps the dividend's sign in both).
		n := strconv.FormatInt(step, 10)
		bucketExpr = `ts_unix_ms - ((ts_unix_ms % ` + n + `) + ` + n + `) % ` + n
		by = append(by, "2")
	}
	var w where
	w.between(q.From, q.To)
	w.eq("key", q.Key)
	s := `SELECT ` + groupExpr + `, ` + bucketExpr + `, count(*), CAST(sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT),
		CAST(sum(tokens_in) AS BIGINT), CAST(sum(tokens_out) AS BIGINT), CAST(sum(tokens_cached) AS BIGINT), sum(cost_usd)
		FROM requests` + w.String()
	if len(by) > 0 {
		s += ` GROUP BY ` + strings.Join(by, ", ")
	} else {
		s += ` HAVING count(*) > 0` // no rows, no bucket
	}
	out := []UsageBucket{}
	err := b.query(ctx, b.sqlDialect().bind(s), w.args, func(scan func(...any) error) error {
		var u UsageBucket
		var start int64
		if err := scan(&u.Group, &start, &u.Requests, &u.Errors, &u.TokensIn, &u.TokensOut, &u.TokensCached, &u.CostUSD); err != nil {
			return err
		}
		if step != 0 {
			u.Start = time.UnixMilli(start).UTC()
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Sorted here, not in SQL: byte order in both stores, whatever PostgreSQL's collation.
	slices.SortFunc(out, func(a, b UsageBucket) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Group, b.Group))
	})
	return out, nil
}

// statusCond is the condition a RequestQuery.Status asks for.
func statusCond(w *where, s string) error {
	switch s {
	case "":
	case "error":
		w.add(`status >= ?`, 400)
	case "2xx", "4xx", "5xx":
		lo := int(s[0]-'0') * 100
		w.add(`status >= ? AND status < ?`, lo, lo+100)
	default:
		n, err := strconv.Atoi(s)
		if err != nil || len(s) != 3 || s[0] < '1' || s[0] > '5' || n < 100 || n > 599 {
			return bad("status", s, `an exact status (100 to 599), 2xx, 4xx, 5xx, error or "" (any)`)
		}
		w.add(`status = ?`, n)
	}
	return nil
}

// listColumns are the columns Requests reads: all but rule_input and trace.
var listColumns = strings.Join(columns[:len(columns)-2], ", ")

var allColumns = strings.Join(columns, ", ")

// requestFilter is the condition of q's filters (not its limit), for Requests and Inputs.
func requestFilter(q RequestQuery) (*where, error) {
	w := &where{}
	if err := statusCond(w, q.Status); err != nil {
		return nil, err
	}
	w.eq("key", q.Key)
	w.eq("team", q.Team)
	w.eq("model", q.Model)
	w.eq("route", q.Route)
	w.eq("endpoint", q.Endpoint)
	w.between(q.Since, q.Until)
	return w, nil
}

func requests(ctx context.Context, b backend, q RequestQuery) ([]Row, error) {
	w, err := requestFilter(q)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	d := b.sqlDialect()
	s := `SELECT ` + listColumns + ` FROM requests` + w.String() + ` ORDER BY ` + d.newest + ` LIMIT ?`
	return scanRows(ctx, b, d.bind(s), append(w.args, limit), false)
}

func request(ctx context.Context, b backend, id string) ([]Row, error) {
	d := b.sqlDialect()
	s := `SELECT ` + allColumns + ` FROM requests WHERE id = ? ORDER BY ` + d.newest
	return scanRows(ctx, b, d.bind(s), []any{clean(id)}, true)
}

// scanRows reads rows in columns' order (without rule_input and trace unless full).
func scanRows(ctx context.Context, b backend, s string, args []any, full bool) ([]Row, error) {
	out := []Row{}
	err := b.query(ctx, s, args, func(scan func(...any) error) error {
		r, err := scanRow(scan, full)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanRow decodes the result row scan reads, in columns' order (without rule_input and
// trace unless full): every read of rows decodes them here.
func scanRow(scan func(...any) error, full bool) (Row, error) {
	var r Row
	var ts, lat, ttft, ovh, hit int64
	var targets string
	dest := []any{&r.ID, &ts, &r.Key, &r.Team, &r.Endpoint, &r.Route, &r.Rule, &targets, &r.Attempts, &r.Fallbacks,
		&r.Provider, &r.Model, &r.Status, &r.Code, &r.TokensIn, &r.TokensOut, &r.TokensCached, &r.CostUSD, &lat, &ttft,
		&ovh, &hit}
	if full {
		dest = append(dest, &r.RuleInput, &r.Trace)
	}
	if err := scan(dest...); err != nil {
		return Row{}, err
	}
	if err := json.Unmarshal([]byte(targets), &r.Targets); err != nil {
		return Row{}, fmt.Errorf("ledger: row %s: targets: %w", r.ID, err)
	}
	if len(r.Targets) == 0 {
		r.Targets = nil
	}
	if len(r.RuleInput) == 0 {
		r.RuleInput = nil
	}
	if len(r.Trace) == 0 {
		r.Trace = nil
	}
	r.Time = time.UnixMilli(ts).UTC()
	r.Latency, r.TTFT, r.Overhead = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond,
		time.Duration(ovh)*time.Microsecond
	r.CacheHit = hit != 0
	return r, nil
}

// deleteBefore deletes the rows older than t, chunk rows a statement: each statement is
// its own transaction, and between two the Writer gets the connection.
func deleteBefore(ctx context.Context, b backend, t time.Time, chunk int) (int64, error) {
	s := b.sqlDialect().bind(b.sqlDialect().deleteChunk)
	before := ceilMilli(t)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := b.exec(ctx, s, []any{before, chunk})
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(chunk) {
			return total, nil
		}
	}
}

// The SQLite store's reads go through their own pool (reader), so they run while the
// writing connection holds a batch's transaction: WAL lets readers read the last commit.

// readerConns bounds the SQLite read pool (each connection is its own SQLite instance).
const readerConns = 4

// openSQLiteReader opens the read pool of the database at path: query_only refuses
// writes; busy_timeout waits out the rare lock a reader meets (WAL recovery).
func openSQLiteReader(path string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(5000)&_pragma=query_only(1)"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(readerConns)
	db.SetMaxIdleConns(readerConns)
	return db, nil
}

func (s *SQLite) sqlDialect() *dialect { return &sqliteDialect }

func (s *SQLite) query(ctx context.Context, q string, args []any, row func(scan func(...any) error) error) error {
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *SQLite) exec(ctx context.Context, q string, args []any) (int64, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Usage sums the rows q selects, by group and interval, ordered by Start then Group.
func (s *SQLite) Usage(ctx context.Context, q UsageQuery) ([]UsageBucket, error) {
	return usage(ctx, s, q)
}

// Requests lists the rows q selects, newest first, without RuleInput and Trace.
func (s *SQLite) Requests(ctx context.Context, q RequestQuery) ([]Row, error) {
	return requests(ctx, s, q)
}

// Request returns every row with the request id, newest first, RuleInput and Trace included.
func (s *SQLite) Request(ctx context.Context, id string) ([]Row, error) { return request(ctx, s, id) }

// DeleteBefore deletes the rows with time < t, in chunks, through the writing connection.
func (s *SQLite) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	return deleteBefore(ctx, s, t, deleteChunk)
}

func (p *Postgres) sqlDialect() *dialect { return &pgDialect }

func (p *Postgres) query(ctx context.Context, q string, args []any, row func(scan func(...any) error) error) error {
	rows, err := p.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (p *Postgres) exec(ctx context.Context, q string, args []any) (int64, error) {
	tag, err := p.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Usage sums the rows q selects, by group and interval, ordered by Start then Group.
func (p *Postgres) Usage(ctx context.Context, q UsageQuery) ([]UsageBucket, error) {
	return usage(ctx, p, q)
}

// Requests lists the rows q selects, newest first, without RuleInput and Trace.
func (p *Postgres) Requests(ctx context.Context, q RequestQuery) ([]Row, error) {
	return requests(ctx, p, q)
}

// Request returns every row with the request id, newest first, RuleInput and Trace included.
func (p *Postgres) Request(ctx context.Context, id string) ([]Row, error) { return request(ctx, p, id) }

// DeleteBefore deletes the rows with time < t, in chunks.
func (p *Postgres) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	return deleteBefore(ctx, p, t, deleteChunk)
}

var (
	_ Reader = (*SQLite)(nil)
	_ Reader = (*Postgres)(nil)
)
