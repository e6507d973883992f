// Package admission bounds how many requests the router serves at once (limits.max_inflight,
// max_queue and queue_timeout of api/config/README.md).
//
// A Controller hands out up to MaxInflight slots. When every slot is taken, a request waits
// in a queue of at most MaxQueue entries, ordered by priority (10 the most important, 1 the
// least; first come, first served within a priority). A freed slot goes straight to the most
// important waiter. When the queue is full, the least important waiter is shed to make room
// for a more important newcomer; a newcomer that is not more important than every waiter is
// shed itself. A waiter whose QueueTimeout passes is shed; one whose context ends leaves the
// queue without being counted as shed.
//
// The fast path (a slot is free and nobody waits) takes one mutex and allocates nothing.
package admission

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Priorities run from MinPriority to MaxPriority; DefaultPriority is what a request without
// one gets.
const (
	MinPriority     = 1
	MaxPriority     = 10
	DefaultPriority = 5
)

// ErrShed is matched (errors.Is) by every error Acquire returns for a shed request.
var ErrShed = errors.New("admission: shed")

// shedError says why a request was shed; it matches ErrShed.
type shedError string

func (e shedError) Error() string        { return "admission: shed: " + string(e) }
func (e shedError) Is(target error) bool { return target == ErrShed }

// Why a request was shed.
var (
	// ErrQueueFull: every slot was taken and the queue held only requests at least as important.
	ErrQueueFull error = shedError("every slot is taken and the queue is full")
	// ErrDisplaced: the request was waiting and a more important one took its place.
	ErrDisplaced error = shedError("a more important request took its place in the queue")
	// ErrQueueTimeout: the request waited for the whole queue timeout.
	ErrQueueTimeout error = shedError("no slot became free within the queue timeout")
)

// Limits configure a Controller.
type Limits struct {
	// MaxInflight is the number of slots; at least 1.
	MaxInflight int
	// MaxQueue is how many requests may wait; 0 sheds as soon as every slot is taken.
	MaxQueue int
	// QueueTimeout is the longest wait; 0 or less means no limit other than the context.
	QueueTimeout time.Duration
}

// Observer is told about the queue. Its methods are called with the Controller's lock held,
// so they must be quick and must not call back into the Controller.
type Observer interface {
	// AdmissionQueueDepth reports the number of waiting requests after it changed.
	AdmissionQueueDepth(n int)
	// AdmissionShed counts one shed request of the given priority (1..10).
	AdmissionShed(priority int)
}

// Controller admits requests. It is safe for concurrent use.
type Controller struct {
	obs Observer
	// newTimer starts the queue timeout of one waiter: time.NewTimer's channel and Stop.
	// Tests replace it with a fake clock's, so a timeout fires when the test says so.
	newTimer func(time.Duration) (<-chan time.Time, func() bool)

	mu       sync.Mutex
	lim      Limits
	inflight int
	queued   int
	// queues holds the waiters of each priority, oldest first; index 0 is unused.
	queues [MaxPriority + 1]fifo
}

// New returns a Controller with the given limits; obs may be nil.
func New(l Limits, obs Observer) *Controller {
	c := &Controller{obs: obs, newTimer: realTimer}
	c.lim = sanitize(l)
	if obs != nil {
		obs.AdmissionQueueDepth(0)
	}
	return c
}

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func sanitize(l Limits) Limits {
	if l.MaxInflight < 1 {
		l.MaxInflight = 1
	}
	if l.MaxQueue < 0 {
		l.MaxQueue = 0
	}
	return l
}

func clamp(p int) int {
	switch {
	case p < MinPriority:
		return MinPriority
	case p > MaxPriority:
		return MaxPriority
	}
	return p
}

