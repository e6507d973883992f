package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory whose writes can be made to fail or to block.
type memStore struct {
	mu      sync.Mutex
	rows    []Row
	batches []int
	fail    error         // Write fails with it while set
	block   chan struct{} // Write waits on it while set
	entered chan struct{} // receives a value when a Write starts (if not nil)
	closed  bool
}

func (m *memStore) Write(ctx context.Context, rows []Row) error {
	if m.entered != nil {
		m.entered <- struct{}{}
	}
	m.mu.Lock()
	block := m.block
	m.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.rows = append(m.rows, rows...)
	m.batches = append(m.batches, len(rows))
	return nil
}

func (m *memStore) Close() error { m.mu.Lock(); defer m.mu.Unlock(); m.closed = true; return nil }

func (m *memStore) set(fail error) { m.mu.Lock(); defer m.mu.Unlock(); m.fail = fail }

func (m *memStore) written() ([]Row, []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Row(nil), m.rows...), append([]int(nil), m.batches...)
}

// timers replaces time.After: a timer fires only when the test says so.
type timers struct {
	mu      sync.Mutex
	pending []chan time.Time
	armed   chan time.Duration // receives each requested duration
}

func newTimers() *timers { return &timers{armed: make(chan time.Duration, 1024)} }

func (tm *timers) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	tm.mu.Lock()
	tm.pending = append(tm.pending, c)
	tm.mu.Unlock()
	tm.armed <- d
	return c
}

// fire fires every timer armed so far.
func (tm *timers) fire() {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for _, c := range tm.pending {
		c <- time.Time{}
	}
	tm.pending = nil
}

func row(i int) Row { return Row{ID: fmt.Sprintf("req_%d", i), Status: 200} }

func ids(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// TestBatches: a full batch is written at once; a partial one when its first row has
// waited the interval; rows keep their order.
func TestBatches(t *testing.T) {
	st := &memStore{entered: make(chan struct{}, 100)}
	tm := newTimers()
	w := NewWriter(st, Options{Batch: 3, Interval: time.Second, After: tm.after})
	for i := range 4 {
		if !w.Add(row(i)) {
			t.Fatal("dropped")
		}
	}
	<-st.entered // the full batch of 3, without a timer firing
	if d := <-tm.armed; d != time.Second {
		t.Fatalf("timer of %v, want the interval", d)
	}
	<-tm.armed // the 4th row's batch
	tm.fire()
	<-st.entered
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, batches := st.written()
	if fmt.Sprint(ids(rows)) != "[req_0 req_1 req_2 req_3]" || fmt.Sprint(batches) != "[3 1]" || !st.closed {
		t.Fatalf("rows %v in batches %v, closed %v", ids(rows), batches, st.closed)
	}
}

// TestFullQueueDrops: a store that does not answer never blocks Add; rows beyond the
// queue are dropped and counted.
func TestFullQueueDrops(t *testing.T) {
	st := &memStore{block: make(chan struct{}), entered: make(chan struct{}, 100)}
	dropped := 0
	w := NewWriter(st, Options{Queue: 4, Batch: 1, Dropped: func() { dropped++ }, After: newTimers().after})
	w.Add(row(0))
	<-st.entered // the writer holds row 0 in a Write that does not return
	kept := 0
	for i := 1; i <= 10; i++ {
		if w.Add(row(i)) {
			kept++
		}
	}
	if kept != 4 || w.Dropped() != 6 || dropped != 6 {
		t.Fatalf("kept %d, dropped %d (callback %d); want 4 kept in the queue, 6 dropped", kept, w.Dropped(), dropped)
	}
	close(st.block)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := st.written(); len(rows) != 5 {
		t.Fatalf("%d rows written, want the 5 that were queued", len(rows))
	}
}

// TestFailingStoreLosesNothing: a batch the store refused is offered again after the
// retry wait, and written once the store answers; nothing is lost or doubled.
func TestFailingStoreLosesNothing(t *testing.T) {
	st := &memStore{fail: errors.New("connection refused"), entered: make(chan struct{}, 100)}
	tm := newTimers()
	var fails []error
	var mu sync.Mutex
	w := NewWriter(st, Options{Batch: 2, Retry: 5 * time.Second, After: tm.after,
		Failed: func(err error) { mu.Lock(); fails = append(fails, err); mu.Unlock() }})
	w.Add(row(0))
	w.Add(row(1))
	<-st.entered // first try, refused
	<-tm.armed   // the interval timer of the batch's first row
	if d := <-tm.armed; d != 5*time.Second {
		t.Fatalf("retry after %v, want 5s", d)
	}
	w.Add(row(2)) // queued meanwhile
	st.set(nil)   // the store is back
	tm.fire()
	<-st.entered // the same batch again
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, batches := st.written()
	if fmt.Sprint(ids(rows)) != "[req_0 req_1 req_2]" || fmt.Sprint(batches) != "[2 1]" {
		t.Fatalf("rows %v batches %v", ids(rows), batches)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fails) != 1 {
		t.Fatalf("failures reported: %v", fails)
	}
}

// TestCloseFlushes: Close writes every queued row (SIGTERM's flush), and rows added
// after it are dropped, not lost silently.
func TestCloseFlushes(t *testing.T) {
	st := &memStore{}
	w := NewWriter(st, Options{Batch: 100, After: newTimers().after}) // no timer ever fires
	for i := range 250 {
		w.Add(row(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := st.written(); len(rows) != 250 {
		t.Fatalf("%d rows written at close, want 250", len(rows))
	}
	if w.Add(row(999)) || w.Dropped() != 1 {
		t.Fatalf("a row after Close must be dropped and counted: dropped %d", w.Dropped())
	}
}

// TestCloseGivesUp: a store that keeps failing holds Close only until its context ends;
// then Close says rows were left unwritten.
func TestCloseGivesUp(t *testing.T) {
	st := &memStore{fail: errors.New("disk full")}
	tm := newTimers()
	w := NewWriter(st, Options{After: tm.after})
	w.Add(row(0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if !errors.Is(err, ErrUnwritten) || !st.closed {
		t.Fatalf("Close = %v, closed %v; want ErrUnwritten after the context ended", err, st.closed)
	}
}
