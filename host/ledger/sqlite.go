package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3", cgo-free (README: the measured choice)
)

// migrations are the ledger schema's versions, in order: migrations[i] takes a database
// from version i to i+1. A released migration is never edited; a change is a new one, in
// pgMigrations too (the same schema in PostgreSQL's types).
var migrations = []string{
	// 1: the requests table. The id is the request id, which a client may choose
	// (x-request-id), so it is not unique: /admin/requests/{id} shows every row with it.
	`CREATE TABLE requests (
		id TEXT NOT NULL,
		ts_unix_ms INTEGER NOT NULL,
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
		tokens_in INTEGER NOT NULL,
		tokens_out INTEGER NOT NULL,
		tokens_cached INTEGER NOT NULL,
		cost_usd REAL NOT NULL,
		latency_us INTEGER NOT NULL,
		ttft_us INTEGER NOT NULL,
		overhead_us INTEGER NOT NULL,
		cache_hit INTEGER NOT NULL,
		rule_input BLOB,
		trace BLOB
	);
	CREATE INDEX requests_ts ON requests (ts_unix_ms);
	CREATE INDEX requests_id ON requests (id);
	CREATE INDEX requests_key_ts ON requests (key, ts_unix_ms);`,
	// 2: virtual keys (POST /admin/keys, keys.go). The secret is kept as its SHA-256 only;
	// models, limits and budget are JSON (KeyRecord's fields); a revoked key keeps its row,
	// with revoked_ms set, until a key of the same name is created again (in the same row:
	// rows are never deleted). version is the key table's version (KeysVersion) when the
	// row was last written: each write sets it to max(version)+1, so versions are unique.
	`CREATE TABLE keys (
		name TEXT PRIMARY KEY,
		team TEXT NOT NULL,
		hash TEXT NOT NULL,
		hint TEXT NOT NULL,
		models TEXT NOT NULL,
		limits TEXT NOT NULL,
		budget TEXT NOT NULL,
		created_ms INTEGER NOT NULL,
		updated_ms INTEGER NOT NULL,
		revoked_ms INTEGER,
		version INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX keys_hash ON keys (hash);
	CREATE UNIQUE INDEX keys_version ON keys (version);`,
}

// SchemaVersion is the ledger schema this binary writes.
var SchemaVersion = len(migrations)

// tooNew refuses a database whose schema is newer than this binary's: an older binary
// must not write rows a newer one cannot read. Both stores say it alike.
func tooNew(where string, v int) error {
	if v <= SchemaVersion {
		return nil
	}
	return fmt.Errorf("ledger %s: the database has schema version %d, newer than this switchyard's %d: run a newer switchyard, or point ledger.url at another database",
		where, v, SchemaVersion)
}

// SQLite is the embedded Store, the default: one file, nothing to install.
type SQLite struct {
	db *sql.DB
	// reader is the queries' own pool (query.go), so they run while db writes a batch.
	reader *sql.DB
	path   string
}

// OpenSQLite opens (creating it and its folder when missing) the ledger database at path
// and brings its schema to SchemaVersion. A database whose schema is newer than this
// binary's is refused: an older binary must not write rows a newer one cannot read.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	// WAL lets queries read while the writer writes; synchronous=NORMAL is WAL's safe
	// setting (a power loss may lose the last commits, never corrupt the file);
	// busy_timeout waits for a reader's lock instead of failing at once.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises writes anyway
	s := &SQLite{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.reader, err = openSQLiteReader(path); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("ledger %s: %w", s.path, err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return fmt.Errorf("ledger %s: %w", s.path, err)
		}
	case err != nil:
		return fmt.Errorf("ledger %s: %w", s.path, err)
	}
	if err := tooNew(s.path, v); err != nil {
		return err
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("ledger %s: migration %d: %w", s.path, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return fmt.Errorf("ledger %s: %w", s.path, err)
	}
	return tx.Commit()
}

// Write stores rows in one transaction: all of them or none.
func (s *SQLite) Write(ctx context.Context, rows []Row) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO requests (`+strings.Join(columns, ",")+`) VALUES (?`+strings.Repeat(",?", len(columns)-1)+`)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range rows {
		if _, err := st.ExecContext(ctx, values(&rows[i])...); err != nil {
			return fmt.Errorf("row %s: %w", rows[i].ID, err)
		}
	}
	return tx.Commit()
}

// Close closes the database (its read pool, then its writing connection).
func (s *SQLite) Close() error { return errors.Join(s.reader.Close(), s.db.Close()) }

var _ Store = (*SQLite)(nil)
