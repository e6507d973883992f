// Package ledger records every request the router serves, off the request path: the
// pipeline hands a Writer one Row per request, and the Writer stores them in batches
// through a Store. A slow or failing store never delays or fails a request: the queue is
// bounded, a full queue drops rows and counts them, and a failed batch is kept and written
// again once the store answers.
package ledger

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Row is one request as the ledger keeps it.
type Row struct {
	ID        string
	Time      time.Time
	Key       string // the key's name, never its secret
	Team      string
	Endpoint  string
	Route     string // the model the client asked for
	Rule      string // the deciding rule's label (name@sha256-prefix) or "default"
	Targets   []string
	Attempts  int
	Fallbacks int
	Provider  string
	Model     string
	Status    int
	Code      string // the error code, "" for an answer
	// Token counts: TokensIn includes TokensCached.
	TokensIn, TokensOut, TokensCached int64
	CostUSD                           float64
	Latency, TTFT, Overhead           time.Duration
	// CacheHit is set when the response cache answered (the row costs nothing).
	CacheHit bool
	// RuleInput is the exact rule input, only when ledger.record_inputs asks for it.
	RuleInput []byte
	// Trace is the decision trace (JSON: each rule's output and time, each attempt's
	// outcome), recorded with RuleInput.
	Trace []byte
}

// Store keeps rows. Write stores one batch: an error means none of it was stored, and the
// Writer offers the same batch again later, so a store must make a batch all or nothing
// (one transaction). Implementations need not be safe for concurrent use: one Writer calls
// them from one goroutine.
type Store interface {
	Write(ctx context.Context, rows []Row) error
	Close() error
}

// Options tune a Writer; zero values take the defaults.
type Options struct {
	// Queue bounds the rows waiting to be written (default 65536); beyond it rows are
	// dropped and counted.
	Queue int
	// Batch is the most rows one Write gets (default 512).
	Batch int
	// Interval is how long a row may wait for its batch to fill (default 1 s): the most a
	// crash (SIGKILL) can lose is what arrived within one interval, plus a batch being
	// written.
	Interval time.Duration
	// Retry is the wait after a failed Write before the batch is offered again (default 1 s).
	Retry time.Duration
	// Dropped is called (from Add's goroutine) for each row dropped because the queue was
	// full; nil counts only in Dropped().
	Dropped func()
	// Failed is called after a Write failed, with its error (for a log line and a metric).
	Failed func(err error)
	// After makes the timers; nil is time.After. Tests inject their own to drive time.
	After func(time.Duration) <-chan time.Time
}

func (o *Options) defaults() {
	if o.Queue <= 0 {
		o.Queue = 65536
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.After == nil {
		o.After = time.After
	}
}

// Writer queues rows and writes them in batches from a goroutine of its own.
type Writer struct {
	store Store
	o     Options
	rows  chan Row
	// closing is closed by Close: the loop writes what is queued and returns.
	closing chan struct{}
	done    chan struct{}
	// flushCtx bounds the writes made after Close started (its context).
	mu       sync.Mutex
	flushCtx context.Context

	dropped sync.Mutex
	ndrop   int64
	once    sync.Once
	err     error // the last write error at the end, when rows were left unwritten
}

// NewWriter starts a Writer storing into s.
func NewWriter(s Store, o Options) *Writer {
	o.defaults()
	w := &Writer{store: s, o: o, rows: make(chan Row, o.Queue), closing: make(chan struct{}), done: make(chan struct{}),
		flushCtx: context.Background()}
	go w.loop()
	return w
}

// Add queues a row. It never blocks: when the queue is full the row is dropped, counted,
// and Add returns false.
func (w *Writer) Add(r Row) bool {
	select {
	case <-w.closing:
		w.drop()
		return false
	default:
	}
	select {
	case w.rows <- r:
		return true
	default:
		w.drop()
		return false
	}
}

func (w *Writer) drop() {
	w.dropped.Lock()
	w.ndrop++
	w.dropped.Unlock()
	if w.o.Dropped != nil {
		w.o.Dropped()
	}
}

// Dropped returns how many rows were dropped because the queue was full (or the Writer
// closed).
func (w *Writer) Dropped() int64 {
	w.dropped.Lock()
	defer w.dropped.Unlock()
	return w.ndrop
}

// ErrUnwritten is what Close returns, wrapped with the store's last error, when its
// context ended before every queued row was written.
var ErrUnwritten = errors.New("ledger: rows left unwritten")

// Close stops taking rows, writes every queued one (retrying a failing store until ctx
// ends: SIGTERM's flush), then closes the store.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.flushCtx = ctx
		w.mu.Unlock()
		close(w.closing)
	})
	<-w.done
	if err := w.store.Close(); err != nil && w.err == nil {
		return err
	}
	return w.err
}

func (w *Writer) ctx() context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushCtx
}

// loop gathers batches: it writes when a batch is full or the oldest row of a partial one
// has waited Interval, and after Close until the queue is empty.
func (w *Writer) loop() {
	defer close(w.done)
	batch := make([]Row, 0, w.o.Batch)
	var due <-chan time.Time // armed by the first row of a partial batch
	for {
		closing := false
		select {
		case r := <-w.rows:
			batch = append(batch, r)
			if len(batch) == 1 {
				due = w.o.After(w.o.Interval)
			}
			if len(batch) < w.o.Batch {
				continue
			}
		case <-due:
		case <-w.closing:
			closing = true
		}
		if closing {
			w.drain(batch)
			return
		}
		if !w.write(batch, false) {
			w.drain(batch) // closed while the store was failing
			return
		}
		batch, due = batch[:0], nil
	}
}

// write stores batch, offering it again after Retry while the store fails. It returns
// false when Close began meanwhile (the caller then drains, under Close's context).
func (w *Writer) write(batch []Row, closing bool) bool {
	for len(batch) > 0 {
		ctx := context.Background()
		if closing {
			ctx = w.ctx()
		}
		err := w.store.Write(ctx, batch)
		if err == nil {
			return true
		}
		if w.o.Failed != nil {
			w.o.Failed(err)
		}
		if closing && ctx.Err() != nil {
			w.err = errors.Join(ErrUnwritten, err)
			return false
		}
		select {
		case <-w.o.After(w.o.Retry):
		case <-w.closing:
			if !closing {
				return false
			}
			select {
			case <-w.o.After(w.o.Retry):
			case <-ctx.Done():
				w.err = errors.Join(ErrUnwritten, err)
				return false
			}
		}
	}
	return true
}

// drain writes batch and everything still queued, in batches, under Close's context.
func (w *Writer) drain(batch []Row) {
	for {
		for len(batch) < w.o.Batch {
			select {
			case r := <-w.rows:
				batch = append(batch, r)
				continue
			default:
			}
			break
		}
		if len(batch) == 0 {
			return
		}
		if !w.write(batch, true) {
			return
		}
		batch = batch[:0]
	}
}
