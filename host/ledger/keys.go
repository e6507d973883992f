package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// KeyRecord is a virtual key as stored: its secret is kept as a SHA-256 only.
type KeyRecord struct {
	Name    string // unique among active keys; ^[a-z0-9][a-z0-9._-]{0,62}$ is checked by the caller
	Team    string
	Hash    string   // hex SHA-256 of the secret
	Hint    string   // a short, non-secret reminder of the secret shown in lists (e.g. "sk-sy-…a1b2")
	Models  []string // allowed catalogue/route names; empty: all
	Limits  KeyLimits
	Budget  *KeyBudget // nil: none
	Created time.Time
	Updated time.Time
	Revoked time.Time // zero: active
}

type KeyLimits struct {
	RPM    int64                `json:"rpm,omitempty"`
	TPM    int64                `json:"tpm,omitempty"`
	Models map[string]RateLimit `json:"models,omitempty"` // per-model limits, by model name
}

type RateLimit struct {
	RPM int64 `json:"rpm,omitempty"`
	TPM int64 `json:"tpm,omitempty"`
}

type KeyBudget struct {
	USD    float64 `json:"usd"`
	Period string  `json:"period"` // day | week | month | total
}

var ErrKeyExists = errors.New("ledger: an active key has this name")
var ErrNoKey = errors.New("ledger: no such active key")

// errKeyHashUsed is wrapped by the error CreateKey and UpdateKey return for a hash some
// other key row (revoked ones included) holds: a revoked secret never works again.
var errKeyHashUsed = errors.New("ledger: another key (active or revoked) has this secret's hash")

// KeyStore manages virtual keys; both stores implement it, safe for concurrent use (also with the Writer).
type KeyStore interface {
	// CreateKey stores a new key. An active key of the same name: ErrKeyExists; a revoked one is replaced. A hash already used by another key is refused too (error).
	CreateKey(ctx context.Context, k KeyRecord) error
	// Keys lists every key, revoked ones included, ordered by name, and the version of the key table it read (see KeysVersion), both read in one transaction/snapshot.
	Keys(ctx context.Context) ([]KeyRecord, int64, error)
	// KeysVersion is a number that changes (grows) whenever any key is created, updated, rotated or revoked: replicas poll it (every ~500 ms) and reload the keys when it moved, so it must be one cheap indexed query.
	KeysVersion(ctx context.Context) (int64, error)
	// UpdateKey reads the active key name, applies f, and stores the result, in one transaction (a concurrent update cannot be lost). f may change every field but Name, Created, Revoked; ErrNoKey for a missing or revoked key; f's error is returned as is and nothing changes. Returns the stored record.
	UpdateKey(ctx context.Context, name string, f func(*KeyRecord) error) (KeyRecord, error)
	// RevokeKey marks the active key revoked at `at`; ErrNoKey when there is none.
	RevokeKey(ctx context.Context, name string, at time.Time) error
}

// How the key table is kept (migration 2):
//   - every write transaction sets the row it writes to version = max(version)+1, so
//     KeysVersion is max(version), one lookup in the unique index keys_version. Rows are
//     never deleted (a name created again after its revocation reuses its row), so the
//     maximum never falls back.
//   - writes are serialised: SQLite does it itself (a write transaction is BEGIN
//     IMMEDIATE, and the store has one writing connection); PostgreSQL's write
//     transactions first take the advisory lock keysLock, so two of them never read the
//     same maximum, and they commit in version order: a snapshot that sees version V sees
//     every write numbered V or less.
//   - PostgreSQL's write transactions are READ COMMITTED: each statement after the lock
//     reads the last commit, including the previous lock holder's.
//   - reads: Keys reads the rows and the version in one read-only transaction (SQLite) or
//     one REPEATABLE READ snapshot (PostgreSQL).

// keysLock is the advisory lock PostgreSQL's key writes hold (the migrations hold
// 7158244421).
const keysLock = 7158244422

// keysVersionQuery is KeysVersion's query: max over the unique index keys_version.
const keysVersionQuery = `SELECT coalesce(max(version), 0) FROM keys`

const keyColumns = `name, team, hash, hint, models, limits, budget, created_ms, updated_ms, revoked_ms`

