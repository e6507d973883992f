package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

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

	cancel context.CancelFunc
	done   chan struct{}
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

// startGovernance opens what cfg's ledger and state sections name.
func startGovernance(ctx context.Context, cfg *config.File, m *metrics.Metrics, log *slog.Logger) (*governance, error) {
	g := &governance{cfgLedger: cfg.Ledger, cfgState: cfg.State, done: make(chan struct{})}
	g.local = state.NewLocal(state.LocalOptions{})
	var lim state.Limiter = g.local
	var spend state.Spend = g.local
	if cfg.State.URL != "" {
		// Shared state through Redis is the next step of issue 12: refuse rather than
		// silently enforce per replica what the operator asked to share.
		return nil, fmt.Errorf("config %s: state.url: shared state through Redis is not in this build yet; leave state.url out (each replica keeps its own counters)", cfg.Path)
	}
	g.quota = quota.New(lim, spend, m, nil)
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
	rctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.registry.Run(rctx)
	go func() {
		defer close(g.done)
		g.retain(rctx, cfg.Ledger.Retention.D(), log)
	}()
	return g, nil
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
	return d
}

// close flushes the ledger (within ctx) and closes everything.
func (g *governance) close(ctx context.Context, log *slog.Logger) {
	if g.cancel != nil {
		g.cancel()
		<-g.done
	}
	if g.writer != nil {
		if err := g.writer.Close(ctx); err != nil {
			if errors.Is(err, ledger.ErrUnwritten) {
				log.Error("ledger: rows left unwritten at shutdown: the store did not answer in time", "err", err)
			}
		}
	} else if g.db != nil {
		_ = g.db.Close()
	}
}
