// Package server is Switchyard's HTTP surface (api/http.md): OpenAI-compatible routes on Gin,
// authentication, request steering headers, the response headers, SSE and the error
// envelope. What happens to a request between parsing and answering is the pipeline's.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-llm/switchyard/host/admission"
	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/keys"
	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/quota"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/state"
	"github.com/switchyard-llm/switchyard/host/wire"
)

// Response and request header names.
const (
	HeaderRequestID = "x-request-id"
	HeaderProvider  = "x-switchyard-provider"
	HeaderModel     = "x-switchyard-model"
	HeaderRule      = "x-switchyard-rule"
	HeaderAttempts  = "x-switchyard-attempts"
	HeaderFallbacks = "x-switchyard-fallbacks"
	HeaderOverhead  = "x-switchyard-overhead-ms"
	HeaderCost      = "x-switchyard-cost-usd"
	HeaderPriority  = "x-switchyard-priority"
	HeaderTags      = "x-switchyard-tags"
	HeaderTimeout   = "x-switchyard-timeout-ms"
)

// ErrShuttingDown is the cause with which the host cancels the contexts of requests still
// running when the shutdown grace period ends (context.WithCancelCause on the http.Server's
// BaseContext). The server answers them with 503 shutting_down, in-band for a stream that
// has started.
var ErrShuttingDown = errors.New("server: shutting down")

// Error codes of the HTTP layer beyond wire's.
const (
	codeShuttingDown   = wire.CodeShuttingDown
	codeRequestTimeout = wire.CodeRequestTimeout
	codeRuleNotFound   = wire.CodeRuleNotFound
)

// ErrUnknownRule is what Options.ResetRule returns (wrapped or not) for a rule the
// serving configuration does not have: POST /admin/rules/{name}/reset answers 404.
var ErrUnknownRule = errors.New("server: unknown rule")

// State is what one loaded configuration serves. It is immutable; a reload swaps it whole.
type State struct {
	Config   *config.File
	Pipeline *pipeline.Pipeline
	keys     []hashedKey
	use      usage
}

// hashedKey keeps a config key as its sha256 only.
type hashedKey struct {
	sum [sha256.Size]byte
	key *keys.Key
}

// NewState builds the state of a loaded configuration.
func NewState(cfg *config.File, p *pipeline.Pipeline) *State {
	s := &State{Config: cfg, Pipeline: p}
	s.use.refs.Store(1) // the server's own reference while it is served
	for _, k := range cfg.Keys {
		s.keys = append(s.keys, hashedKey{sum: sha256.Sum256([]byte(k.Key)), key: keys.FromConfig(k)})
	}
	return s
}

// Options wires a Server.
type Options struct {
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Ready reports readiness: nil when the config is loaded, every plugin up and the rules compiled.
	Ready func() error
	// ReadyDetail, when set and returning non-nil, is included as "detail" in /readyz's
	// JSON body, ready or not (what is degraded, the rules' state). It must be safe for
	// concurrent use and hold no secret.
	ReadyDetail func() any
	// Reload reloads the configuration (POST /admin/reload); nil disables the endpoint.
	Reload func(ctx context.Context) error
	// ResetRule lifts the quarantine of the serving configuration's rule name (POST
	// /admin/rules/{name}/reset); an error wrapping ErrUnknownRule means there is no such
	// rule. nil disables the endpoint.
	ResetRule func(ctx context.Context, name string) error
	// Version is reported by /healthz.
	Version string

	// Record, when set, takes one ledger row per request (ledger.Writer.Add: it never
	// blocks).
	Record func(ledger.Row) bool
	// Ledger answers GET /admin/usage and /admin/requests; nil: the ledger is off.
	Ledger ledger.Reader
	// KeyStore and Keys manage and hold the virtual keys (/admin/keys); nil: none.
	KeyStore ledger.KeyStore
	Keys     *keys.Registry
	// Quota enforces keys' rate limits and budgets; nil: keys' limits are not enforced.
	Quota *quota.Enforcer
	// Cache keeps the answers of routes with a cache (routes[].cache): state.Local in
	// memory, or state.Shared with state.url. nil: no route is cached.
	Cache state.Cache
	// Now is the clock of the ledger's rows and the admin API (nil: time.Now).
	Now func() time.Time
}

