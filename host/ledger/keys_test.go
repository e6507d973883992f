package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func keyHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// TestSQLiteKeys runs the key store's contract against the real SQLite.
func TestSQLiteKeys(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	testKeyStore(t, s)
}

// TestSQLiteKeysVersionIndexed: KeysVersion is one lookup in keys_version, not a scan.
func TestSQLiteKeysVersionIndexed(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN ` + keysVersionQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "SEARCH keys USING COVERING INDEX keys_version") {
		t.Fatalf("KeysVersion's plan %q does not use keys_version", p)
	}
}

// TestPostgresKeys runs the same contract against a real PostgreSQL, and checks that
// KeysVersion can be answered from the index alone.
func TestPostgresKeys(t *testing.T) {
	ctx := context.Background()
	p, err := OpenPostgres(ctx, testPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testKeyStore(t, p)

	tx, err := p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil { // the table is tiny here
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN `+keysVersionQuery)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "Index Only Scan Backward using keys_version") {
		t.Fatalf("KeysVersion's plan does not read keys_version:\n%s", p)
	}
}

// testKeyStore is the KeyStore contract, run against each store.
func testKeyStore(t *testing.T, s KeyStore) {
	ctx := context.Background()
	at := func(ms int64) time.Time { return time.UnixMilli(1764000000000 + ms).UTC() }

	version := func() int64 {
		t.Helper()
		v, err := s.KeysVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	last := version()
	if last != 0 {
		t.Fatalf("an empty key table has version %d, want 0", last)
	}
	grew := func(what string) {
		t.Helper()
		if v := version(); v <= last {
			t.Fatalf("after %s the version is %d, was %d: it must grow", what, v, last)
		} else {
			last = v
		}
	}
	same := func(what string) {
		t.Helper()
		if v := version(); v != last {
			t.Fatalf("after %s the version moved from %d to %d", what, last, v)
		}
	}
	// list checks that Keys answers want, with the version KeysVersion says.
	list := func(what string, want ...KeyRecord) {
		t.Helper()
		got, v, err := s.Keys(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) == 0 && len(want) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Keys\n %+v\nwant\n %+v", what, got, want)
		}
		if v != last {
			t.Fatalf("%s: Keys read version %d, KeysVersion says %d", what, v, last)
		}
		same(what + " (reading)")
	}
	list("empty")

	full := KeyRecord{Name: "team-a.prod_1", Team: "team-a", Hash: keyHash("sk-sy-full"), Hint: "sk-sy-…full",
		Models: []string{"default", "openai/gpt-4o-mini"},
		Limits: KeyLimits{RPM: 600, TPM: 100000, Models: map[string]RateLimit{"openai/gpt-4o-mini": {RPM: 60}, "default": {TPM: 5000}}},
		Budget: &KeyBudget{USD: 12.345, Period: "month"}, Created: at(1), Updated: at(2)}
	bare := KeyRecord{Name: "team-a", Team: "a", Hash: keyHash("sk-sy-bare"), Hint: "sk-sy-…bare", Created: at(3), Updated: at(3)}
	for _, k := range []KeyRecord{full, bare} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("create %s: %v", k.Name, err)
		}
		grew("a create")
	}
	// By name, bytewise: "team-a" < "team-a.prod_1".
	list("two keys", bare, full)

	// An active name is taken; the refused create changes nothing.
	dup := bare
	dup.Hash, dup.Team = keyHash("sk-sy-other"), "b"
	if err := s.CreateKey(ctx, dup); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("an active name created again: %v, want ErrKeyExists", err)
	}
	same("a refused create")
	// A hash another key holds is refused.
	twin := KeyRecord{Name: "twin", Team: "a", Hash: full.Hash, Hint: "x", Created: at(4), Updated: at(4)}
	if err := s.CreateKey(ctx, twin); !errors.Is(err, errKeyHashUsed) {
		t.Fatalf("a used hash: %v, want errKeyHashUsed", err)
	}
	// The secret itself (not a hex SHA-256) is never stored; nor is a revoked new key.
	plain := KeyRecord{Name: "plain", Hash: "sk-sy-plaintext", Created: at(4), Updated: at(4)}
	if err := s.CreateKey(ctx, plain); err == nil || !strings.Contains(err.Error(), "not a hex SHA-256") {
		t.Fatalf("a secret for a hash: %v", err)
	}
	plain.Hash, plain.Revoked = keyHash("sk-sy-plain"), at(5)
	if err := s.CreateKey(ctx, plain); err == nil {
		t.Fatal("a new key that is revoked was stored")
	}
	same("refused creates")
	list("after refusals", bare, full)

	// Rotation: a new hash and hint.
	rotated := full
	rotated.Hash, rotated.Hint, rotated.Updated = keyHash("sk-sy-rotated"), "sk-sy-…ated", at(10)
	got, err := s.UpdateKey(ctx, full.Name, func(k *KeyRecord) error {
		if !reflect.DeepEqual(*k, full) {
			t.Errorf("f was given\n %+v\nwant\n %+v", *k, full)
		}
		k.Hash, k.Hint, k.Updated = rotated.Hash, rotated.Hint, rotated.Updated
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, rotated) {
		t.Fatalf("rotate: %+v %v", got, err)
	}
	grew("a rotation")
	list("rotated", bare, rotated)
	// Rotating onto another key's hash is refused.
	if _, err := s.UpdateKey(ctx, bare.Name, func(k *KeyRecord) error { k.Hash = rotated.Hash; return nil }); !errors.Is(err, errKeyHashUsed) {
		t.Fatalf("rotating onto a used hash: %v", err)
	}
	same("a refused rotation")

	// Team, limits, budget and models change; an emptied list reads back nil.
	changed := bare
	changed.Team, changed.Models, changed.Updated = "b", []string{"default"}, at(11)
	changed.Limits = KeyLimits{TPM: 7, Models: map[string]RateLimit{"default": {RPM: 1, TPM: 2}}}
	changed.Budget = &KeyBudget{USD: 0.5, Period: "day"}
	if got, err := s.UpdateKey(ctx, bare.Name, func(k *KeyRecord) error {
		k.Team, k.Models, k.Limits, k.Budget, k.Updated = changed.Team, changed.Models, changed.Limits, changed.Budget, changed.Updated
		return nil
	}); err != nil || !reflect.DeepEqual(got, changed) {
		t.Fatalf("update: %+v %v", got, err)
	}
	grew("an update")
	unlimited := rotated
	unlimited.Budget, unlimited.Models, unlimited.Limits, unlimited.Updated = nil, nil, KeyLimits{}, at(12)
	if got, err := s.UpdateKey(ctx, rotated.Name, func(k *KeyRecord) error {
		k.Budget, k.Models, k.Limits, k.Updated = nil, []string{}, KeyLimits{Models: map[string]RateLimit{}}, at(12)
		return nil
	}); err != nil || !reflect.DeepEqual(got, unlimited) {
		t.Fatalf("clearing budget and limits: %+v %v", got, err)
	}
	grew("an update")
	list("updated", changed, unlimited)

	// f's error is returned as is and nothing changes, whatever f did to the record.
	refusal := errors.New("refused by f")
	if _, err := s.UpdateKey(ctx, changed.Name, func(k *KeyRecord) error {
		k.Team, k.Hash, k.Limits.RPM = "changed", keyHash("never"), 99
		return refusal
	}); err != refusal {
		t.Fatalf("f's error came back as %v", err)
	}
	// Name, Created and Revoked are not f's to change.
	for what, f := range map[string]func(*KeyRecord){
		"name":    func(k *KeyRecord) { k.Name = "renamed" },
		"created": func(k *KeyRecord) { k.Created = at(50) },
		"revoked": func(k *KeyRecord) { k.Revoked = at(50) },
	} {
		if _, err := s.UpdateKey(ctx, changed.Name, func(k *KeyRecord) error { f(k); return nil }); err == nil {
			t.Fatalf("an update changed the %s", what)
		}
	}
	same("refused updates")
	list("after refused updates", changed, unlimited)
	called := false
	if _, err := s.UpdateKey(ctx, "missing", func(*KeyRecord) error { called = true; return nil }); !errors.Is(err, ErrNoKey) || called {
		t.Fatalf("updating a missing key: %v (f called: %v)", err, called)
	}

	// Revocation.
	if err := s.RevokeKey(ctx, changed.Name, at(20)); err != nil {
		t.Fatal(err)
	}
	grew("a revocation")
	revoked := changed
	revoked.Revoked = at(20)
	list("revoked", revoked, unlimited)
	if err := s.RevokeKey(ctx, changed.Name, at(21)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("revoking a revoked key: %v", err)
	}
	if err := s.RevokeKey(ctx, "missing", at(21)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("revoking a missing key: %v", err)
	}
	called = false
	if _, err := s.UpdateKey(ctx, changed.Name, func(*KeyRecord) error { called = true; return nil }); !errors.Is(err, ErrNoKey) || called {
		t.Fatalf("updating a revoked key: %v (f called: %v)", err, called)
	}
	// A revoked key's hash stays taken: for another name, and for its own name's new key.
	reuse := KeyRecord{Name: "reuse", Hash: revoked.Hash, Created: at(22), Updated: at(22)}
	if err := s.CreateKey(ctx, reuse); !errors.Is(err, errKeyHashUsed) {
		t.Fatalf("a revoked key's hash for another name: %v", err)
	}
	reuse.Name = revoked.Name
	if err := s.CreateKey(ctx, reuse); !errors.Is(err, errKeyHashUsed) {
		t.Fatalf("a revoked key's hash for its own name: %v", err)
	}
	same("refused writes on a revoked key")
	list("still revoked", revoked, unlimited)

	// Creating the name again replaces the revoked key.
	again := KeyRecord{Name: changed.Name, Team: "c", Hash: keyHash("sk-sy-again"), Hint: "sk-sy-…gain",
		Limits: KeyLimits{RPM: 1}, Created: at(30), Updated: at(30)}
	if err := s.CreateKey(ctx, again); err != nil {
		t.Fatal(err)
	}
	grew("a create replacing a revoked key")
	list("created again", again, unlimited)
	if err := s.CreateKey(ctx, again); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("the re-created name is active: %v", err)
	}

	// Concurrent updates lose nothing, and a snapshot that sees version V sees every write
	// numbered V or less: while 8 writers add 1 to RPM 50 times each (every write numbers
	// the table once), readers check RPM - 1 == version - start in each Keys snapshot.
	start := version()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := s.UpdateKey(ctx, again.Name, func(k *KeyRecord) error { k.Limits.RPM++; return nil }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				keys, v, err := s.Keys(ctx)
				if err != nil {
					errs <- err
					return
				}
				if len(keys) != 2 || keys[0].Name != again.Name || keys[0].Limits.RPM-1 != v-start {
					errs <- fmt.Errorf("a snapshot at version %d (start %d) holds %+v", v, start, keys)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keys, v, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].Limits.RPM != 1+writers*each {
		t.Fatalf("RPM after %d concurrent increments: %d, want %d", writers*each, keys[0].Limits.RPM, 1+writers*each)
	}
	if v != start+writers*each {
		t.Fatalf("version after %d concurrent updates: %d, want %d", writers*each, v, start+writers*each)
	}
}