// Acquire takes a slot, waiting in the queue if every slot is taken. It returns nil when the
// caller holds a slot (and must call Release exactly once), an error matching ErrShed when
// the request was shed, or ctx's error when ctx ended while it waited. A priority outside
// 1..10 is clamped.
func (c *Controller) Acquire(ctx context.Context, priority int) error {
	c.mu.Lock()
	if c.queued == 0 && c.inflight < c.lim.MaxInflight {
		c.inflight++
		c.mu.Unlock()
		return nil
	}
	priority = clamp(priority)
	if c.queued >= c.lim.MaxQueue {
		low := c.lowest()
		if low == 0 || priority <= low {
			c.shed(priority)
			c.mu.Unlock()
			return ErrQueueFull
		}
		// Make room: the most recent waiter of the lowest priority goes.
		v := c.queues[low].popBack()
		c.queued--
		v.done <- ErrDisplaced
		c.shed(low)
	}
	w := &waiter{priority: priority, done: make(chan error, 1)}
	c.queues[priority].pushBack(w)
	c.queued++
	c.depth()
	timeout := c.lim.QueueTimeout
	c.mu.Unlock()

	var timer <-chan time.Time
	if timeout > 0 {
		var stop func() bool
		timer, stop = c.newTimer(timeout)
		defer stop()
	}
	var why error
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		why = ctx.Err()
	case <-timer:
		why = ErrQueueTimeout
	}
	c.mu.Lock()
	if w.queued() {
		c.queues[w.priority].remove(w)
		c.queued--
		c.depth()
		if why == ErrQueueTimeout {
			c.shed(w.priority)
		}
		c.mu.Unlock()
		return why
	}
	c.mu.Unlock()
	// Granted or displaced at the same moment: the verdict is already in the channel.
	err := <-w.done
	if err == nil && why != ErrQueueTimeout {
		c.Release() // the client is gone: pass the slot on
		return why
	}
	return err
}

// Release gives a slot back: to the most important waiter if there is one.
func (c *Controller) Release() {
	c.mu.Lock()
	if c.inflight <= c.lim.MaxInflight && c.queued > 0 {
		c.grant() // the slot changes hands; inflight stays the same
	} else if c.inflight > 0 {
		c.inflight--
	}
	c.mu.Unlock()
}

// SetLimits changes the limits (on a config reload). Slots held stay held; waiters are
// admitted if there are now free slots, and the least important are shed if the queue is
// now too long.
func (c *Controller) SetLimits(l Limits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lim = sanitize(l)
	for c.queued > 0 && c.inflight < c.lim.MaxInflight {
		c.inflight++
		c.grant()
	}
	for c.queued > c.lim.MaxQueue {
		low := c.lowest()
		v := c.queues[low].popBack()
		c.queued--
		v.done <- ErrDisplaced
		c.shed(low)
	}
	c.depth()
}

// Stats returns the slots taken and the requests waiting.
func (c *Controller) Stats() (inflight, queued int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight, c.queued
}

// grant hands a slot to the most important waiter. Called with mu held and queued > 0.
func (c *Controller) grant() {
	for p := MaxPriority; p >= MinPriority; p-- {
		if w := c.queues[p].popFront(); w != nil {
			c.queued--
			w.done <- nil
			c.depth()
			return
		}
	}
}

// lowest returns the lowest priority that has a waiter, 0 if none. Called with mu held.
func (c *Controller) lowest() int {
	for p := MinPriority; p <= MaxPriority; p++ {
		if c.queues[p].head != nil {
			return p
		}
	}
	return 0
}

func (c *Controller) shed(priority int) {
	if c.obs != nil {
		c.obs.AdmissionShed(priority)
	}
}

func (c *Controller) depth() {
	if c.obs != nil {
		c.obs.AdmissionQueueDepth(c.queued)
	}
}

// waiter is one queued request. done receives exactly one verdict: nil (a slot was handed
// over) or a shed error.
type waiter struct {
	priority   int
	prev, next *waiter
	list       *fifo
	done       chan error
}

func (w *waiter) queued() bool { return w.list != nil }

// fifo is an intrusive doubly linked list, so a waiter that leaves is removed in O(1).
type fifo struct {
	head, tail *waiter
}

func (f *fifo) pushBack(w *waiter) {
	w.list, w.prev, w.next = f, f.tail, nil
	if f.tail != nil {
		f.tail.next = w
	} else {
		f.head = w
	}
	f.tail = w
}

func (f *fifo) popFront() *waiter {
	w := f.head
	if w != nil {
		f.remove(w)
	}
	return w
}

func (f *fifo) popBack() *waiter {
	w := f.tail
	if w != nil {
		f.remove(w)
	}
	return w
}

func (f *fifo) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		f.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		f.tail = w.prev
	}
	w.prev, w.next, w.list = nil, nil, nil
}