// Server serves the HTTP surface. Swap a new State in with SetState; requests in flight
// finish on the State they started with.
type Server struct {
	state  atomic.Pointer[State]
	o      Options
	m      *metrics.Metrics
	log    *slog.Logger
	engine *gin.Engine
	// adm admits chat completions; it outlives reloads, which only change its limits.
	adm *admission.Controller
	// samples counts requests for ledger.record_inputs: sample:N.
	samples atomic.Uint64
	// background runs work the client must not wait for (storing a cache entry): a
	// goroutine, or the caller's own in tests that check what was stored.
	background func(func())
}

// New builds the server and its routes.
func New(st *State, o Options) *Server {
	gin.SetMode(gin.ReleaseMode)
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, m: o.Metrics, log: o.Logger, engine: gin.New(), background: func(f func()) { go f() }}
	s.state.Store(st)
	s.adm = admission.New(admissionLimits(st.Config), o.Metrics)
	e := s.engine
	e.HandleMethodNotAllowed = false
	e.Use(s.begin, s.recover)
	e.POST("/v1/chat/completions", s.chatCompletions)
	e.POST("/v1/responses", s.serveFront(frontResponses))
	e.POST("/v1/messages", s.serveFront(frontMessages))
	e.POST("/v1/messages/count_tokens", s.countTokens)
	e.POST("/v1/completions", s.serveFront(frontCompletions))
	e.POST("/v1/embeddings", s.embeddingsHandler)
	e.GET("/v1/models", s.listModels)
	e.GET("/v1/models/:id", s.getModel)
	e.POST("/v1/switchyard/route", s.dryRun)
	for _, path := range []string{"/healthz", "/health"} {
		e.GET(path, s.healthz)
		e.HEAD(path, s.healthz)
	}
	e.GET("/readyz", s.readyz)
	e.HEAD("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})))
	e.POST("/admin/reload", s.adminReload)
	e.POST("/admin/rules/:name/reset", s.adminResetRule)
	s.ledgerRoutes(e)
	e.NoRoute(func(c *gin.Context) {
		x := exchangeOf(c, "unsupported")
		x.id = requestID(c)
		s.writeError(c, wire.NewError(http.StatusNotFound, wire.CodeUnsupportedEndpoint, "%s %s is not supported by Switchyard", c.Request.Method, c.Request.URL.Path))
	})
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// SetState swaps in the state of a newly loaded configuration.
// The replaced state is closed once its last request has ended (OnDrained).
func (s *Server) SetState(st *State) {
	old := s.state.Swap(st)
	s.adm.SetLimits(admissionLimits(st.Config))
	if old != nil && old != st {
		old.release()
	}
}

func admissionLimits(cfg *config.File) admission.Limits {
	l := admission.Limits{MaxInflight: cfg.Limits.MaxInflight, MaxQueue: cfg.Limits.MaxInflight,
		QueueTimeout: cfg.Limits.QueueTimeout.D()}
	if cfg.Limits.MaxQueue != nil {
		l.MaxQueue = *cfg.Limits.MaxQueue
	}
	return l
}

// admit waits for an admission slot; on nil the caller must call s.adm.Release.
func (s *Server) admit(ctx context.Context, st *State, priority int) *wire.Error {
	err := s.adm.Acquire(ctx, priority)
	if err == nil {
		return nil
	}
	if errors.Is(err, admission.ErrShed) {
		e := wire.NewError(http.StatusTooManyRequests, wire.CodeShed, "the router is at capacity: %s (priority %d); retry later", strings.TrimPrefix(err.Error(), "admission: shed: "), priority)
		e.RetryAfter = max(time.Second, st.Config.Limits.QueueTimeout.D())
		return e
	}
	return ended(ctx, wire.NewError(499, wire.CodeClientClosed, "the client went away"))
}

// ended replaces the error of a request whose context ended with what the client should
// see: 503 shutting_down when the host ended it at the end of the shutdown grace period,
// 504 deadline_exceeded when its deadline passed.
func ended(ctx context.Context, werr *wire.Error) *wire.Error {
	switch {
	case ctx.Err() == nil:
		return werr
	case errors.Is(context.Cause(ctx), ErrShuttingDown):
		e := wire.NewError(http.StatusServiceUnavailable, codeShuttingDown, "the router is shutting down and ended this request; retry it")
		e.RetryAfter = time.Second
		if werr != nil {
			e.Provider, e.Attempts, e.Fallbacks = werr.Provider, werr.Attempts, werr.Fallbacks
		}
		return e
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && (werr == nil || werr.Status == 499):
		return wire.NewError(http.StatusGatewayTimeout, wire.CodeDeadlineExceeded, "the request's deadline passed before an answer came back")
	}
	return werr
}

// State returns the state being served.
func (s *Server) State() *State { return s.state.Load() }

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", fmt.Sprint(r))
			if !c.Writer.Written() {
				s.writeError(c, wire.NewError(http.StatusInternalServerError, wire.CodeInternal, "internal error"))
			}
			c.Abort()
		}
	}()
	c.Next()
}

