package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// sseSink writes a committed stream to the client as OpenAI-style server-sent events.
type sseSink struct {
	s       *Server
	c       *gin.Context
	x       *exchange
	id      string
	created int64
	model   string
	started bool
	// buf is reused for every event of the stream.
	buf []byte
}

// Begin sends the status and headers; called once, before the first chunk.
func (k *sseSink) Begin(o *pipeline.Outcome) {
	k.s.outcomeHeaders(k.c, o)
	streamHeaders(k.c.Writer.Header())
	if o.Target != nil {
		k.model = o.Target.Upstream
	}
	k.c.Writer.WriteHeader(http.StatusOK)
	k.started = true
}

// Chunk sends one delta. An error means the client is gone or stopped reading (a write
// passed timeouts.client_write): the request's context is cancelled too.
func (k *sseSink) Chunk(ch *provider.Chunk) error {
	if k.id == "" {
		k.id = ch.ID
		if k.id == "" {
			k.id = "chatcmpl-" + k.c.Writer.Header().Get(HeaderRequestID)
		}
	}
	model := k.model
	if ch.Model != "" {
		model = ch.Model
	}
	k.buf = append(k.buf[:0], "data: "...)
	k.buf = wire.AppendChunk(k.buf, ch, k.id, model, k.created)
	return k.send()
}

func (k *sseSink) event(data []byte) error {
	k.buf = append(append(k.buf[:0], "data: "...), data...)
	return k.send()
}

// send ends the event in k.buf and flushes it to the client, each write within the
// client-write deadline.
func (k *sseSink) send() error {
	k.buf = append(k.buf, "\n\n"...)
	if _, err := k.x.Write(k.buf); err != nil {
		return err
	}
	return k.x.FlushError()
}

// streamHeaders are the headers of every stream.
func streamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// Cost and overhead are only known at the end: they go in trailers.
	h.Set("Trailer", HeaderCost+", "+HeaderOverhead)
}

// summary is the final SSE comment: what is only known at the end of a stream.
type summary struct {
	Provider   string  `json:"provider,omitempty"`
	Model      string  `json:"model,omitempty"`
	Rule       string  `json:"rule,omitempty"`
	Attempts   int     `json:"attempts"`
	Fallbacks  int     `json:"fallbacks"`
	CostUSD    float64 `json:"cost_usd"`
	OverheadMS float64 `json:"overhead_ms"`
}

// stream serves a streaming call and returns the status the client saw (an in-band
// error's status for a stream that failed after it started).
func (s *Server) stream(ctx context.Context, c *gin.Context, x *exchange, p *parsed) int {
	start := x.start
	sink := &sseSink{s: s, c: c, x: x, created: start.Unix()}
	out, werr := p.state.Pipeline.Stream(ctx, p.call, sink)
	x.out = out
	if werr != nil {
		werr = ended(ctx, werr)
	}
	overhead := time.Since(start) - out.Upstream
	x.overhead = overhead
	s.m.Overhead.Observe(overhead.Seconds())
	if !sink.started {
		s.outcomeHeaders(c, out)
		c.Header(HeaderOverhead, formatMS(overhead))
		if werr == nil { // cannot happen: success commits the stream
			werr = wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "the stream ended before it started")
		}
		s.writeError(c, werr)
		return werr.Status
	}
	status := http.StatusOK
	if werr != nil {
		// After the first byte, a failure is sent in-band and the stream ends without [DONE].
		_ = sink.event(werr.JSON())
		status = werr.Status
		x.code, x.inBand = werr.Code, true
	} else if p.call.Chat.Provider.IncludeUsage && out.Usage != nil {
		sink.buf = wire.AppendUsageChunk(append(sink.buf[:0], "data: "...), out.Usage, sink.id, sink.model, sink.created)
		_ = sink.send()
	}
	_, _ = x.Write(summaryComment(out, overhead))
	if werr == nil {
		_, _ = x.Write([]byte("data: [DONE]\n\n"))
	}
	h := x.Header()
	h.Set(HeaderCost, formatUSD(out.CostUSD))
	h.Set(HeaderOverhead, formatMS(overhead))
	_ = x.FlushError()
	return status
}

func jsonOrString(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

var _ pipeline.StreamSink = (*sseSink)(nil)
