package state

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisOptions configures a Redis.
type RedisOptions struct {
	// Prefix starts every key and the channel (default "switchyard:"). It should hold no
	// "{": a hash tag in it would put every key in one cluster slot.
	Prefix string
	// Timeout bounds each command, dial included (default 250 ms). It replaces any
	// timeout the URL sets.
	Timeout time.Duration
	// PingInterval is how often a background PING checks the server (default 1 s).
	PingInterval time.Duration
	// OnHealth is called on every change of Healthy, in order, with the error that made
	// it unhealthy; the first call, with the answer to the PING OpenRedis sends, comes
	// before OpenRedis returns. It must be quick and call no method of the Redis but
	// Healthy and Err.
	OnHealth func(healthy bool, err error)
	// Now is the clock of circuit Until (default time.Now); the limiter takes its clock
	// from each call's now.
	Now func() time.Time
}

// Redis keeps limits, spend, the cache and circuits in a Redis server shared by every
// replica. Safe for concurrent use; Close stops its PING loop and closes its connections.
type Redis struct {
	client  *redis.Client
	o       RedisOptions
	addr    string // for messages: the URL without its password
	channel string

	healthy atomic.Bool
	hmu     sync.Mutex // orders OnHealth calls
	lastErr atomic.Pointer[error]

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	//go:embed take.lua
	takeLua    string
	takeScript = redis.NewScript(takeLua)
	//go:embed add.lua
	addLua    string
	addScript = redis.NewScript(addLua)
	//go:embed spend.lua
	spendLua    string
	spendScript = redis.NewScript(spendLua)
	//go:embed publish.lua
	publishLua    string
	publishScript = redis.NewScript(publishLua)
)

// OpenRedis connects to the Redis url names (redis://[user:password@]host:port/db,
// rediss:// for TLS, unix://path). It fails only on a URL it cannot use: a server that
// does not answer yet gives an unhealthy Redis (OnHealth(false, err) has then been called)
// that the PING loop brings back. ctx bounds the first PING. Errors never hold the
// URL's password.
func OpenRedis(ctx context.Context, rawURL string, o RedisOptions) (*Redis, error) {
	if o.Prefix == "" {
		o.Prefix = "switchyard:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("state/redis: url %s: %s", redactURL(rawURL), redactErr(err, rawURL))
	}
	opt.DialTimeout = o.Timeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	opt.PoolTimeout = o.Timeout
	opt.ContextTimeoutEnabled = true
	// A retried Take after a lost answer could take twice: no retries; the caller falls
	// back instead.
	opt.MaxRetries = -1
	opt.DialerRetries = 1 // one dial a command: the PING loop is what tries again
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	r := &Redis{client: redis.NewClient(opt), o: o, addr: redactURL(rawURL), channel: o.Prefix + "circuit",
		done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = r.client.Ping(pctx).Err()
	cancel()
	r.healthy.Store(err != nil) // so that the first answer is a change
	r.setHealth(err == nil, err)
	go r.pingLoop()
	return r, nil
}

// Close stops the PING loop and every Subscribe, and closes the connections.
func (r *Redis) Close() error {
	r.cancel()
	<-r.done
	return r.client.Close()
}

// Healthy says whether the last PING or command reached the server.
func (r *Redis) Healthy() bool { return r.healthy.Load() }

// Err is what made the Redis unhealthy (nil while healthy).
func (r *Redis) Err() error {
	if r.Healthy() {
		return nil
	}
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *Redis) pingLoop() {
	defer close(r.done)
	t := time.NewTicker(r.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.o.Timeout)
		err := r.client.Ping(ctx).Err()
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		r.setHealth(err == nil, err)
	}
}

func (r *Redis) setHealth(healthy bool, err error) {
	if r.healthy.Load() == healthy {
		return
	}
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.healthy.Load() == healthy {
		return
	}
	if err != nil {
		err = fmt.Errorf("state/redis %s: %w", r.addr, err)
		r.lastErr.Store(&err)
	}
	r.healthy.Store(healthy)
	if r.o.OnHealth != nil {
		r.o.OnHealth(healthy, err)
	}
}

