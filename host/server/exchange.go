package server

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/quota"
	"github.com/switchyard-llm/switchyard/host/wire"
)

// exchange is one request's response writer. It bounds every write to the client by
// timeouts.client_write, so a client that stops reading cannot hold a handler (and its
// admission slot) for longer than that, and it collects what the access log says about
// the request. The handler's goroutine owns it; a stream's chunks are written from the
// goroutine the pipeline calls the sink on, while the handler waits for the pipeline.
type exchange struct {
	gin.ResponseWriter
	// inner is the http.ResponseWriter gin wraps, and rc controls it: gin's own Flush
	// drops errors.
	inner http.ResponseWriter
	rc    *http.ResponseController
	// write is timeouts.client_write; each write gets this long from when it starts.
	write time.Duration
	// noDeadline is set when the writer cannot take a deadline.
	noDeadline bool
	// err is the first write that failed: the client is gone or stopped reading, and
	// every later write fails at once with it instead of waiting out another deadline.
	err error
	// onFail, when set, ends the request's work after a write failed (a stream's
	// pipeline, whose upstream call is cancelled with it).
	onFail func()

	st    *State
	start time.Time
	// endpoint names the request in the access log ("" for probes and /metrics, which
	// are not logged).
	endpoint string
	id, key  string
	team     string
	// grant is the request's hold on its key's limits, settled when it ends.
	grant *quota.Grant
	// cacheHit is set when the response cache answered.
	cacheHit bool
	// cache, when set, keeps what is written for the response cache (a miss on a route
	// with a cache).
	cache *cached
	// recordInput is set when ledger.record_inputs picked the request: its rule input and
	// trace go into its ledger row.
	recordInput bool
	// route is the model the client asked for.
	route string
	code  string
	// inBand is set when a stream that had started ended with an error.
	inBand bool
	out    *pipeline.Outcome
	// overhead is the router's own time, known for chat completions.
	overhead time.Duration
	// envelope, when set, writes errors in the endpoint's own envelope (Anthropic's for
	// /v1/messages) instead of OpenAI's.
	envelope func(*wire.Error) []byte
}

// arm gives the next write to the client its deadline. Writers that cannot take one (a
// test's recorder) are written to without, and not asked again.
func (x *exchange) arm() {
	if x.write > 0 && !x.noDeadline {
		if err := x.rc.SetWriteDeadline(time.Now().Add(x.write)); errors.Is(err, http.ErrNotSupported) {
			x.noDeadline = true
		}
	}
}

func (x *exchange) fail(err error) {
	if x.err == nil {
		x.err = err
		if x.onFail != nil {
			x.onFail()
		}
	}
}

func (x *exchange) Write(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	x.arm()
	n, err := x.ResponseWriter.Write(p)
	if err != nil {
		x.fail(err)
	}
	if x.cache != nil {
		x.cache.add(p[:n])
	}
	return n, err
}

func (x *exchange) WriteString(s string) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	x.arm()
	n, err := x.ResponseWriter.WriteString(s)
	if err != nil {
		x.fail(err)
	}
	if x.cache != nil {
		x.cache.add([]byte(s[:n]))
	}
	return n, err
}

// Flush implements http.Flusher; FlushError tells whether it worked.
func (x *exchange) Flush() { _ = x.FlushError() }

// FlushError sends what is buffered to the client within the write deadline.
func (x *exchange) FlushError() error {
	if x.err != nil {
		return x.err
	}
	x.arm()
	x.ResponseWriter.WriteHeaderNow()
	if err := x.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		x.fail(err)
		return err
	}
	return nil
}

// Unwrap lets http.ResponseController reach the writer gin wraps.
func (x *exchange) Unwrap() http.ResponseWriter { return x.inner }

// begin is the first middleware: it takes the served State for the request (a reference
// held until every handler, a stream's included, has returned, so a reload closes the old
// configuration only after its last request), puts an exchange in front of gin's writer,
// and logs the request once it is done.
func (s *Server) begin(c *gin.Context) {
	st := s.acquire()
	defer st.release()
	var inner http.ResponseWriter = c.Writer
	if u, ok := c.Writer.(interface{ Unwrap() http.ResponseWriter }); ok {
		inner = u.Unwrap()
	}
	x := &exchange{ResponseWriter: c.Writer, inner: inner, rc: http.NewResponseController(inner),
		write: st.Config.Timeouts.ClientWrite.D(), st: st, start: time.Now()}
	c.Writer = x
	// Handlers end on a write or a flush, so what net/http sends after they return (the
	// rest of a small body, a chunked body's end, trailers) goes under a fresh deadline;
	// net/http clears the deadline once the response is done, before the connection's
	// next request.
	c.Next()
	s.settle(x)
	s.logAccess(x)
	s.record(x)
}

