package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/host/wire/completions"
	"github.com/switchyard-llm/switchyard/host/wire/embeddings"
	"github.com/switchyard-llm/switchyard/host/wire/messages"
	"github.com/switchyard-llm/switchyard/host/wire/responses"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// front is a client API beside chat completions (Responses, Anthropic Messages, legacy
// completions): how its bodies decode into the chat request the pipeline serves, and how
// answers, streams and errors go back in its own format. Chat completions keep their own
// handler, the router's most used path, tuned and measured on its own.
type front struct {
	// endpoint is the provider.Endpoint* kind, also the access log's endpoint.
	endpoint string
	decode   func([]byte) (*wire.ChatRequest, error)
	// envelope writes errors in the API's own envelope, with the request's id; nil is
	// OpenAI's.
	envelope func(e *wire.Error, requestID string) []byte
	// answer encodes a whole answer translated from chat.
	answer func(dst []byte, cr *wire.ChatRequest, r *provider.Response, model, id string, created int64) []byte
	// stream starts the encoder of a stream translated from chat.
	stream func(cr *wire.ChatRequest, id, model string, created int64) streamCodec
	// idPrefix starts the ids the router makes for answers that came without one.
	idPrefix string
	// nativeEnd is what ends a stream passed through from a native upstream, beside the
	// upstream's own events: the plugins do not forward chat-style [DONE] lines.
	nativeEnd string
}

// streamCodec encodes one stream in a front's format. Each method appends whole
// server-sent events to dst. End is the normal end, Fail the in-band end after a failure:
// a stream gets exactly one of them, and Fail never writes the normal end's events.
type streamCodec interface {
	Start(dst []byte) []byte
	Chunk(dst []byte, c *provider.Chunk) []byte
	End(dst []byte, u *provider.Usage) []byte
	Fail(dst []byte, e *wire.Error) []byte
}

var (
	frontResponses = &front{
		endpoint: provider.EndpointResponses, decode: responses.Decode, answer: responses.AppendResponse,
		stream: func(cr *wire.ChatRequest, id, model string, created int64) streamCodec {
			return responses.NewStream(cr, id, model, created)
		},
		idPrefix: "resp_",
	}
	frontMessages = &front{
		endpoint: provider.EndpointMessages, decode: messages.Decode, envelope: messages.ErrorJSONWithRequestID,
		answer: func(dst []byte, _ *wire.ChatRequest, r *provider.Response, model, id string, _ int64) []byte {
			return messages.AppendMessage(dst, r, model, id)
		},
		stream: func(cr *wire.ChatRequest, id, model string, _ int64) streamCodec {
			return messages.NewStream(id, model, cr.PromptTokensEstimate)
		},
		idPrefix: "msg_",
	}
	frontCompletions = &front{
		endpoint: provider.EndpointCompletions, decode: completions.Decode,
		answer: func(dst []byte, _ *wire.ChatRequest, r *provider.Response, model, id string, created int64) []byte {
			return completions.AppendCompletion(dst, r, model, id, created)
		},
		stream: func(cr *wire.ChatRequest, id, model string, created int64) streamCodec {
			return &completionStream{usage: cr.Provider.IncludeUsage, id: id, model: model, created: created}
		},
		idPrefix: "cmpl-", nativeEnd: "data: [DONE]\n\n",
	}
)

// completionStream is the legacy completions stream: chat's framing (data lines, the
// usage chunk on request, [DONE]) with text_completion chunks.
type completionStream struct {
	usage     bool
	id, model string
	created   int64
}

func (k *completionStream) Start(dst []byte) []byte { return dst }

func (k *completionStream) Chunk(dst []byte, c *provider.Chunk) []byte {
	return completions.AppendChunk(dst, c, k.model, k.id, k.created)
}

