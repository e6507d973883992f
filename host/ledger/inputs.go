package ledger

import (
	"context"
)

// InputReader streams the rows whose rule input was recorded (ledger.record_inputs), for
// `switchyard rules replay`; both stores implement it. Safe for concurrent use, also while
// the Writer writes.
type InputReader interface {
	// Inputs calls each with every row q selects that carries a rule input, newest first
	// (time, then insertion order, as Requests), RuleInput and Trace included. q's filters
	// are Requests' (a bad status is an ErrBadQuery), but its Limit is not: Inputs reads at
	// most Limit rows, without Requests' default or cap, and every row when Limit <= 0.
	// Rows are read one at a time while each runs, so a long read never holds them all in
	// memory; the read stays open meanwhile (one connection of the pool; in SQLite, a
	// snapshot the WAL cannot be checkpointed past), which suits a command, not the
	// request path. An error from each stops the read and is returned as it is.
	Inputs(ctx context.Context, q RequestQuery, each func(Row) error) error
	// CountInputs counts the rows q's filters select (q.Limit is ignored): all of them,
	// and those that carry a rule input.
	CountInputs(ctx context.Context, q RequestQuery) (rows, withInput int64, err error)
}

// hasInput is the condition of a row with a recorded rule input. The Writer stores a
// missing input as NULL; an empty one (which scanRows reads back as none) is none too.
const hasInput = `rule_input IS NOT NULL AND length(rule_input) > 0`

func inputs(ctx context.Context, b backend, q RequestQuery, each func(Row) error) error {
	w, err := requestFilter(q)
	if err != nil {
		return err
	}
	w.add(hasInput)
	d := b.sqlDialect()
	s := `SELECT ` + allColumns + ` FROM requests` + w.String() + ` ORDER BY ` + d.newest
	if q.Limit > 0 {
		s += ` LIMIT ?`
		w.args = append(w.args, q.Limit)
	}
	return b.query(ctx, d.bind(s), w.args, func(scan func(...any) error) error {
		r, err := scanRow(scan, true) // one row at a time: nothing accumulates
		if err != nil {
			return err
		}
		return each(r)
	})
}

func countInputs(ctx context.Context, b backend, q RequestQuery) (rows, withInput int64, err error) {
	w, err := requestFilter(q)
	if err != nil {
		return 0, 0, err
	}
	s := `SELECT count(*), CAST(coalesce(sum(CASE WHEN ` + hasInput + ` THEN 1 ELSE 0 END), 0) AS BIGINT) FROM requests` +
		w.String()
	err = b.query(ctx, b.sqlDialect().bind(s), w.args, func(scan func(...any) error) error {
		return scan(&rows, &withInput)
	})
	return rows, withInput, err
}

// Inputs streams the rows q selects that carry a rule input, newest first (InputReader).
func (s *SQLite) Inputs(ctx context.Context, q RequestQuery, each func(Row) error) error {
	return inputs(ctx, s, q, each)
}

// CountInputs counts the rows q's filters select, and those with a rule input.
func (s *SQLite) CountInputs(ctx context.Context, q RequestQuery) (rows, withInput int64, err error) {
	return countInputs(ctx, s, q)
}

// Inputs streams the rows q selects that carry a rule input, newest first (InputReader).
func (p *Postgres) Inputs(ctx context.Context, q RequestQuery, each func(Row) error) error {
	return inputs(ctx, p, q, each)
}

// CountInputs counts the rows q's filters select, and those with a rule input.
func (p *Postgres) CountInputs(ctx context.Context, q RequestQuery) (rows, withInput int64, err error) {
	return countInputs(ctx, p, q)
}

var (
	_ InputReader = (*SQLite)(nil)
	_ InputReader = (*Postgres)(nil)
)