// endpointCountTokens is POST /v1/messages/count_tokens, which no limit counts.
const endpointCountTokens = "messages.count_tokens"

// settle hands what the request used to its key's limits and budget, off the request
// path: with shared state it is a round trip to Redis, which the client must not wait for.
func (s *Server) settle(x *exchange) {
	g := x.grant
	if g == nil {
		return
	}
	var tokens int64
	var cost float64
	if o := x.out; o != nil {
		cost = o.CostUSD
		if o.Usage != nil {
			tokens = o.Usage.PromptTokens + o.Usage.CompletionTokens
		}
	}
	if x.cacheHit {
		tokens, cost = 0, 0
	}
	go g.Settle(context.Background(), tokens, cost)
}

// exchangeOf returns the request's exchange, which begin put in place (New registers begin
// before every handler), and names its endpoint for the access log.
func exchangeOf(c *gin.Context, endpoint string) *exchange {
	x := c.Writer.(*exchange)
	x.endpoint = endpoint
	return x
}

// Access log settings (log.access).
const (
	accessOn     = "on"
	accessOff    = "off"
	accessErrors = "errors"
)

// logAccess writes the request's access log line: its ids, what was chosen and what it
// cost. It never holds a secret (the key's configured name only), message content or a
// client's header value other than the request id it asked for.
func (s *Server) logAccess(x *exchange) {
	if x.endpoint == "" || s.log == nil {
		return
	}
	mode := accessOn
	if x.st != nil {
		mode = x.st.Config.Log.Access
	}
	status := x.Status()
	switch {
	case mode == accessOff:
		return
	case mode == accessErrors && status < 400 && !x.inBand:
		return
	}
	ctx := context.Background()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 18)
	route := x.route
	if len(route) > maxLoggedRoute { // a name no config holds, sent by a client
		route = route[:maxLoggedRoute]
	}
	attrs = append(attrs, slog.String("request_id", x.id), slog.String("key", x.key),
		slog.String("endpoint", x.endpoint), slog.String("route", route))
	var rule, prov, model string
	var attempts, fallbacks int
	var tokIn, tokOut int64
	var cost float64
	if o := x.out; o != nil {
		if o.Plan != nil {
			rule = o.Plan.Rule
		}
		if o.Target != nil {
			prov, model = o.Target.Provider, o.Target.Name
		}
		attempts, fallbacks, cost = o.Attempts, o.Fallbacks, o.CostUSD
		if o.Usage != nil {
			tokIn, tokOut = o.Usage.PromptTokens, o.Usage.CompletionTokens
		}
	}
	latency := time.Since(x.start)
	attrs = append(attrs, slog.String("rule", rule), slog.String("provider", prov), slog.String("model", model),
		slog.Int("status", status), slog.String("code", x.code), slog.Int("attempts", attempts),
		slog.Int("fallbacks", fallbacks), slog.Int64("tokens_in", tokIn), slog.Int64("tokens_out", tokOut),
		slog.Float64("cost_usd", math.Round(cost*1e8)/1e8), slog.Float64("latency_ms", msFloat(latency)))
	if x.out != nil && !x.out.FirstByte.IsZero() {
		attrs = append(attrs, slog.Float64("ttft_ms", msFloat(x.out.FirstByte.Sub(x.start))))
	}
	if x.overhead > 0 {
		attrs = append(attrs, slog.Float64("overhead_ms", msFloat(x.overhead)))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// maxLoggedRoute bounds the requested model name in the access log.
const maxLoggedRoute = 128

// msFloat is a duration in milliseconds with microsecond precision.
func msFloat(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

var (
	_ gin.ResponseWriter                        = (*exchange)(nil)
	_ interface{ FlushError() error }           = (*exchange)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*exchange)(nil)
)