// keyTx is a key transaction of either store. Queries are written with ? placeholders.
type keyTx interface {
	// exec runs a statement, returning the rows it affected.
	exec(ctx context.Context, q string, args ...any) (int64, error)
	// query runs q and calls row for each result row.
	query(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error
}

// keyBackend runs fn in a key transaction: a write one (serialised with every other key
// write) or a read-only snapshot. fn's error is returned as is, after a rollback.
type keyBackend interface {
	keysTx(ctx context.Context, write bool, fn func(tx keyTx) error) error
}

// keyOne runs q and scans its first row into dest; false when there is none.
func keyOne(ctx context.Context, tx keyTx, q string, args []any, dest ...any) (bool, error) {
	found := false
	err := tx.query(ctx, q, args, func(scan func(...any) error) error {
		if found {
			return nil
		}
		found = true
		return scan(dest...)
	})
	return found, err
}

// keyValues are a record's JSON columns and times, as stored.
type keyValues struct {
	models, limits, budget string
	created, updated       int64
}

// encodeKey checks k and makes its stored values.
func encodeKey(k *KeyRecord) (keyValues, error) {
	if !keyHashOK(k.Hash) {
		return keyValues{}, fmt.Errorf("ledger: key %q: the hash is not a hex SHA-256 (64 lowercase hex digits): the secret itself is never stored", k.Name)
	}
	v := keyValues{models: "[]", budget: "null", created: k.Created.UnixMilli(), updated: k.Updated.UnixMilli()}
	if len(k.Models) > 0 {
		b, err := json.Marshal(k.Models)
		if err != nil {
			return keyValues{}, fmt.Errorf("ledger: key %q: models: %w", k.Name, err)
		}
		v.models = string(b)
	}
	b, err := json.Marshal(k.Limits)
	if err != nil {
		return keyValues{}, fmt.Errorf("ledger: key %q: limits: %w", k.Name, err)
	}
	v.limits = string(b)
	if k.Budget != nil {
		b, err := json.Marshal(k.Budget) // refuses NaN and infinities
		if err != nil {
			return keyValues{}, fmt.Errorf("ledger: key %q: budget: %w", k.Name, err)
		}
		v.budget = string(b)
	}
	return v, nil
}

func keyHashOK(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// scanKey reads a row of keyColumns. Times are UTC, as the requests' are; empty Models
// and per-model limits read back nil.
func scanKey(scan func(...any) error) (KeyRecord, error) {
	var k KeyRecord
	var models, limits, budget string
	var created, updated int64
	var revoked *int64
	if err := scan(&k.Name, &k.Team, &k.Hash, &k.Hint, &models, &limits, &budget, &created, &updated, &revoked); err != nil {
		return KeyRecord{}, err
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return KeyRecord{}, fmt.Errorf("ledger: key %q: models: %w", k.Name, err)
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	if err := json.Unmarshal([]byte(limits), &k.Limits); err != nil {
		return KeyRecord{}, fmt.Errorf("ledger: key %q: limits: %w", k.Name, err)
	}
	if len(k.Limits.Models) == 0 {
		k.Limits.Models = nil
	}
	if err := json.Unmarshal([]byte(budget), &k.Budget); err != nil {
		return KeyRecord{}, fmt.Errorf("ledger: key %q: budget: %w", k.Name, err)
	}
	k.Created, k.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	if revoked != nil {
		k.Revoked = time.UnixMilli(*revoked).UTC()
	}
	return k, nil
}

// nextKeyVersion is the version the transaction's write gets.
func nextKeyVersion(ctx context.Context, tx keyTx) (int64, error) {
	var v int64
	_, err := keyOne(ctx, tx, keysVersionQuery, nil, &v)
	return v + 1, err
}

// keyHashFree refuses hash when a row other than except's holds it ("" : any row).
func keyHashFree(ctx context.Context, tx keyTx, name, hash, except string) error {
	var other string
	found, err := keyOne(ctx, tx, `SELECT name FROM keys WHERE hash = ? AND name <> ?`, []any{hash, except}, &other)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("ledger: key %q: %w", name, errKeyHashUsed)
	}
	return nil
}

// readActiveKey reads the active key name; false when it is missing or revoked.
func readActiveKey(ctx context.Context, tx keyTx, name string) (KeyRecord, bool, error) {
	var k KeyRecord
	found := false
	err := tx.query(ctx, `SELECT `+keyColumns+` FROM keys WHERE name = ? AND revoked_ms IS NULL`, []any{name},
		func(scan func(...any) error) error {
			var err error
			k, err = scanKey(scan)
			found = err == nil
			return err
		})
	return k, found, err
}

func createKey(ctx context.Context, b keyBackend, k KeyRecord) error {
	if !k.Revoked.IsZero() {
		return fmt.Errorf("ledger: key %q: a new key cannot be revoked", k.Name)
	}
	v, err := encodeKey(&k)
	if err != nil {
		return err
	}
	return b.keysTx(ctx, true, func(tx keyTx) error {
		var revoked *int64
		found, err := keyOne(ctx, tx, `SELECT revoked_ms FROM keys WHERE name = ?`, []any{k.Name}, &revoked)
		if err != nil {
			return err
		}
		if found && revoked == nil {
			return ErrKeyExists
		}
		// Any row's hash counts, the revoked one this key replaces included.
		if err := keyHashFree(ctx, tx, k.Name, k.Hash, ""); err != nil {
			return err
		}
		version, err := nextKeyVersion(ctx, tx)
		if err != nil {
			return err
		}
		args := []any{k.Team, k.Hash, k.Hint, v.models, v.limits, v.budget, v.created, v.updated, version, k.Name}
		if found { // the revoked key's row, reused: rows are never deleted
			_, err = tx.exec(ctx, `UPDATE keys SET team = ?, hash = ?, hint = ?, models = ?, limits = ?, budget = ?,
				created_ms = ?, updated_ms = ?, revoked_ms = NULL, version = ? WHERE name = ?`, args...)
		} else {
			_, err = tx.exec(ctx, `INSERT INTO keys (team, hash, hint, models, limits, budget, created_ms, updated_ms, version, name)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		}
		return err
	})
}

func listKeys(ctx context.Context, b keyBackend) ([]KeyRecord, int64, error) {
	var keys []KeyRecord
	var version int64
	err := b.keysTx(ctx, false, func(tx keyTx) error {
		err := tx.query(ctx, `SELECT `+keyColumns+` FROM keys`, nil, func(scan func(...any) error) error {
			k, err := scanKey(scan)
			keys = append(keys, k)
			return err
		})
		if err != nil {
			return err
		}
		_, err = keyOne(ctx, tx, keysVersionQuery, nil, &version)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	// By name, bytewise in both stores (PostgreSQL's collation may order . - _ otherwise).
	slices.SortFunc(keys, func(a, b KeyRecord) int { return strings.Compare(a.Name, b.Name) })
	return keys, version, nil
}

func updateKey(ctx context.Context, b keyBackend, name string, f func(*KeyRecord) error) (KeyRecord, error) {
	var out KeyRecord
	err := b.keysTx(ctx, true, func(tx keyTx) error {
		k, found, err := readActiveKey(ctx, tx, name)
		if err != nil {
			return err
		}
		if !found {
			return ErrNoKey
		}
		before := k
		if err := f(&k); err != nil {
			return err
		}
		if k.Name != before.Name || !k.Created.Equal(before.Created) || !k.Revoked.Equal(before.Revoked) {
			return fmt.Errorf("ledger: key %q: an update cannot change its name, creation or revocation", name)
		}
		v, err := encodeKey(&k)
		if err != nil {
			return err
		}
		if k.Hash != before.Hash {
			if err := keyHashFree(ctx, tx, name, k.Hash, name); err != nil {
				return err
			}
		}
		version, err := nextKeyVersion(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE keys SET team = ?, hash = ?, hint = ?, models = ?, limits = ?, budget = ?,
			updated_ms = ?, version = ? WHERE name = ?`,
			k.Team, k.Hash, k.Hint, v.models, v.limits, v.budget, v.updated, version, name); err != nil {
			return err
		}
		out, _, err = readActiveKey(ctx, tx, name) // as stored (whole milliseconds, UTC)
		return err
	})
	if err != nil {
		return KeyRecord{}, err
	}
	return out, nil
}

func revokeKey(ctx context.Context, b keyBackend, name string, at time.Time) error {
	return b.keysTx(ctx, true, func(tx keyTx) error {
		version, err := nextKeyVersion(ctx, tx)
		if err != nil {
			return err
		}
		n, err := tx.exec(ctx, `UPDATE keys SET revoked_ms = ?, version = ? WHERE name = ? AND revoked_ms IS NULL`,
			at.UnixMilli(), version, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNoKey
		}
		return nil
	})
}

// SQLite: key transactions run on the writing connection (db), one at a time; a
// write one is BEGIN IMMEDIATE, so even another process's writer cannot interleave.
// f (UpdateKey's) runs while that connection is held: it must not call the store.

type sqliteKeyTx struct{ tx *sql.Tx }

func (t sqliteKeyTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqliteKeyTx) query(ctx context.Context, q string, args []any, row func(scan func(...any) error) error) error {
	rows, err := t.tx.QueryContext(ctx, q, args...)
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

func (s *SQLite) keysTx(ctx context.Context, write bool, fn func(keyTx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if write {
		opts = &sql.TxOptions{Isolation: sql.LevelSerializable} // the driver's BEGIN IMMEDIATE
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(sqliteKeyTx{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// CreateKey stores a new key, replacing a revoked one of the same name.
func (s *SQLite) CreateKey(ctx context.Context, k KeyRecord) error { return createKey(ctx, s, k) }

// Keys lists every key by name, and the key table's version, in one transaction.
func (s *SQLite) Keys(ctx context.Context) ([]KeyRecord, int64, error) { return listKeys(ctx, s) }

// KeysVersion is the key table's version: max(version), one index lookup.
func (s *SQLite) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, keysVersionQuery).Scan(&v)
	return v, err
}

// UpdateKey applies f to the active key name in one transaction.
func (s *SQLite) UpdateKey(ctx context.Context, name string, f func(*KeyRecord) error) (KeyRecord, error) {
	return updateKey(ctx, s, name, f)
}

// RevokeKey marks the active key name revoked at at.
func (s *SQLite) RevokeKey(ctx context.Context, name string, at time.Time) error {
	return revokeKey(ctx, s, name, at)
}

// PostgreSQL: key writes hold keysLock (see above); reads are one REPEATABLE READ,
// read-only snapshot.

type pgKeyTx struct{ tx pgx.Tx }

// pgBind turns q's ? placeholders into $1, $2, ... (the key queries hold no ? in
// literals).
func pgBind(q string) string {
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

func (t pgKeyTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, pgBind(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t pgKeyTx) query(ctx context.Context, q string, args []any, row func(scan func(...any) error) error) error {
	rows, err := t.tx.Query(ctx, pgBind(q), args...)
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

func (p *Postgres) keysTx(ctx context.Context, write bool, fn func(keyTx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	if write {
		// READ COMMITTED (the default): each statement after the lock sees the last commit.
		opts = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	}
	tx, err := p.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if write {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(keysLock)); err != nil {
			return err
		}
	}
	if err := fn(pgKeyTx{tx}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// CreateKey stores a new key, replacing a revoked one of the same name.
func (p *Postgres) CreateKey(ctx context.Context, k KeyRecord) error { return createKey(ctx, p, k) }

// Keys lists every key by name, and the key table's version, in one snapshot.
func (p *Postgres) Keys(ctx context.Context) ([]KeyRecord, int64, error) { return listKeys(ctx, p) }

// KeysVersion is the key table's version: max(version), one index lookup.
func (p *Postgres) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := p.pool.QueryRow(ctx, keysVersionQuery).Scan(&v)
	return v, err
}

// UpdateKey applies f to the active key name in one transaction.
func (p *Postgres) UpdateKey(ctx context.Context, name string, f func(*KeyRecord) error) (KeyRecord, error) {
	return updateKey(ctx, p, name, f)
}

// RevokeKey marks the active key name revoked at at.
func (p *Postgres) RevokeKey(ctx context.Context, name string, at time.Time) error {
	return revokeKey(ctx, p, name, at)
}

var (
	_ KeyStore = (*SQLite)(nil)
	_ KeyStore = (*Postgres)(nil)
)