func (s *Server) writeError(c *gin.Context, e *wire.Error) {
	body := e.JSON
	if x, ok := c.Writer.(*exchange); ok {
		x.code = e.Code
		if x.envelope != nil {
			body = func() []byte { return x.envelope(e) }
		}
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	c.Data(e.Status, "application/json", body())
}

func (s *Server) healthz(c *gin.Context) {
	probe(c, http.StatusOK, gin.H{"status": "ok", "version": s.o.Version})
}

func (s *Server) readyz(c *gin.Context) {
	status, body := http.StatusOK, gin.H{"status": "ready"}
	if s.o.Ready != nil {
		if err := s.o.Ready(); err != nil {
			status, body = http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()}
		}
	}
	if s.o.ReadyDetail != nil {
		if d := s.o.ReadyDetail(); d != nil {
			body["detail"] = d
		}
	}
	probe(c, status, body)
}

// probe answers a health or readiness probe: the JSON body for GET, the same status and
// headers without the body for HEAD (load balancers probe with either).
func probe(c *gin.Context, status int, body gin.H) {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"status":"error"}`)
	}
	if c.Request.Method == http.MethodHead {
		h := c.Writer.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		c.Status(status)
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// admin checks an admin call: the endpoint is on (enabled, and admin.key is set) and the
// caller sent the admin key. Otherwise it answers the error and returns false.
func (s *Server) admin(c *gin.Context, x *exchange, enabled bool) bool {
	x.id = requestID(c)
	key := x.st.Config.Admin.Key
	if !enabled || key == "" {
		s.writeError(c, wire.NewError(http.StatusNotFound, wire.CodeUnsupportedEndpoint, "the admin endpoints are off: set admin.key in the config"))
		return false
	}
	got := bearer(c.Request)
	if subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
		s.writeError(c, wire.NewError(http.StatusUnauthorized, wire.CodeInvalidAPIKey, "a valid admin key is required"))
		return false
	}
	x.key = "admin"
	return true
}

// adminResetRule lifts a rule's quarantine: POST /admin/rules/{name}/reset.
func (s *Server) adminResetRule(c *gin.Context) {
	x := exchangeOf(c, "admin.rules.reset")
	if !s.admin(c, x, s.o.ResetRule != nil) {
		return
	}
	name := c.Param("name")
	if err := s.o.ResetRule(c.Request.Context(), name); err != nil {
		if errors.Is(err, ErrUnknownRule) {
			s.writeError(c, wire.NewError(http.StatusNotFound, codeRuleNotFound, "the serving configuration has no rule %q", name))
			return
		}
		s.writeError(c, wire.NewError(http.StatusInternalServerError, wire.CodeInternal, "%s", err.Error()))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "reset", "rule": name})
}

func (s *Server) adminReload(c *gin.Context) {
	x := exchangeOf(c, "admin.reload")
	if !s.admin(c, x, s.o.Reload != nil) {
		return
	}
	if err := s.o.Reload(c.Request.Context()); err != nil {
		s.writeError(c, wire.NewError(http.StatusUnprocessableEntity, wire.CodeReloadRefused, "%s", err.Error()))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "reloaded"})
}

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// listModels answers GET /v1/models: the models the calling key may use.
func (s *Server) listModels(c *gin.Context) {
	st, key, ok := s.modelsCaller(c)
	if !ok {
		return
	}
	names := st.Pipeline.Catalogue().Names()
	data := make([]modelEntry, 0, len(names))
	for _, n := range names {
		if m, ok := visibleModel(st, key, n); ok {
			data = append(data, m)
		}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data})
}

// getModel answers GET /v1/models/{id} with the entry /v1/models lists for it, or 404
// model_not_found: for a name the config does not hold, and for one the calling key may not
// use (it learns nothing about models it cannot call).
func (s *Server) getModel(c *gin.Context) {
	id := c.Param("id")
	st, key, ok := s.modelsCaller(c)
	if !ok {
		return
	}
	m, ok := visibleModel(st, key, id)
	if !ok {
		s.writeError(c, wire.ModelNotFound(id))
		return
	}
	c.JSON(http.StatusOK, m)
}

// modelsCaller starts a models exchange and authenticates its caller; false when the
// error has been written.
func (s *Server) modelsCaller(c *gin.Context) (*State, *keys.Key, bool) {
	x := exchangeOf(c, "models")
	x.id = requestID(c)
	key, werr := s.authenticate(c.Request, x.st)
	if werr != nil {
		s.writeError(c, werr)
		return nil, nil, false
	}
	if key != nil {
		x.key = key.Name
	}
	return x.st, key, true
}

// visibleModel is the entry of the model or route name, if the config holds it and key may
// use it. A key limited to some models sees only those ("auto" when it may use it).
func visibleModel(st *State, key *keys.Key, name string) (modelEntry, bool) {
	if key != nil && !key.Allows(name) {
		return modelEntry{}, false
	}
	_, route, known := st.Pipeline.Catalogue().Resolve(name)
	if !known {
		return modelEntry{}, false
	}
	owner := "switchyard"
	if len(route) == 1 && route[0].Name == name {
		owner = route[0].Provider
	}
	return modelEntry{ID: name, Object: "model", OwnedBy: owner}, true
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate returns the request's key: nil when the router is open (no key in the
// config, no active virtual key) and the request named none. Once any key exists every
// request needs one; a revoked key is refused even then.
func (s *Server) authenticate(r *http.Request, st *State) (*keys.Key, *wire.Error) {
	virtual := s.o.Keys != nil && s.o.Keys.Active() > 0
	tok := bearer(r)
	if tok == "" {
		// Anthropic's clients send their key as x-api-key.
		tok = strings.TrimSpace(r.Header.Get("X-Api-Key"))
	}
	if tok == "" {
		if len(st.keys) == 0 && !virtual {
			return nil, nil
		}
		return nil, wire.NewError(http.StatusUnauthorized, wire.CodeInvalidAPIKey, "an API key is required: send Authorization: Bearer <key> (or x-api-key: <key>)")
	}
	sum := sha256.Sum256([]byte(tok))
	var found *keys.Key
	for i := range st.keys {
		// Compare against every key so the time taken does not tell which one matched.
		if subtle.ConstantTimeCompare(sum[:], st.keys[i].sum[:]) == 1 {
			found = st.keys[i].key
		}
	}
	if found != nil {
		return found, nil
	}
	if s.o.Keys != nil {
		k, revoked := s.o.Keys.Lookup(sum)
		if k != nil {
			return k, nil
		}
		if revoked {
			return nil, wire.NewError(http.StatusUnauthorized, wire.CodeInvalidAPIKey, "the API key has been revoked")
		}
	}
	if len(st.keys) == 0 && !virtual {
		return nil, nil // an open router ignores the placeholder keys clients send
	}
	return nil, wire.NewError(http.StatusUnauthorized, wire.CodeInvalidAPIKey, "the API key is not valid")
}

// newRequestID makes a request id when the client sent none.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// maxRequestID is the longest x-request-id kept from a client.
const maxRequestID = 128

// requestID returns the request's id, the client's x-request-id when it sent a usable one
// (at most maxRequestID visible ASCII characters: it goes into logs and headers), else a
// new one, and sets it as the response's x-request-id.
func requestID(c *gin.Context) string {
	id := c.Request.Header.Get(HeaderRequestID)
	if !usableID(id) {
		id = newRequestID()
	}
	c.Writer.Header()[canonRequestID] = []string{id}
	return id
}

func usableID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// parsed is a chat request after the HTTP layer's checks.
type parsed struct {
	call  *pipeline.Call
	state *State
	// body is the request's body as the client sent it (the response cache's key).
	body []byte
}

// parse reads, authenticates and decodes a chat request for the exchange x.
func (s *Server) parse(c *gin.Context, x *exchange) (*parsed, *wire.Error) {
	return s.parseWith(c, x, wire.DecodeChat)
}

// parseWith is parse with the decoder of another API's bodies.
func (s *Server) parseWith(c *gin.Context, x *exchange, decode func([]byte) (*wire.ChatRequest, error)) (*parsed, *wire.Error) {
	r := c.Request
	st, start := x.st, x.start
	id := requestID(c)
	x.id = id
	key, werr := s.authenticate(r, st)
	if werr != nil {
		return nil, werr
	}
	if key != nil {
		x.key, x.team = key.Name, key.Team
	}
	limit := st.Config.Limits.MaxBodyBytes
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, wire.NewError(http.StatusRequestEntityTooLarge, wire.CodeRequestTooLarge, "the body is larger than %d bytes", limit)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			e := wire.NewError(http.StatusRequestTimeout, codeRequestTimeout, "the body did not arrive within %s (limits.read_timeout)", st.Config.Limits.ReadTimeout.D())
			e.Type = "invalid_request_error"
			return nil, e
		}
		return nil, wire.BadRequest("", "could not read the body")
	}
	chat, err := decode(body)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return nil, we
		}
		return nil, wire.BadRequest("", "%s", err.Error())
	}
	x.route = chat.Model
	call := &pipeline.Call{ID: id, Chat: chat, Priority: 5, Header: r.Header}
	if s.sampled(st) {
		// This request's rule input and full trace go to the ledger, for replay.
		call.Trace, x.recordInput = true, true
	}
	if key != nil {
		call.Key, call.Team = key.Name, key.Team
		if !key.Allows(chat.Model) {
			return nil, wire.NewError(http.StatusForbidden, wire.CodeModelNotAllowed, "this key may not use the model %q", chat.Model)
		}
		// Limits and budgets before anything is spent on the request; counting tokens
		// is free, so it is not counted.
		if s.o.Quota != nil && x.endpoint != endpointCountTokens && x.endpoint != endpointDryRun {
			g, werr := s.o.Quota.Admit(r.Context(), key, chat.Model, chat.PromptTokensEstimate)
			if werr != nil {
				return nil, werr
			}
			if g != nil {
				x.grant = g
				call.Budget, call.Limits = g.Budget, g.Limits
			}
		}
	}
	if v := r.Header.Get(HeaderPriority); v != "" {
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || p < 1 || p > 10 {
			return nil, wire.BadRequest(HeaderPriority, "%s must be an integer from 1 to 10 (10 is the most important)", HeaderPriority)
		}
		call.Priority = p
	}
	if v := r.Header.Get(HeaderTags); v != "" {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && len(call.Tags) < 32 {
				call.Tags = append(call.Tags, t)
			}
		}
	}
	total := st.Config.Timeouts.Total.D()
	call.Deadline = start.Add(total)
	if v := r.Header.Get(HeaderTimeout); v != "" {
		ms, ok := timeoutMS(v)
		if !ok {
			return nil, wire.BadRequest(HeaderTimeout, "%s must be a positive number of milliseconds", HeaderTimeout)
		}
		// Compared in milliseconds, so no value can overflow a Duration: one at least as
		// long as timeouts.total does not shorten the request.
		if ms < int64(total/time.Millisecond) {
			call.Deadline = start.Add(time.Duration(ms) * time.Millisecond)
		}
	}
	return &parsed{call: call, state: st, body: body}, nil
}

// timeoutMS parses x-switchyard-timeout-ms: a positive integer of milliseconds. A value
// too large for an int64 is valid and means as long as it can be (math.MaxInt64).
func timeoutMS(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v[0] < '0' || v[0] > '9' {
		return 0, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	return ms, err == nil && ms >= 1
}

func (s *Server) chatCompletions(c *gin.Context) {
	x := exchangeOf(c, "chat.completions")
	s.call(c, x, wire.DecodeChat, func(ctx context.Context, p *parsed) int {
		if p.call.Chat.Stream {
			return s.stream(ctx, c, x, p)
		}
		out, werr := p.state.Pipeline.Complete(ctx, p.call)
		status, ok := s.whole(ctx, c, x, out, werr)
		if !ok {
			return status
		}
		bodyModel := out.Response.Model
		if bodyModel == "" {
			bodyModel = out.Target.Upstream
		}
		if out.Response.ID == "" {
			out.Response.ID = "chatcmpl-" + p.call.ID
		}
		if out.Response.Created == 0 {
			out.Response.Created = x.start.Unix()
		}
		buf := bufPool.Get().(*[]byte)
		*buf = wire.AppendCompletion((*buf)[:0], out.Response, bodyModel)
		c.Data(http.StatusOK, "application/json", *buf)
		if cap(*buf) <= 64<<10 {
			bufPool.Put(buf)
		}
		return status
	})
}

// zeroCount is the value of the attempts and fallbacks headers before the pipeline ran.
// It is shared by every request, so it is only ever read: outcomeHeaders replaces it.
var zeroCount = []string{"0"}

// bufPool holds the buffers answers are encoded into.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// The response headers' canonical forms, so setting them does not canonicalize each time.
var (
	canonRequestID = http.CanonicalHeaderKey(HeaderRequestID)
	canonProvider  = http.CanonicalHeaderKey(HeaderProvider)
	canonModel     = http.CanonicalHeaderKey(HeaderModel)
	canonRule      = http.CanonicalHeaderKey(HeaderRule)
	canonAttempts  = http.CanonicalHeaderKey(HeaderAttempts)
	canonFallbacks = http.CanonicalHeaderKey(HeaderFallbacks)
	canonOverhead  = http.CanonicalHeaderKey(HeaderOverhead)
	canonCost      = http.CanonicalHeaderKey(HeaderCost)
)

// outcomeHeaders sets the x-switchyard-* headers known once the pipeline is done or
// has committed to a target.
func (s *Server) outcomeHeaders(c *gin.Context, out *pipeline.Outcome) {
	if out == nil {
		return
	}
	// One backing array for the values: a header's value is a one-element slice.
	vals := make([]string, 0, 5)
	set := func(k, v string) {
		vals = append(vals, v)
		c.Writer.Header()[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if out.Target != nil {
		set(canonProvider, out.Target.Provider)
		set(canonModel, out.Target.Name)
	}
	if out.Plan != nil {
		set(canonRule, out.Plan.Rule)
	}
	set(canonAttempts, strconv.Itoa(out.Attempts))
	set(canonFallbacks, strconv.Itoa(out.Fallbacks))
}

func formatMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func formatUSD(v float64) string { return strconv.FormatFloat(v, 'f', 8, 64) }

// dryRun answers POST /v1/switchyard/route: the decision and its trace, no provider called.
func (s *Server) dryRun(c *gin.Context) {
	x := exchangeOf(c, endpointDryRun)
	st := x.st
	p, werr := s.parse(c, x)
	if werr != nil {
		s.writeError(c, werr)
		return
	}
	p.call.Trace = true
	plan, werr := st.Pipeline.Plan(c.Request.Context(), p.call)
	x.out = &pipeline.Outcome{Plan: plan}
	if werr != nil {
		x.code = werr.Code
	}
	if werr != nil && plan == nil {
		s.writeError(c, werr)
		return
	}
	type target struct {
		Provider string `json:"provider"`
		Model    string `json:"model"`
		Upstream string `json:"upstream_model"`
		Circuit  string `json:"circuit"`
	}
	type step struct {
		Rule        string `json:"rule"`
		Mode        string `json:"mode"`
		SHA256      string `json:"sha256"`
		InputSHA256 string `json:"input_sha256"`
		Outcome     string `json:"outcome"`
		Output      any    `json:"output"`
		Error       string `json:"error,omitempty"`
		DurationUS  int64  `json:"duration_us"`
	}
	resp := gin.H{"request_id": p.call.ID, "model": p.call.Chat.Model, "rule": plan.Rule,
		"reason": plan.Reason, "rule_time_us": plan.RuleTime.Microseconds()}
	targets := make([]target, 0, len(plan.Targets))
	for _, t := range plan.Targets {
		targets = append(targets, target{Provider: t.Provider, Model: t.Name, Upstream: t.Upstream, Circuit: st.Pipeline.Circuit(t)})
	}
	resp["targets"] = targets
	if plan.Params != nil {
		resp["params"] = plan.Params
	}
	if len(plan.Tags) > 0 {
		resp["tags"] = plan.Tags
	}
	trace := make([]step, 0, len(plan.Trace))
	for _, t := range plan.Trace {
		var out any
		if len(t.Output) > 0 {
			out = jsonOrString(t.Output)
		}
		trace = append(trace, step{Rule: t.Rule, Mode: t.Mode, SHA256: t.SHA256, InputSHA256: t.InputSHA256,
			Outcome: t.Outcome, Output: out, Error: t.Error, DurationUS: t.Duration.Microseconds()})
	}
	resp["trace"] = trace
	resp["rules"] = ruleStates(st.Pipeline.Rules())
	if plan.Input != nil {
		// The input exactly as rules saw it: save it with an "expect" as a golden case.
		resp["input"] = json.RawMessage(abi.EncodeInput(plan.Input, st.Pipeline.RuleHeaders()))
	}
	if werr != nil {
		resp["error"] = gin.H{"status": werr.Status, "code": werr.Code, "type": werr.Type, "message": werr.Message}
	}
	c.JSON(http.StatusOK, resp)
}

// ruleState is a rule of the chain as the dry run shows it.
type ruleState struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// SHA256 is the module digest's prefix, as in the rule's label (name@sha256).
	SHA256      string `json:"sha256"`
	Path        string `json:"path"`
	Quarantined bool   `json:"quarantined"`
}

func ruleStates(infos []abi.RuleInfo) []ruleState {
	out := make([]ruleState, 0, len(infos))
	for _, r := range infos {
		out = append(out, ruleState{Name: r.Name, Mode: r.Mode, SHA256: r.SHA256[:min(12, len(r.SHA256))], Path: r.Path, Quarantined: r.Quarantined})
	}
	return out
}

// ModelNames is a helper for tests and the validate command.
func ModelNames(st *State) []string { return slices.Clone(st.Pipeline.Catalogue().Names()) }
