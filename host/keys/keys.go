// Package keys holds the client keys the router accepts: the config's keys[] and the
// virtual keys made at run time through the admin API, which live in the ledger's
// database. A Registry keeps the virtual ones in memory, refreshed whenever the
// database's key version moves (polled every Interval, and at once after a change made
// through this replica), so a key revoked on one replica is refused on every replica
// within one poll.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/ledger"
)

// Key is what a request's key allows; it never holds the secret.
type Key struct {
	Name string
	Team string
	// Models the key may use; nil: every model.
	Models map[string]bool
	Limits config.KeyLimits
	Budget *config.KeyBudget
	// Virtual is set for a key made through the admin API (not from the config).
	Virtual bool
}

// Allows reports whether the key may use the model (or route) name.
func (k *Key) Allows(model string) bool { return k.Models == nil || k.Models[model] }

// Limited reports whether the key has a rate limit or a budget to enforce.
func (k *Key) Limited() bool {
	return k.Budget != nil || k.Limits.RPM > 0 || k.Limits.TPM > 0 || len(k.Limits.Models) > 0
}

// FromConfig is a config key as a Key.
func FromConfig(c config.Key) *Key {
	return &Key{Name: c.Name, Team: c.Team, Models: modelSet(c.Models), Limits: c.Limits, Budget: c.Budget}
}

// FromRecord is a stored virtual key as a Key.
func FromRecord(r ledger.KeyRecord) *Key {
	k := &Key{Name: r.Name, Team: r.Team, Models: modelSet(r.Models), Virtual: true,
		Limits: config.KeyLimits{RPM: r.Limits.RPM, TPM: r.Limits.TPM}}
	if len(r.Limits.Models) > 0 {
		k.Limits.Models = map[string]config.RateLimit{}
		for m, l := range r.Limits.Models {
			k.Limits.Models[m] = config.RateLimit{RPM: l.RPM, TPM: l.TPM}
		}
	}
	if r.Budget != nil {
		k.Budget = &config.KeyBudget{USD: r.Budget.USD, Period: r.Budget.Period}
	}
	return k
}

func modelSet(models []string) map[string]bool {
	if len(models) == 0 {
		return nil
	}
	m := make(map[string]bool, len(models))
	for _, name := range models {
		m[name] = true
	}
	return m
}

// Sum is a secret's SHA-256, the only form in which keys are kept.
type Sum = [sha256.Size]byte

// Hash is a secret's SHA-256 in hex, as the database keeps it.
func Hash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// SecretPrefix starts every secret the router makes, so a leaked one is recognisable
// (secret scanners match on it).
const SecretPrefix = "sk-sy-"

// NewSecret makes a secret: SecretPrefix and 192 random bits in hex.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on the platforms Go supports
	return SecretPrefix + hex.EncodeToString(b[:])
}

// Hint is a reminder of a secret that lists may show: its prefix and last four characters.
func Hint(secret string) string {
	if len(secret) < 12 {
		return "…"
	}
	return secret[:len(SecretPrefix)] + "…" + secret[len(secret)-4:]
}

// Source is what a Registry reads virtual keys from (ledger.KeyStore has it).
type Source interface {
	Keys(ctx context.Context) ([]ledger.KeyRecord, int64, error)
	KeysVersion(ctx context.Context) (int64, error)
}

// snapshot is the virtual keys at one version of the database.
type snapshot struct {
	version int64
	active  map[Sum]*Key
	revoked map[Sum]bool
	records []ledger.KeyRecord
}

// Registry holds the virtual keys. Lookups are one map read of an immutable snapshot.
type Registry struct {
	src      Source
	log      *slog.Logger
	interval time.Duration
	// OnKey, when set, is called for each key name a refresh finds (the metrics prime
	// its series); budget is negative for none.
	onKey func(name string, budget float64)

	snap    atomic.Pointer[snapshot]
	mu      sync.Mutex // one refresh at a time
	failing atomic.Bool
}

// Options tune a Registry.
type Options struct {
	Logger *slog.Logger
	// Interval between polls of the key version (default 500 ms): the longest a change
	// made on another replica takes to apply here.
	Interval time.Duration
	// OnKey is called with every key name (and its budget, negative for none) a refresh
	// loads.
	OnKey func(name string, budget float64)
}

// NewRegistry loads the virtual keys once; Run keeps them fresh.
func NewRegistry(ctx context.Context, src Source, o Options) (*Registry, error) {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{src: src, log: o.Logger, interval: o.Interval, onKey: o.OnKey}
	r.snap.Store(&snapshot{version: -1})
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Refresh reloads the keys when the database's key version moved.
func (r *Registry) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.src.KeysVersion(ctx)
	if err != nil {
		return err
	}
	if v == r.snap.Load().version {
		return nil
	}
	records, v, err := r.src.Keys(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{version: v, active: map[Sum]*Key{}, revoked: map[Sum]bool{}, records: records}
	for _, rec := range records {
		b, err := hex.DecodeString(rec.Hash)
		if err != nil || len(b) != sha256.Size {
			r.log.Warn("virtual key with a malformed hash ignored", "key", rec.Name)
			continue
		}
		sum := Sum(b)
		if !rec.Revoked.IsZero() {
			s.revoked[sum] = true
			continue
		}
		k := FromRecord(rec)
		s.active[sum] = k
		if r.onKey != nil {
			budget := -1.0
			if k.Budget != nil {
				budget = k.Budget.USD
			}
			r.onKey(k.Name, budget)
		}
	}
	r.snap.Store(s)
	return nil
}

// Run polls the key version every Interval until ctx ends. A database that does not
// answer is logged once per outage; the keys last loaded keep serving.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !r.failing.Swap(true):
			r.log.Warn("virtual keys cannot be refreshed; the keys last loaded keep serving", "err", err)
		case err == nil && r.failing.Swap(false):
			r.log.Info("virtual keys refreshed again")
		}
	}
}

// Lookup finds the virtual key of a secret's sum; revoked says the sum is a revoked key's.
func (r *Registry) Lookup(sum Sum) (k *Key, revoked bool) {
	s := r.snap.Load()
	if k := s.active[sum]; k != nil {
		return k, false
	}
	return nil, s.revoked[sum]
}

// Active is the number of active virtual keys.
func (r *Registry) Active() int { return len(r.snap.Load().active) }

// Records are the keys as last loaded, revoked ones included (for GET /admin/keys).
func (r *Registry) Records() []ledger.KeyRecord { return r.snap.Load().records }
