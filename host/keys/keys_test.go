package keys

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/ledger"
)

func openStore(t *testing.T) *ledger.SQLite {
	t.Helper()
	db, err := ledger.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func create(t *testing.T, db *ledger.SQLite, name, secret string, rec ledger.KeyRecord) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	rec.Name, rec.Hash, rec.Hint, rec.Created, rec.Updated = name, Hash(secret), Hint(secret), now, now
	if err := db.CreateKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryFollowsTheDatabase: a refresh picks up keys made, changed and revoked in the
// database (by any replica), a revoked key is told apart from an unknown one, and a
// refresh with nothing changed keeps the snapshot.
func TestRegistryFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	seen := map[string]float64{}
	r, err := NewRegistry(ctx, db, Options{OnKey: func(name string, budget float64) { seen[name] = budget }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Active() != 0 {
		t.Fatalf("an empty database gives %d keys", r.Active())
	}
	a, b := NewSecret(), NewSecret()
	create(t, db, "alpha", a, ledger.KeyRecord{Team: "red", Models: []string{"mock-small"},
		Limits: ledger.KeyLimits{RPM: 30, Models: map[string]ledger.RateLimit{"mock-small": {TPM: 100}}},
		Budget: &ledger.KeyBudget{USD: 5, Period: "day"}})
	create(t, db, "beta", b, ledger.KeyRecord{})
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	k, revoked := r.Lookup(sha256.Sum256([]byte(a)))
	if k == nil || revoked {
		t.Fatalf("alpha not found after a refresh (revoked %v)", revoked)
	}
	if k.Name != "alpha" || k.Team != "red" || !k.Virtual || !k.Allows("mock-small") || k.Allows("mock-large") ||
		k.Limits.RPM != 30 || k.Limits.Models["mock-small"].TPM != 100 || k.Budget == nil || k.Budget.USD != 5 || !k.Limited() {
		t.Errorf("alpha as a Key: %+v", k)
	}
	if k, _ := r.Lookup(sha256.Sum256([]byte(b))); k == nil || k.Limited() || !k.Allows("anything") {
		t.Errorf("beta (no models, limits or budget) as a Key: %+v", k)
	}
	if seen["alpha"] != 5 || seen["beta"] != -1 {
		t.Errorf("OnKey saw %v, want alpha 5 and beta -1 (no budget)", seen)
	}

	snap := r.snap.Load()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.snap.Load() != snap {
		t.Error("a refresh with the key version unchanged rebuilt the snapshot")
	}

	if err := db.RevokeKey(ctx, "alpha", time.Unix(1_700_000_100, 0)); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if k, revoked := r.Lookup(sha256.Sum256([]byte(a))); k != nil || !revoked {
		t.Errorf("revoked alpha: key %v revoked %v, want nil and true", k, revoked)
	}
	if k, revoked := r.Lookup(sha256.Sum256([]byte("sk-sy-never-made"))); k != nil || revoked {
		t.Errorf("an unknown secret: key %v revoked %v", k, revoked)
	}
	if r.Active() != 1 || len(r.Records()) != 2 {
		t.Errorf("%d active and %d records, want 1 and 2 (revoked keys are listed)", r.Active(), len(r.Records()))
	}
}

// failingSource answers KeysVersion with err while it is set.
type failingSource struct {
	Source
	err   atomic.Pointer[error]
	polls atomic.Int64
}

func (f *failingSource) KeysVersion(ctx context.Context) (int64, error) {
	f.polls.Add(1)
	if e := f.err.Load(); e != nil {
		return 0, *e
	}
	return f.Source.KeysVersion(ctx)
}

// TestRegistryKeepsServingWhenTheDatabaseFails: a failed refresh keeps the last keys.
func TestRegistryKeepsServingWhenTheDatabaseFails(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	a := NewSecret()
	create(t, db, "alpha", a, ledger.KeyRecord{})
	src := &failingSource{Source: db}
	r, err := NewRegistry(ctx, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("database down")
	src.err.Store(&down)
	if err := r.Refresh(ctx); !errors.Is(err, down) {
		t.Fatalf("refresh with the database down: %v", err)
	}
	if k, _ := r.Lookup(sha256.Sum256([]byte(a))); k == nil {
		t.Error("a failed refresh forgot the keys")
	}
	if _, err := NewRegistry(ctx, src, Options{}); !errors.Is(err, down) {
		t.Errorf("a registry that cannot load at all: %v, want the error", err)
	}
}

func TestSecretsAndHints(t *testing.T) {
	s := NewSecret()
	if !strings.HasPrefix(s, SecretPrefix) || len(s) != len(SecretPrefix)+48 || s == NewSecret() {
		t.Fatalf("secret %q", s)
	}
	h := Hint(s)
	if !strings.HasPrefix(h, SecretPrefix) || !strings.HasSuffix(h, s[len(s)-4:]) || strings.Contains(h, s[len(SecretPrefix):len(s)-4]) {
		t.Errorf("hint %q of %q shows too much or too little", h, s)
	}
	if Hint("short") != "…" {
		t.Errorf("hint of a short secret %q", Hint("short"))
	}
	if len(Hash(s)) != 64 || Hash(s) == Hash(s+"x") {
		t.Errorf("hash %q", Hash(s))
	}
}

func TestFromConfig(t *testing.T) {
	k := FromConfig(config.Key{Name: "n", Team: "t", Models: []string{"a"}, Limits: config.KeyLimits{TPM: 9}})
	if k.Virtual || !k.Allows("a") || k.Allows("b") || !k.Limited() || k.Team != "t" {
		t.Errorf("config key as a Key: %+v", k)
	}
	if FromConfig(config.Key{Name: "open"}).Limited() {
		t.Error("a config key without limits or budget is limited")
	}
}
