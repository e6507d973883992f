package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations are migrations in PostgreSQL's types, version for version.
var pgMigrations = []string{
	// 1: the requests table.
	`CREATE TABLE requests (
		id TEXT NOT NULL,
		ts_unix_ms BIGINT NOT NULL,
		key TEXT NOT NULL,
		team TEXT NOT NULL,
		endpoint TEXT NOT NULL,
		route TEXT NOT NULL,
		rule TEXT NOT NULL,
		targets TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		fallbacks INTEGER NOT NULL,
		provider TEXT NOT NULL,
		model TEXT NOT NULL,
		status INTEGER NOT NULL,
		code TEXT NOT NULL,
		tokens_in BIGINT NOT NULL,
		tokens_out BIGINT NOT NULL,
		tokens_cached BIGINT NOT NULL,
		cost_usd DOUBLE PRECISION NOT NULL,
		latency_us BIGINT NOT NULL,
		ttft_us BIGINT NOT NULL,
		overhead_us BIGINT NOT NULL,
		cache_hit INTEGER NOT NULL,
		rule_input BYTEA,
		trace BYTEA
	);
	CREATE INDEX requests_ts ON requests (ts_unix_ms);
	CREATE INDEX requests_id ON requests (id);
	CREATE INDEX requests_key_ts ON requests (key, ts_unix_ms);`,
	// 2: virtual keys (writes serialised by keysLock, see keys.go).
	`CREATE TABLE keys (
		name TEXT PRIMARY KEY,
		team TEXT NOT NULL,
		hash TEXT NOT NULL,
		hint TEXT NOT NULL,
		models TEXT NOT NULL,
		limits TEXT NOT NULL,
		budget TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		updated_ms BIGINT NOT NULL,
		revoked_ms BIGINT,
		version BIGINT NOT NULL
	);
	CREATE UNIQUE INDEX keys_hash ON keys (hash);
	CREATE UNIQUE INDEX keys_version ON keys (version);`,
}

// Postgres is the Store for fleets: every replica writes to one database.
type Postgres struct {
	pool *pgxpool.Pool
	// where names the database in messages, without its password.
	where string
}

// OpenPostgres connects to the database at dsn (postgres://...) and brings its schema to
// SchemaVersion, refusing one newer than this binary's. Migrations run in one transaction
// under an advisory lock, so replicas starting together migrate once.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	where := redact(dsn)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", where, err)
	}
	p := &Postgres{pool: pool, where: where}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// redact is a database URL without its password, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres (an unparsable URL)"
	}
	return u.Redacted()
}

func (p *Postgres) migrate(ctx context.Context) error {
	if len(pgMigrations) != len(migrations) {
		return errors.New("ledger: the PostgreSQL and SQLite migrations differ in number")
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", p.where, err)
	}
	defer tx.Rollback(ctx)
	// One replica migrates at a time (the lock ends with the transaction).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7158244421)`); err != nil {
		return fmt.Errorf("ledger %s: %w", p.where, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("ledger %s: %w", p.where, err)
	}
	var v int
	switch err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return fmt.Errorf("ledger %s: %w", p.where, err)
		}
	case err != nil:
		return fmt.Errorf("ledger %s: %w", p.where, err)
	}
	if err := tooNew(p.where, v); err != nil {
		return err
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, pgMigrations[v]); err != nil {
			return fmt.Errorf("ledger %s: migration %d: %w", p.where, v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, v); err != nil {
		return fmt.Errorf("ledger %s: %w", p.where, err)
	}
	return tx.Commit(ctx)
}

// Write stores rows with COPY in one transaction: all of them or none.
func (p *Postgres) Write(ctx context.Context, rows []Row) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return values(&rows[i]), nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"requests"}, columns, src); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Close closes the pool.
func (p *Postgres) Close() error { p.pool.Close(); return nil }

var _ Store = (*Postgres)(nil)