// observe updates the health from a command's outcome and wraps its error once.
func (r *Redis) observe(ctx context.Context, what string, err error) error {
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		r.setHealth(true, nil)
		return err
	case ctx.Err() != nil:
		// The caller's context ended (our own Timeout is a context below it): that says
		// nothing of the server.
	case isServerReply(err):
		r.setHealth(true, nil)
	default:
		r.setHealth(false, err)
	}
	return fmt.Errorf("state/redis: %s: %w", what, err)
}

// isServerReply is an error the server answered with, other than one saying it cannot
// serve now.
func isServerReply(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY"} {
		if strings.HasPrefix(err.Error(), p) {
			return false
		}
	}
	return true
}

// cmdCtx bounds one command by Timeout.
func (r *Redis) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.o.Timeout)
}

func (r *Redis) windowKey(w string) string  { return r.o.Prefix + "rl:" + w }
func (r *Redis) spendKey(c string) string   { return r.o.Prefix + "spend:" + c }
func (r *Redis) cacheKey(k string) string   { return r.o.Prefix + "cache:" + k }
func (r *Redis) circuitKey(k string) string { return r.o.Prefix + "{circuit}:k:" + k }
func (r *Redis) circuitIndex() string       { return r.o.Prefix + "{circuit}:idx" }

// ---- Limiter ----

// Take implements Limiter with one script over every window of the call.
func (r *Redis) Take(ctx context.Context, now time.Time, takes []Take) (Verdict, error) {
	if err := checkTakes(takes); err != nil {
		return Verdict{}, err
	}
	v := Verdict{Allowed: true, Denied: -1, Remaining: make([]int64, len(takes))}
	if len(takes) == 0 {
		return v, nil
	}
	keys := make([]string, len(takes))
	args := make([]any, 1, 1+2*len(takes))
	args[0] = now.UnixMilli()
	for i, t := range takes {
		keys[i] = r.windowKey(t.Window)
		args = append(args, t.Limit, t.N)
	}
	cctx, cancel := r.cmdCtx(ctx)
	res, err := takeScript.Run(cctx, r.client, keys, args...).Int64Slice()
	cancel()
	if err = r.observe(ctx, "take", err); err != nil {
		return Verdict{}, err
	}
	if len(res) != 2+len(takes) {
		return Verdict{}, fmt.Errorf("state/redis: take: the script answered %d values for %d takes", len(res), len(takes))
	}
	if res[0] >= 0 {
		v.Allowed, v.Denied, v.RetryAfter = false, int(res[0]), retryAfter(res[1])
	}
	for i, t := range takes {
		v.Remaining[i] = max(t.Limit-res[2+i], 0)
	}
	return v, nil
}

// Add implements Limiter.
func (r *Redis) Add(ctx context.Context, at, now time.Time, window string, n int64) error {
	if n == 0 {
		return nil
	}
	cctx, cancel := r.cmdCtx(ctx)
	err := addScript.Run(cctx, r.client, []string{r.windowKey(window)}, now.UnixMilli(), at.UnixMilli(), n).Err()
	cancel()
	return r.observe(ctx, "add", err)
}

// Used implements Limiter (one HGETALL; buckets that left the window are not counted).
func (r *Redis) Used(ctx context.Context, now time.Time, window string) (int64, error) {
	cctx, cancel := r.cmdCtx(ctx)
	h, err := r.client.HGetAll(cctx, r.windowKey(window)).Result()
	cancel()
	if err = r.observe(ctx, "used", err); err != nil {
		return 0, err
	}
	first := unixSec(now) - windowSeconds + 1
	var used int64
	for f, c := range h {
		b, err1 := strconv.ParseInt(f, 10, 64)
		n, err2 := strconv.ParseInt(c, 10, 64)
		if err1 == nil && err2 == nil && b >= first {
			used += n
		}
	}
	return used, nil
}

// ---- Spend ----

