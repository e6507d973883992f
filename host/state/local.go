package state

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// LocalOptions configures a Local.
type LocalOptions struct {
	// CacheMaxBytes bounds the cache by the total bytes of its keys and values (default
	// 64 MiB); an entry larger than that is not stored.
	CacheMaxBytes int64
	// Now is the clock of cache TTLs, spend TTLs and circuit Until (default time.Now).
	// The limiter takes its clock from each call's now.
	Now func() time.Time
}

// DefaultCacheMaxBytes is LocalOptions.CacheMaxBytes when unset.
const DefaultCacheMaxBytes = 64 << 20

// Local keeps limits, spend, the cache and circuits in this process. It is what a single
// replica uses, and what Shared falls back to while Redis is unreachable. Safe for
// concurrent use; it holds no goroutines and needs no closing.
type Local struct {
	now   func() time.Time
	lim   limiter
	spend localSpend
	cache lruCache
	circ  localCircuits
}

// NewLocal returns an empty Local.
func NewLocal(o LocalOptions) *Local {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	l := &Local{now: o.Now}
	l.lim.seed = maphash.MakeSeed()
	for i := range l.lim.shards {
		l.lim.shards[i].windows = make(map[string]*window)
	}
	l.spend.m = make(map[string]*spendEntry)
	l.cache.max = o.CacheMaxBytes
	l.cache.items = make(map[string]*cacheEntry)
	l.cache.head.prev, l.cache.head.next = &l.cache.head, &l.cache.head
	l.circ.open = make(map[string]CircuitEvent)
	l.circ.subs = make(map[*localSub]struct{})
	return l
}

// ---- Limiter ----

const shardCount = 64

// limiter is the windows, in shards by the hash of their names.
type limiter struct {
	seed   maphash.Seed
	shards [shardCount]limShard
}

type limShard struct {
	mu      sync.Mutex
	windows map[string]*window
	swept   int64    // second of the last sweep for idle windows
	_       [40]byte // one cache line per shard
}

// window is a ring of the 60 one-second buckets head-59..head.
type window struct {
	head    int64 // the newest second held
	total   int64 // sum of buckets
	buckets [windowSeconds]int64
}

func ring(sec int64) int {
	i := sec % windowSeconds
	if i < 0 {
		i += windowSeconds
	}
	return int(i)
}

// advance moves the ring to sec, emptying the buckets that fell out. A clock that went
// back leaves it where it is: the window is then relative to its newest second.
func (w *window) advance(sec int64) {
	if sec <= w.head {
		return
	}
	if sec-w.head >= windowSeconds {
		w.buckets = [windowSeconds]int64{}
		w.total = 0
	} else {
		for s := w.head + 1; s <= sec; s++ {
			i := ring(s)
			w.total -= w.buckets[i]
			w.buckets[i] = 0
		}
	}
	w.head = sec
}

// wait is the ms from nowMs until need units have left the window (head already
// advanced to the second of nowMs or later).
func (w *window) wait(need, nowMs int64) int64 {
	freed := int64(0)
	for s := w.head - windowSeconds + 1; s <= w.head; s++ {
		freed += w.buckets[ring(s)]
		if freed >= need {
			return (s+windowSeconds)*1000 - nowMs
		}
	}
	return (w.head+windowSeconds)*1000 - nowMs
}

func (l *limiter) shard(name string) int {
	return int(maphash.String(l.seed, name) % shardCount)
}

// get returns the window (creating it), advanced to sec; the shard is locked.
func (s *limShard) get(name string, sec int64) *window {
	if sec-s.swept > windowSeconds {
		// Windows untouched for a full window hold nothing: forget them.
		for k, w := range s.windows {
			if w.head < sec-windowSeconds+1 {
				delete(s.windows, k)
			}
		}
		s.swept = sec
	}
	w := s.windows[name]
	if w == nil {
		w = &window{head: sec}
		s.windows[name] = w
	}
	w.advance(sec)
	return w
}

// Take implements Limiter.
func (l *Local) Take(_ context.Context, now time.Time, takes []Take) (Verdict, error) {
	if err := checkTakes(takes); err != nil {
		return Verdict{}, err
	}
	return l.lim.take(now, takes), nil
}