func (k *completionStream) End(dst []byte, u *provider.Usage) []byte {
	if k.usage && u != nil {
		dst = completions.AppendUsageChunk(dst, u, k.model, k.id, k.created)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

func (k *completionStream) Fail(dst []byte, e *wire.Error) []byte {
	return append(append(append(dst, "data: "...), e.JSON()...), "\n\n"...)
}

// useEnvelope makes the exchange's errors use an API's own envelope (nil: OpenAI's).
func (x *exchange) useEnvelope(env func(e *wire.Error, requestID string) []byte) {
	if env != nil {
		x.envelope = func(e *wire.Error) []byte { return env(e, x.id) }
	}
}

// call is the part every API's handler shares: counting, parsing, the deadline and
// admission; serve answers the admitted request and returns the status the client saw.
func (s *Server) call(c *gin.Context, x *exchange, decode func([]byte) (*wire.ChatRequest, error),
	serve func(ctx context.Context, p *parsed) int) {
	start, st := x.start, x.st
	s.m.ActiveRequests.Inc()
	defer s.m.ActiveRequests.Dec()
	series := s.m.Series(metrics.Unknown)
	status := http.StatusOK
	defer func() { series.Done(status, time.Since(start)) }()
	h := c.Writer.Header()
	h[canonAttempts], h[canonFallbacks] = zeroCount, zeroCount
	p, werr := s.parseWith(c, x, decode)
	if werr != nil {
		status = werr.Status
		s.writeError(c, werr)
		return
	}
	series = s.m.Series(p.call.Chat.Model)
	ctx, cancel := context.WithDeadline(c.Request.Context(), p.call.Deadline)
	defer cancel()
	x.onFail = cancel
	if s.lookupCache(ctx, c, x, p) {
		return // a hit takes no admission slot: nothing is dispatched
	}
	if werr := s.admit(ctx, st, p.call.Priority); werr != nil {
		status = werr.Status
		s.writeError(c, werr)
		return
	}
	defer s.adm.Release()
	status = serve(ctx, p)
	s.storeCache(ctx, x, status)
}

// whole finishes a call answered as a whole: the outcome's headers, overhead and cost,
// or the error. It returns false when the error has been written.
func (s *Server) whole(ctx context.Context, c *gin.Context, x *exchange, out *pipeline.Outcome, werr *wire.Error) (int, bool) {
	x.out = out
	s.outcomeHeaders(c, out)
	overhead := time.Since(x.start) - out.Upstream
	x.overhead = overhead
	s.m.Overhead.Observe(overhead.Seconds())
	c.Writer.Header().Set(canonOverhead, formatMS(overhead))
	if werr != nil {
		werr = ended(ctx, werr)
		s.writeError(c, werr)
		return werr.Status, false
	}
	c.Writer.Header().Set(canonCost, formatUSD(out.CostUSD))
	return http.StatusOK, true
}

// serveFront is the handler of a front's route.
func (s *Server) serveFront(f *front) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := exchangeOf(c, f.endpoint)
		x.useEnvelope(f.envelope)
		s.call(c, x, f.decode, func(ctx context.Context, p *parsed) int {
			if p.call.Chat.Stream {
				return s.streamFront(ctx, c, x, p, f)
			}
			out, werr := p.state.Pipeline.Complete(ctx, p.call)
			status, ok := s.whole(ctx, c, x, out, werr)
			if !ok {
				return status
			}
			r := out.Response
			if out.Native && len(r.RawBody) > 0 {
				c.Data(http.StatusOK, "application/json", r.RawBody)
				return status
			}
			model := r.Model
			if model == "" {
				model = out.Target.Upstream
			}
			id := r.ID
			if id == "" {
				id = f.idPrefix + p.call.ID
			}
			created := r.Created
			if created == 0 {
				created = x.start.Unix()
			}
			c.Data(http.StatusOK, "application/json", f.answer(nil, p.call.Chat, r, model, id, created))
			return status
		})
	}
}

// frontSink writes a committed stream in a front's format: events from the upstream's
// own bytes when the plugin forwarded them natively, else encoded from the chat deltas.
type frontSink struct {
	s       *Server
	c       *gin.Context
	x       *exchange
	f       *front
	p       *parsed
	codec   streamCodec
	native  bool
	started bool
	buf     []byte
}

// Begin sends the status and headers, then the stream's opening events.
func (k *frontSink) Begin(o *pipeline.Outcome) {
	k.s.outcomeHeaders(k.c, o)
	streamHeaders(k.c.Writer.Header())
	model := ""
	if o.Target != nil {
		model = o.Target.Upstream
	}
	k.native = o.Native
	k.codec = k.f.stream(k.p.call.Chat, k.f.idPrefix+k.p.call.ID, model, k.x.start.Unix())
	k.c.Writer.WriteHeader(http.StatusOK)
	k.started = true
	if !k.native {
		k.buf = k.codec.Start(k.buf[:0])
		_ = k.send()
	}
}

// Chunk sends one delta's events.
func (k *frontSink) Chunk(ch *provider.Chunk) error {
	if k.native {
		k.buf = append(k.buf[:0], ch.RawEvent...)
	} else {
		k.buf = k.codec.Chunk(k.buf[:0], ch)
	}
	return k.send()
}

func (k *frontSink) send() error {
	if len(k.buf) == 0 {
		return nil
	}
	if _, err := k.x.Write(k.buf); err != nil {
		return err
	}
	return k.x.FlushError()
}