// Spent implements Spend.
func (r *Redis) Spent(ctx context.Context, counter string) (float64, error) {
	cctx, cancel := r.cmdCtx(ctx)
	v, err := r.client.Get(cctx, r.spendKey(counter)).Float64()
	cancel()
	if err = r.observe(ctx, "spent", err); err != nil {
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// AddSpend implements Spend (INCRBYFLOAT, the expiry set only by the call that creates
// the counter, in one script).
func (r *Redis) AddSpend(ctx context.Context, counter string, usd float64, ttl time.Duration) (float64, error) {
	cctx, cancel := r.cmdCtx(ctx)
	s, err := spendScript.Run(cctx, r.client, []string{r.spendKey(counter)}, formatUSD(usd), max(ttl.Milliseconds(), 0)).Text()
	cancel()
	if err = r.observe(ctx, "add spend", err); err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("state/redis: add spend: total %q: %w", s, err)
	}
	return v, nil
}

// Seed implements Spend (SET NX, with PX when ttl > 0).
func (r *Redis) Seed(ctx context.Context, counter string, usd float64, ttl time.Duration) error {
	cctx, cancel := r.cmdCtx(ctx)
	err := r.client.SetNX(cctx, r.spendKey(counter), formatUSD(usd), max(ttl, 0)).Err()
	cancel()
	return r.observe(ctx, "seed", err)
}

func formatUSD(usd float64) string { return strconv.FormatFloat(usd, 'f', -1, 64) }

// ---- Cache ----

// Get implements Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	cctx, cancel := r.cmdCtx(ctx)
	b, err := r.client.Get(cctx, r.cacheKey(key)).Bytes()
	cancel()
	if err = r.observe(ctx, "cache get", err); err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return b, true, nil
}

// Set implements Cache (SET with PX when ttl > 0; Redis's maxmemory policy bounds the
// entries).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	cctx, cancel := r.cmdCtx(ctx)
	err := r.client.Set(cctx, r.cacheKey(key), value, max(ttl, 0)).Err()
	cancel()
	return r.observe(ctx, "cache set", err)
}

// ---- Circuits ----

// wireEvent is a CircuitEvent on the channel and in a breaker's entry.
type wireEvent struct {
	Key     string `json:"key"`
	Open    bool   `json:"open"`
	UntilMS int64  `json:"until_ms,omitempty"`
	Origin  string `json:"origin,omitempty"`
}

func encodeEvent(e CircuitEvent) string {
	w := wireEvent{Key: e.Key, Open: e.Open, Origin: e.Origin}
	if !e.Until.IsZero() {
		w.UntilMS = e.Until.UnixMilli()
	}
	b, _ := json.Marshal(w)
	return string(b)
}

func decodeEvent(s string) (CircuitEvent, error) {
	var w wireEvent
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return CircuitEvent{}, err
	}
	e := CircuitEvent{Key: w.Key, Open: w.Open, Origin: w.Origin}
	if w.UntilMS != 0 {
		e.Until = time.UnixMilli(w.UntilMS)
	}
	return e, nil
}

// Publish implements Circuits: one script sets (or deletes) the breaker's entry, with PX
// until Until, and publishes the event.
func (r *Redis) Publish(ctx context.Context, e CircuitEvent) error {
	now := r.o.Now()
	ttl := int64(0)
	if e.Open {
		ttl = e.Until.Sub(now).Milliseconds()
	}
	untilMS := int64(0)
	if !e.Until.IsZero() {
		untilMS = e.Until.UnixMilli()
	}
	cctx, cancel := r.cmdCtx(ctx)
	err := publishScript.Run(cctx, r.client, []string{r.circuitKey(e.Key), r.circuitIndex()},
		encodeEvent(e), ttl, untilMS, e.Key, r.channel, now.UnixMilli()).Err()
	cancel()
	return r.observe(ctx, "publish", err)
}