func (l *limiter) take(now time.Time, takes []Take) Verdict {
	v := Verdict{Allowed: true, Denied: -1, Remaining: make([]int64, len(takes))}
	if len(takes) == 0 {
		return v
	}
	sec, nowMs := unixSec(now), now.UnixMilli()

	// The shards to lock, in ascending order without repeats (no deadlock between calls).
	var shBuf, lockBuf [8]int
	var wBuf [8]*window
	sh, locks, ws := shBuf[:0], lockBuf[:0], wBuf[:0]
	if len(takes) > len(shBuf) {
		sh, locks, ws = make([]int, 0, len(takes)), make([]int, 0, len(takes)), make([]*window, 0, len(takes))
	}
	for _, t := range takes {
		i := l.shard(t.Window)
		sh = append(sh, i)
		j := len(locks)
		for j > 0 && locks[j-1] > i {
			j--
		}
		if j > 0 && locks[j-1] == i {
			continue
		}
		locks = append(locks, 0)
		copy(locks[j+1:], locks[j:])
		locks[j] = i
	}
	for _, i := range locks {
		l.shards[i].mu.Lock()
	}
	for k, t := range takes {
		ws = append(ws, l.shards[sh[k]].get(t.Window, sec))
	}

	for k, t := range takes {
		w := ws[k]
		pending := int64(0) // taken by earlier takes of this call on the same window
		for j := range k {
			if ws[j] == w {
				pending += takes[j].N
			}
		}
		if w.total+pending+t.N <= t.Limit {
			continue
		}
		v.Allowed, v.Denied = false, k
		if pending+t.N > t.Limit {
			v.RetryAfter = neverFits
		} else {
			v.RetryAfter = retryAfter(w.wait(w.total+pending+t.N-t.Limit, nowMs))
		}
		break
	}
	if v.Allowed {
		for k, t := range takes {
			w := ws[k]
			w.buckets[ring(w.head)] += t.N
			w.total += t.N
		}
	}
	for k, t := range takes {
		v.Remaining[k] = max(t.Limit-ws[k].total, 0)
	}
	for _, i := range locks {
		l.shards[i].mu.Unlock()
	}
	return v
}

// Add implements Limiter.
func (l *Local) Add(_ context.Context, at, now time.Time, name string, n int64) error {
	l.lim.add(at, now, name, n)
	return nil
}

func (l *limiter) add(at, now time.Time, name string, n int64) {
	if n == 0 {
		return
	}
	s := &l.shards[l.shard(name)]
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := unixSec(now)
	if n < 0 && s.windows[name] == nil {
		return
	}
	w := s.get(name, sec)
	b := min(unixSec(at), w.head)
	if b <= w.head-windowSeconds {
		return // that bucket has left the window
	}
	i := ring(b)
	if n < 0 {
		n = -min(-n, w.buckets[i])
	}
	w.buckets[i] += n
	w.total += n
}

// Used implements Limiter.
func (l *Local) Used(_ context.Context, now time.Time, name string) (int64, error) {
	s := &l.lim.shards[l.lim.shard(name)]
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[name]
	if w == nil {
		return 0, nil
	}
	w.advance(unixSec(now))
	return w.total, nil
}

// ---- Spend ----

type localSpend struct {
	mu    sync.Mutex
	m     map[string]*spendEntry
	swept time.Time
}

type spendEntry struct {
	usd     float64
	expires time.Time // zero: never
}

// live returns the counter unless absent or expired (then forgotten); locked.
func (s *localSpend) live(counter string, now time.Time) *spendEntry {
	e := s.m[counter]
	if e != nil && !e.expires.IsZero() && !now.Before(e.expires) {
		delete(s.m, counter)
		return nil
	}
	return e
}

// create makes a counter, forgetting expired ones once a minute; locked.
func (s *localSpend) create(counter string, usd float64, ttl time.Duration, now time.Time) *spendEntry {
	if now.Sub(s.swept) > time.Minute {
		for k, e := range s.m {
			if !e.expires.IsZero() && !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		s.swept = now
	}
	e := &spendEntry{usd: usd}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	s.m[counter] = e
	return e
}

// Spent implements Spend.
func (l *Local) Spent(_ context.Context, counter string) (float64, error) {
	l.spend.mu.Lock()
	defer l.spend.mu.Unlock()
	if e := l.spend.live(counter, l.now()); e != nil {
		return e.usd, nil
	}
	return 0, nil
}

// AddSpend implements Spend.
func (l *Local) AddSpend(_ context.Context, counter string, usd float64, ttl time.Duration) (float64, error) {
	l.spend.mu.Lock()
	defer l.spend.mu.Unlock()
	now := l.now()
	e := l.spend.live(counter, now)
	if e == nil {
		e = l.spend.create(counter, 0, ttl, now)
	}
	e.usd += usd
	return e.usd, nil
}

// Seed implements Spend.
func (l *Local) Seed(_ context.Context, counter string, usd float64, ttl time.Duration) error {
	l.spend.mu.Lock()
	defer l.spend.mu.Unlock()
	now := l.now()
	if l.spend.live(counter, now) == nil {
		l.spend.create(counter, usd, ttl, now)
	}
	return nil
}

// mirrorSpend records a total read from Redis (Shared), so that a fallback goes on from
// it: an existing counter keeps its expiry, a new one gets ttl when ttl >= 0.
func (l *Local) mirrorSpend(counter string, usd float64, ttl time.Duration) {
	l.spend.mu.Lock()
	defer l.spend.mu.Unlock()
	now := l.now()
	if e := l.spend.live(counter, now); e != nil {
		e.usd = usd
	} else if ttl >= 0 {
		l.spend.create(counter, usd, ttl, now)
	}
}

// ---- Cache ----

// lruCache is a map and a list from the most recently used (head.next) to the least.
type lruCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	items map[string]*cacheEntry
	head  cacheEntry // sentinel
}