// streamFront serves a front's streaming call, with the contract of chat's: a failure
// before the first event is an error answer in the front's envelope; after it, the
// front's own error event, never its normal end.
func (s *Server) streamFront(ctx context.Context, c *gin.Context, x *exchange, p *parsed, f *front) int {
	sink := &frontSink{s: s, c: c, x: x, f: f, p: p}
	out, werr := p.state.Pipeline.Stream(ctx, p.call, sink)
	x.out = out
	if werr != nil {
		werr = ended(ctx, werr)
	}
	overhead := time.Since(x.start) - out.Upstream
	x.overhead = overhead
	s.m.Overhead.Observe(overhead.Seconds())
	if !sink.started {
		s.outcomeHeaders(c, out)
		c.Header(HeaderOverhead, formatMS(overhead))
		if werr == nil {
			werr = wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "the stream ended before it started")
		}
		s.writeError(c, werr)
		return werr.Status
	}
	status := http.StatusOK
	comment := summaryComment(out, overhead)
	switch {
	case werr != nil:
		sink.buf = append(sink.codec.Fail(sink.buf[:0], werr), comment...)
		status = werr.Status
		x.code, x.inBand = werr.Code, true
	case sink.native:
		sink.buf = append(append(sink.buf[:0], comment...), f.nativeEnd...)
	default:
		sink.buf = sink.codec.End(append(sink.buf[:0], comment...), out.Usage)
	}
	_, _ = x.Write(sink.buf)
	h := x.Header()
	h.Set(HeaderCost, formatUSD(out.CostUSD))
	h.Set(HeaderOverhead, formatMS(overhead))
	_ = x.FlushError()
	return status
}

// summaryComment is the SSE comment that ends every stream: what is only known at the
// end (clients of every API skip comment lines).
func summaryComment(out *pipeline.Outcome, overhead time.Duration) []byte {
	sum := summary{Attempts: out.Attempts, Fallbacks: out.Fallbacks, CostUSD: out.CostUSD, OverheadMS: float64(overhead.Microseconds()) / 1e3}
	if out.Target != nil {
		sum.Provider, sum.Model = out.Target.Provider, out.Target.Name
	}
	if out.Plan != nil {
		sum.Rule = out.Plan.Rule
	}
	js, _ := json.Marshal(sum)
	return append(append([]byte(": switchyard "), js...), '\n', '\n')
}

// embeddingsHandler serves POST /v1/embeddings: routed, retried and fallen back like a
// whole chat answer, to targets whose plugin serves embeddings.
func (s *Server) embeddingsHandler(c *gin.Context) {
	x := exchangeOf(c, provider.EndpointEmbeddings)
	var req *embeddings.Request
	decode := func(body []byte) (*wire.ChatRequest, error) {
		r, err := embeddings.Decode(body)
		if err != nil {
			return nil, err
		}
		req = r
		return r.Chat(), nil
	}
	s.call(c, x, decode, func(ctx context.Context, p *parsed) int {
		p.call.Embed = &provider.EmbedRequest{Input: req.Input, Dimensions: req.Dimensions, User: req.User, Extra: req.Extra}
		out, werr := p.state.Pipeline.Embed(ctx, p.call)
		status, ok := s.whole(ctx, c, x, out, werr)
		if !ok {
			return status
		}
		model := out.Embedding.Model
		if model == "" {
			model = out.Target.Upstream
		}
		c.Data(http.StatusOK, "application/json", embeddings.AppendResponse(nil, out.Embedding, model, req.EncodingFormat))
		return status
	})
}

// countTokens serves POST /v1/messages/count_tokens: the upstream's count when a target
// of the request's plan counts natively (the Anthropic plugin), else the router's
// estimate; the x-switchyard-token-count header says which ("upstream" or "estimate").
func (s *Server) countTokens(c *gin.Context) {
	x := exchangeOf(c, endpointCountTokens)
	x.useEnvelope(messages.ErrorJSONWithRequestID)
	p, werr := s.parseWith(c, x, messages.DecodeCountTokens)
	if werr != nil {
		s.writeError(c, werr)
		return
	}
	if _, _, ok := p.state.Pipeline.Catalogue().Resolve(p.call.Chat.Model); !ok {
		s.writeError(c, wire.ModelNotFound(p.call.Chat.Model))
		return
	}
	ctx, cancel := context.WithDeadline(c.Request.Context(), p.call.Deadline)
	defer cancel()
	if n, t, ok := p.state.Pipeline.CountTokens(ctx, p.call); ok {
		c.Header(HeaderTokenCount, "upstream")
		c.Header(HeaderProvider, t.Provider)
		c.Header(HeaderModel, t.Name)
		c.Data(http.StatusOK, "application/json", messages.CountTokensJSON(n))
		return
	}
	c.Header(HeaderTokenCount, "estimate")
	c.Data(http.StatusOK, "application/json", messages.CountTokensJSON(messages.EstimateTokens(p.call.Chat)))
}

// HeaderTokenCount says where count_tokens' answer came from: "estimate" (the router's)
// or "upstream".
const HeaderTokenCount = "x-switchyard-token-count"