// Open implements Circuits: the index's members whose entries have not expired.
func (r *Redis) Open(ctx context.Context) ([]CircuitEvent, error) {
	now := r.o.Now()
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	var members *redis.StringSliceCmd
	_, err := r.client.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(cctx, r.circuitIndex(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		members = p.ZRange(cctx, r.circuitIndex(), 0, -1)
		return nil
	})
	if err = r.observe(ctx, "open circuits", err); err != nil {
		return nil, err
	}
	if len(members.Val()) == 0 {
		return nil, nil
	}
	keys := make([]string, len(members.Val()))
	for i, m := range members.Val() {
		keys[i] = r.circuitKey(m)
	}
	vals, err := r.client.MGet(cctx, keys...).Result()
	if err = r.observe(ctx, "open circuits", err); err != nil {
		return nil, err
	}
	var out []CircuitEvent
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired since
		}
		if e, err := decodeEvent(s); err == nil && e.Open && e.Until.After(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

const (
	subscribeWait  = 5 * time.Second // for the subscription's confirmation
	resubscribeMin = 50 * time.Millisecond
	resubscribeMax = time.Second
)

// Subscribe implements Circuits with a Pub/Sub subscription to the channel. After every
// (re)subscription it delivers Open(), and a close for each breaker it reported open that
// is no longer there (an event missed while disconnected). It also returns when the
// Redis is closed.
func (r *Redis) Subscribe(ctx context.Context, f func(CircuitEvent)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	told := map[string]time.Time{} // breakers f was told are open, with their Until
	wait := resubscribeMin
	for ctx.Err() == nil {
		if r.subscribeOnce(ctx, f, told) {
			wait = resubscribeMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, resubscribeMax)
	}
}

// subscribeOnce runs one subscription until it fails or ctx ends; it says whether the
// subscription was confirmed.
func (r *Redis) subscribeOnce(ctx context.Context, f func(CircuitEvent), told map[string]time.Time) bool {
	ps := r.client.Subscribe(ctx, r.channel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	msg, err := ps.ReceiveTimeout(ctx, subscribeWait)
	if err != nil {
		return false
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return false
	}
	if r.catchUp(ctx, f, told) != nil {
		return true
	}
	idle := max(5*r.o.PingInterval, time.Second)
	quiet := 0
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, idle)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && quiet == 0 && ctx.Err() == nil {
				// Nothing for a while: a PING tells a quiet channel from a dead connection.
				quiet++
				if ps.Ping(ctx) == nil {
					continue
				}
			}
			return true
		}
		quiet = 0
		switch m := msg.(type) {
		case *redis.Message:
			e, err := decodeEvent(m.Payload)
			if err != nil || ctx.Err() != nil {
				continue
			}
			if e.Open {
				told[e.Key] = e.Until
			} else {
				delete(told, e.Key)
			}
			f(e)
		case *redis.Subscription:
			// go-redis subscribed again on a new connection: events may have been missed.
			if m.Kind == "subscribe" && r.catchUp(ctx, f, told) != nil {
				return true
			}
		}
	}
	return true
}

// catchUp delivers the open set, and a close for each breaker told open that is gone.
func (r *Redis) catchUp(ctx context.Context, f func(CircuitEvent), told map[string]time.Time) error {
	open, err := r.Open(ctx)
	if err != nil {
		return err
	}
	now := r.o.Now()
	seen := make(map[string]bool, len(open))
	for _, e := range open {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		seen[e.Key] = true
		told[e.Key] = e.Until
		f(e)
	}
	for k, until := range told {
		if seen[k] {
			continue
		}
		delete(told, k)
		if until.After(now) && ctx.Err() == nil {
			f(CircuitEvent{Key: k})
		}
	}
	return nil
}

// ---- URLs ----

// redactURL is u with its password replaced, for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if i := strings.Index(s, ":"); i > 0 {
		return s[:i] + ":..."
	}
	return "(an unparsable URL)"
}

// redactErr is err's message without the URL (url.Parse quotes it whole) or its password.
func redactErr(err error, raw string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return strings.ReplaceAll(msg, raw, redactURL(raw))
}

var (
	_ Limiter  = (*Redis)(nil)
	_ Spend    = (*Redis)(nil)
	_ Cache    = (*Redis)(nil)
	_ Circuits = (*Redis)(nil)
)