type cacheEntry struct {
	key        string
	value      []byte
	expires    time.Time // zero: never
	prev, next *cacheEntry
}

func (c *lruCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *lruCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *lruCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.items, e.key)
	c.bytes -= int64(len(e.key) + len(e.value))
}

// Get implements Cache.
func (l *Local) Get(_ context.Context, key string) ([]byte, bool, error) {
	c := &l.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.items[key]
	if e == nil {
		return nil, false, nil
	}
	if !e.expires.IsZero() && !l.now().Before(e.expires) {
		c.remove(e)
		return nil, false, nil
	}
	c.unlink(e)
	c.pushFront(e)
	return append([]byte(nil), e.value...), true, nil
}

// Set implements Cache. An entry larger than CacheMaxBytes is not stored (and an older
// entry of that key is dropped).
func (l *Local) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	c := &l.cache
	size := int64(len(key) + len(value))
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.items[key]; old != nil {
		c.remove(old)
	}
	if size > c.max {
		return nil
	}
	now := l.now()
	// Evict from the least recently used end; expired entries go first.
	for e := c.head.prev; e != &c.head && c.bytes+size > c.max; {
		prev := e.prev
		if !e.expires.IsZero() && !now.Before(e.expires) {
			c.remove(e)
		}
		e = prev
	}
	for c.bytes+size > c.max {
		c.remove(c.head.prev)
	}
	e := &cacheEntry{key: key, value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	c.items[key] = e
	c.pushFront(e)
	c.bytes += size
	return nil
}

// ---- Circuits ----

type localCircuits struct {
	mu   sync.Mutex
	open map[string]CircuitEvent
	subs map[*localSub]struct{}
}

// localSub is one Subscribe's queue: Publish never waits for a slow f.
type localSub struct {
	queue []CircuitEvent
	wake  chan struct{}
}

// remember records e in the open set without telling subscribers; locked.
func (c *localCircuits) remember(e CircuitEvent, now time.Time) {
	if e.Open && e.Until.After(now) {
		c.open[e.Key] = e
	} else {
		delete(c.open, e.Key)
	}
}

// Publish implements Circuits: subscribers of this Local get e.
func (l *Local) Publish(_ context.Context, e CircuitEvent) error {
	c := &l.circ
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remember(e, l.now())
	for s := range c.subs {
		s.queue = append(s.queue, e)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// rememberCircuit records an event seen on Redis (Shared) so that Open() knows it after
// a fall back.
func (l *Local) rememberCircuit(e CircuitEvent) {
	l.circ.mu.Lock()
	defer l.circ.mu.Unlock()
	l.circ.remember(e, l.now())
}

// Open implements Circuits.
func (l *Local) Open(_ context.Context) ([]CircuitEvent, error) {
	c := &l.circ
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openLocked(l.now()), nil
}

func (c *localCircuits) openLocked(now time.Time) []CircuitEvent {
	var out []CircuitEvent
	for k, e := range c.open {
		if !e.Until.After(now) {
			delete(c.open, k)
			continue
		}
		out = append(out, e)
	}
	return out
}

// Subscribe implements Circuits.
func (l *Local) Subscribe(ctx context.Context, f func(CircuitEvent)) {
	c := &l.circ
	s := &localSub{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	s.queue = c.openLocked(l.now())
	if len(s.queue) > 0 {
		s.wake <- struct{}{}
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		c.mu.Lock()
		q := s.queue
		s.queue = nil
		c.mu.Unlock()
		for _, e := range q {
			if ctx.Err() != nil {
				return
			}
			f(e)
		}
	}
}

var (
	_ Limiter  = (*Local)(nil)
	_ Spend    = (*Local)(nil)
	_ Cache    = (*Local)(nil)
	_ Circuits = (*Local)(nil)
)
