package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-llm/switchyard/host/circuit"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/keys"
	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/quota"
	"github.com/switchyard-llm/switchyard/host/state"
)

// database is what the ledger's store does: rows in, queries out, virtual keys.
type database interface {
	ledger.Store
	ledger.Reader
	ledger.KeyStore
}

// governance is what outlives reloads around the request path: the ledger and its
// writer, the virtual keys, the limits' counters and their shared state. A reload that
// changes ledger or state is refused (they need a restart).
type governance struct {
	cfgLedger config.Ledger
	cfgState  config.State

	db       database // nil without a ledger
	writer   *ledger.Writer
	registry *keys.Registry
	local    *state.Local
	quota    *quota.Enforcer

	// With state.url: the Redis every replica shares, and Shared, which puts it before
	// local and falls back to local while it is unreachable.
	redis  *state.Redis
	shared *state.Shared
	origin string // this replica's name in circuit events

	ctx     context.Context // ends at close: bounds the background work
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	reseed  chan struct{}
	circuit chan state.CircuitEvent
}

// openDatabase opens the store ledger.url names.
func openDatabase(ctx context.Context, l config.Ledger) (database, error) {
	if p := l.LedgerPath(); p != "" {
		return ledger.OpenSQLite(ctx, p)
	}
	return ledger.OpenPostgres(ctx, l.URL)
}

// countingStore counts the rows its store accepted and logs when a failing store
// answers again.
type countingStore struct {
	ledger.Store
	m       *metrics.Metrics
	log     *slog.Logger
	failing *atomic.Bool
}

func (c countingStore) Write(ctx context.Context, rows []ledger.Row) error {
	err := c.Store.Write(ctx, rows)
	if err == nil {
		c.m.LedgerRows.Add(float64(len(rows)))
		if c.failing.Swap(false) {
			c.log.Info("ledger: the store answers again; queued rows are being written")
		}
	}
	return err
}

// redisLog sends go-redis's own messages (reconnections, pool notes) to the debug level:
// what an operator needs is the one line openState logs on every change of health.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// startGovernance opens what cfg's ledger and state sections name. breakers are shared
// through state.url when it is set.
func startGovernance(ctx context.Context, cfg *config.File, m *metrics.Metrics, log *slog.Logger, breakers *circuit.Set) (*governance, error) {
	g := &governance{cfgLedger: cfg.Ledger, cfgState: cfg.State, reseed: make(chan struct{}, 1)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.local = state.NewLocal(state.LocalOptions{})
	var lim state.Limiter = g.local
	var spend state.Spend = g.local
	if cfg.State.URL != "" {
		if err := g.openState(ctx, cfg, m, log); err != nil {
			g.close(ctx, log)
			return nil, err
		}
		lim, spend = g.shared, g.shared
	}
	g.quota = quota.New(lim, spend, m, nil)
	if g.shared != nil {
		g.shareCircuits(breakers, log)
	}
	if cfg.Ledger.URL == "" {
		return g, nil
	}
	db, err := openDatabase(ctx, cfg.Ledger)
	if err != nil {
		g.close(ctx, log)
		return nil, fmt.Errorf("config %s: %w", cfg.Path, err)
	}
	g.db = db
	failing := new(atomic.Bool)
	g.writer = ledger.NewWriter(countingStore{db, m, log, failing}, ledger.Options{Queue: cfg.Ledger.Queue, Batch: cfg.Ledger.Batch,
		Interval: cfg.Ledger.Interval.D(),
		Dropped:  m.LedgerDropped.Inc,
		Failed: func(err error) {
			m.LedgerWriteErrors.Inc()
			if !failing.Swap(true) {
				log.Error("ledger: the store refused a batch; rows queue (up to ledger.queue) and are written when it answers", "err", err)
			}
		}})
	g.registry, err = keys.NewRegistry(ctx, db, keys.Options{Logger: log, OnKey: m.PrimeKey})
	if err != nil {
		g.close(ctx, log)
		return nil, fmt.Errorf("config %s: ledger: virtual keys: %w", cfg.Path, err)
	}
	g.seedBudgets(ctx, cfg, log)
	g.bg.Go(func() { g.registry.Run(g.ctx) })
	g.bg.Go(func() { g.retain(g.ctx, cfg.Ledger.Retention.D(), log) })
	if g.shared != nil {
		g.bg.Go(func() { g.reseedOnReturn(cfg, log) })
	}
	return g, nil
}

// openState connects to state.url. A Redis that does not answer yet is no error: the
// router starts on local state and says so, and moves to Redis when it answers.
func (g *governance) openState(ctx context.Context, cfg *config.File, m *metrics.Metrics, log *slog.Logger) error {
	redis.SetLogger(redisLog{log})
	mode := cfg.State.OnError
	if mode == "" {
		mode = "open"
	}
	first := true
	onHealth := func(healthy bool, err error) {
		if healthy {
			m.StateUp.Set(1)
			log.Info("state: shared state answers; limits, budgets, circuits and the cache are shared", "on_error", mode)
			if !first {
				select {
				case g.reseed <- struct{}{}:
				default:
				}
			}
		} else {
			m.StateUp.Set(0)
			what := "limits and budgets run on this replica's own counters"
			if mode == "closed" {
				what = "requests of keys with limits or budgets are refused with 503 state_unavailable"
			}
			log.Error("state: shared state unreachable: "+what+"; circuits and the cache are local until it answers",
				"on_error", mode, "err", err)
		}
		first = false
	}
	r, err := state.OpenRedis(ctx, cfg.State.URL, state.RedisOptions{OnHealth: onHealth})
	if err != nil {
		return fmt.Errorf("config %s: state.url: %w", cfg.Path, err)
	}
	g.redis = r
	g.shared = state.NewShared(r, g.local, state.SharedOptions{FailClosed: mode == "closed"})
	var b [4]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	g.origin = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	return nil
}

// circuitQueue bounds the breaker changes waiting to be published; a breaker lock never
// waits on Redis, and past this many (Redis slow and breakers flapping) changes stay local.
const circuitQueue = 1024

// shareCircuits publishes this replica's breaker changes and applies the others'.
func (g *governance) shareCircuits(breakers *circuit.Set, log *slog.Logger) {
	g.circuit = make(chan state.CircuitEvent, circuitQueue)
	var full atomic.Bool
	breakers.OnLocalChange(func(name string, open bool, until time.Time) {
		select {
		case g.circuit <- state.CircuitEvent{Key: name, Open: open, Until: until, Origin: g.origin}:
		default:
			if !full.Swap(true) {
				log.Warn("state: circuit changes arrive faster than they are shared; some stay on this replica", "queue", circuitQueue)
			}
		}
	})
	g.bg.Go(func() {
		for {
			select {
			case <-g.ctx.Done():
				return
			case e := <-g.circuit:
				pctx, cancel := context.WithTimeout(g.ctx, 2*time.Second)
				_ = g.shared.Publish(pctx, e) // never fails: local subscribers at worst
				cancel()
				full.Store(false)
			}
		}
	})
	g.bg.Go(func() {
		g.shared.Subscribe(g.ctx, func(e state.CircuitEvent) {
			if e.Origin != g.origin {
				breakers.Apply(e.Key, e.Open, e.Until)
			}
		})
	})
}

// reseedOnReturn seeds the budgets again each time Redis answers after an outage: a
// Redis that restarted empty would otherwise hand every key a fresh budget. Seeds only
// set absent counters, so one that survived keeps its value.
func (g *governance) reseedOnReturn(cfg *config.File, log *slog.Logger) {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.reseed:
			sctx, cancel := context.WithTimeout(g.ctx, time.Minute)
			g.seedBudgets(sctx, cfg, log)
			cancel()
		}
	}
}

// seedBudgets starts every budget's counter at what the ledger recorded for the current
// period, so a restart (or a new replica) does not hand keys a fresh budget.
func (g *governance) seedBudgets(ctx context.Context, cfg *config.File, log *slog.Logger) {
	budgets := map[string]*config.KeyBudget{}
	for _, k := range cfg.Keys {
		if k.Budget != nil {
			budgets[k.Name] = k.Budget
		}
	}
	for _, r := range g.registry.Records() {
		if r.Revoked.IsZero() && r.Budget != nil {
			budgets[r.Name] = &config.KeyBudget{USD: r.Budget.USD, Period: r.Budget.Period}
		}
	}
	now := time.Now()
	for name, b := range budgets {
		start, _ := quota.Period(b.Period, now)
		buckets, err := g.db.Usage(ctx, ledger.UsageQuery{Key: name, From: start})
		if err != nil {
			log.Warn("budget not seeded from the ledger: it counts from zero", "key", name, "err", err)
			continue
		}
		var spent float64
		for _, bk := range buckets {
			spent += bk.CostUSD
		}
		if err := g.quota.Seed(ctx, name, b, spent); err != nil {
			log.Warn("budget not seeded", "key", name, "err", err)
		}
	}
}

// retain deletes rows older than retention, at start and then every hour.
func (g *governance) retain(ctx context.Context, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := g.db.DeleteBefore(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("ledger retention: old rows not deleted; the next run tries again", "err", err)
		case n > 0:
			log.Info("ledger retention: old rows deleted", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cache is the server's Options.Cache: Redis before the local LRU with state.url, the
// local LRU (64 MiB per replica) without.
func (g *governance) cache() state.Cache {
	if g.shared != nil {
		return g.shared
	}
	return g.local
}

// record is the server's Options.Record.
func (g *governance) record(r ledger.Row) bool { return g.writer.Add(r) }

// changed says why cfg cannot be applied by a reload ("" when it can).
func (g *governance) changed(cfg *config.File) string {
	var what []string
	if cfg.Ledger != g.cfgLedger {
		what = append(what, "ledger")
	}
	if cfg.State != g.cfgState {
		what = append(what, "state")
	}
	if len(what) == 0 {
		return ""
	}
	return strings.Join(what, " and ") + " changed: restart the router to apply them"
}

// detail is what /readyz says of the ledger and the shared state.
func (g *governance) detail() map[string]any {
	d := map[string]any{}
	if g.writer != nil {
		d["ledger"] = map[string]any{"dropped": g.writer.Dropped()}
	}
	if g.redis != nil {
		s := map[string]any{"shared": true, "up": g.redis.Healthy(), "on_error": g.cfgState.OnError}
		if s["on_error"] == "" {
			s["on_error"] = "open"
		}
		if err := g.redis.Err(); err != nil && !g.redis.Healthy() {
			s["error"] = err.Error()
		}
		d["state"] = s
	} else {
		d["state"] = map[string]any{"shared": false}
	}
	return d
}

// close flushes the ledger (within ctx) and closes everything.
func (g *governance) close(ctx context.Context, log *slog.Logger) {
	g.cancel()
	g.bg.Wait()
	if g.writer != nil {
		if err := g.writer.Close(ctx); err != nil {
			if errors.Is(err, ledger.ErrUnwritten) {
				log.Error("ledger: rows left unwritten at shutdown: the store did not answer in time", "err", err)
			}
		}
	} else if g.db != nil {
		_ = g.db.Close()
	}
	if g.redis != nil {
		_ = g.redis.Close()
	}
}
