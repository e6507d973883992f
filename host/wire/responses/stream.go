package responses

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Stream encodes a chat stream as Responses stream events. Each method appends whole
// server-sent events (`event: TYPE\ndata: JSON\n\n`) to dst; every event carries its type
// and a sequence_number counting from 0. Call Start once, Chunk for each delta, then
// exactly one of End and Fail. Only choice 0 is encoded: the Responses API has no n.
//
// Output items are streamed one at a time, as OpenAI does: an item is done (its .done
// events sent) when the next one starts or the stream ends. A tool call fragment for a
// call already done (no known upstream interleaves calls) still reaches the final
// response object, but gets no delta event of its own.
type Stream struct {
	cr      *wire.ChatRequest
	id      string
	model   string
	created int64
	seq     int64
	items   []*item
	// open is the item deltas go to, nil when none is; partOpen says whether its last
	// content part (a message's) still takes deltas.
	open     *item
	partOpen bool
	// calls finds the item of each tool call by the call's index in chat's deltas.
	calls       map[int]*item
	finish      string
	serviceTier string
	ended       bool
}

// NewStream starts the encoder of one stream; id gets the resp_ prefix when it lacks it.
func NewStream(cr *wire.ChatRequest, id, model string, created int64) *Stream {
	return &Stream{cr: cr, id: responseID(id), model: model, created: created, calls: map[int]*item{}}
}

// Start appends response.created and response.in_progress: the response object with
// status in_progress and no output yet.
func (s *Stream) Start(dst []byte) []byte {
	o := s.object("in_progress")
	dst = s.event(dst, "response.created", &responseEvent{Response: o})
	return s.event(dst, "response.in_progress", &responseEvent{Response: o})
}

// Chunk appends the events of one chat delta: text and refusals into a message item,
// tool call fragments into function_call items.
func (s *Stream) Chunk(dst []byte, c *provider.Chunk) []byte {
	if s.ended {
		return dst
	}
	if c.ServiceTier != "" {
		s.serviceTier = c.ServiceTier
	}
	for i := range c.Choices {
		d := &c.Choices[i]
		if d.Index != 0 {
			continue
		}
		if d.Content != "" {
			dst = s.text(dst, false, d.Content, logprobsOf(d.Logprobs))
		}
		if d.Refusal != "" {
			dst = s.text(dst, true, d.Refusal, nil)
		}
		for j := range d.ToolCalls {
			dst = s.call(dst, &d.ToolCalls[j])
		}
		if d.FinishReason != "" {
			s.finish = d.FinishReason
		}
	}
	return dst
}

// End closes the open item and appends response.completed, or response.incomplete when
// the answer was cut off (finish reason length or content_filter), with the whole
// response: output and usage (u may be nil).
func (s *Stream) End(dst []byte, u *provider.Usage) []byte {
	if s.ended {
		return dst
	}
	s.ended = true
	status, inc := outcome(s.finish)
	last := "completed"
	if status == "incomplete" {
		last = "incomplete"
	}
	dst = s.close(dst, last)
	o := s.object(status)
	o.IncompleteDetails = inc
	o.Usage = usageOf(u)
	return s.event(dst, "response."+status, &responseEvent{Response: o})
}

// Fail appends response.failed: the response with status failed, the output so far (an
// item left open is incomplete) and error {code, message}. It never sends the events of a
// normal end.
func (s *Stream) Fail(dst []byte, e *wire.Error) []byte {
	if s.ended {
		return dst
	}
	s.ended = true
	if e == nil {
		e = wire.NewError(http.StatusInternalServerError, wire.CodeInternal, "the stream failed")
	}
	if s.open != nil {
		s.open.status = "incomplete"
		s.open = nil
	}
	o := s.object("failed")
	o.Error = &objectError{Code: e.Code, Message: e.Message}
	return s.event(dst, "response.failed", &responseEvent{Response: o})
}

func (s *Stream) object(status string) *object {
	o := newObject(s.cr, s.id, s.model, s.created)
	o.Status = status
	o.Output = views(s.items)
	if s.serviceTier != "" {
		tier := s.serviceTier
		o.ServiceTier = &tier
	}
	return o
}

// add starts a new output item and makes it the open one.
func (s *Stream) add(call bool) *item {
	it := newItem(call, len(s.items), s.id)
	s.items = append(s.items, it)
	s.open, s.partOpen = it, false
	return it
}

// text adds a text (or refusal) delta to the open message, starting the message or a
// new content part as needed.
func (s *Stream) text(dst []byte, refusal bool, text string, lp []json.RawMessage) []byte {
	it := s.open
	if it == nil || it.call {
		dst = s.close(dst, "completed")
		it = s.add(false)
		dst = s.event(dst, "response.output_item.added", &itemEvent{OutputIndex: it.index, Item: it.view()})
	}
	var p *part
	if s.partOpen {
		p = it.parts[len(it.parts)-1]
	}
	if p == nil || p.refusal != refusal {
		dst = s.closePart(dst)
		p = &part{refusal: refusal}
		it.parts = append(it.parts, p)
		s.partOpen = true
		dst = s.event(dst, "response.content_part.added", &partEvent{ItemID: it.id, OutputIndex: it.index,
			ContentIndex: len(it.parts) - 1, Part: p.view()})
	}
	p.text.WriteString(text)
	ci := len(it.parts) - 1
	if refusal {
		return s.event(dst, "response.refusal.delta", &refusalDeltaEvent{ItemID: it.id, OutputIndex: it.index, ContentIndex: ci, Delta: text})
	}
	p.logprobs = append(p.logprobs, lp...)
	return s.event(dst, "response.output_text.delta", &textDeltaEvent{ItemID: it.id, OutputIndex: it.index,
		ContentIndex: ci, Delta: text, Logprobs: nonNil(lp)})
}

// call adds a tool call fragment: the first of a call (the one with its index first
// seen) starts a function_call item.
func (s *Stream) call(dst []byte, tc *provider.ToolCall) []byte {
	it, ok := s.calls[tc.Index]
	if !ok {
		dst = s.close(dst, "completed")
		it = s.add(true)
		it.callID, it.name = tc.ID, tc.Name
		if it.callID == "" {
			it.callID = "call_" + strings.TrimPrefix(it.id, "fc_")
		}
		s.calls[tc.Index] = it
		dst = s.event(dst, "response.output_item.added", &itemEvent{OutputIndex: it.index, Item: it.view()})
	} else if it.name == "" {
		it.name = tc.Name
	}
	if tc.Arguments == "" {
		return dst
	}
	it.args.WriteString(tc.Arguments)
	if it != s.open {
		return dst
	}
	return s.event(dst, "response.function_call_arguments.delta", &argsDeltaEvent{ItemID: it.id, OutputIndex: it.index, Delta: tc.Arguments})
}

// closePart ends the open message's last content part with its .done events.
func (s *Stream) closePart(dst []byte) []byte {
	if !s.partOpen {
		return dst
	}
	s.partOpen = false
	it := s.open
	ci := len(it.parts) - 1
	p := it.parts[ci]
	if p.refusal {
		dst = s.event(dst, "response.refusal.done", &refusalDoneEvent{ItemID: it.id, OutputIndex: it.index, ContentIndex: ci, Refusal: p.text.String()})
	} else {
		dst = s.event(dst, "response.output_text.done", &textDoneEvent{ItemID: it.id, OutputIndex: it.index,
			ContentIndex: ci, Text: p.text.String(), Logprobs: nonNil(p.logprobs)})
	}
	return s.event(dst, "response.content_part.done", &partEvent{ItemID: it.id, OutputIndex: it.index, ContentIndex: ci, Part: p.view()})
}

// close ends the open item, if any, with its .done events and the given status.
func (s *Stream) close(dst []byte, status string) []byte {
	it := s.open
	if it == nil {
		return dst
	}
	if it.call {
		dst = s.event(dst, "response.function_call_arguments.done", &argsDoneEvent{ItemID: it.id, OutputIndex: it.index, Arguments: it.args.String()})
	} else {
		dst = s.closePart(dst)
	}
	it.status = status
	s.open = nil
	return s.event(dst, "response.output_item.done", &itemEvent{OutputIndex: it.index, Item: it.view()})
}

// event appends one server-sent event: ev stamped with its type and the next sequence
// number. The JSON holds no newline (encoding/json escapes them in strings and compacts
// raw values), so one data line carries it.
func (s *Stream) event(dst []byte, typ string, ev stamper) []byte {
	ev.stamp(typ, s.seq)
	s.seq++
	b, _ := json.Marshal(ev)
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

type stamper interface{ stamp(typ string, seq int64) }

// head starts every event: encoding/json puts an embedded struct's fields in its place.
type head struct {
	Type string `json:"type"`
	Seq  int64  `json:"sequence_number"`
}

func (h *head) stamp(typ string, seq int64) { h.Type, h.Seq = typ, seq }

// The events, fields in the order OpenAI sends them.
type (
	responseEvent struct {
		head
		Response *object `json:"response"`
	}
	itemEvent struct {
		head
		OutputIndex int `json:"output_index"`
		Item        any `json:"item"`
	}
	partEvent struct {
		head
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Part         any    `json:"part"`
	}
	textDeltaEvent struct {
		head
		ItemID       string            `json:"item_id"`
		OutputIndex  int               `json:"output_index"`
		ContentIndex int               `json:"content_index"`
		Delta        string            `json:"delta"`
		Logprobs     []json.RawMessage `json:"logprobs"`
	}
	textDoneEvent struct {
		head
		ItemID       string            `json:"item_id"`
		OutputIndex  int               `json:"output_index"`
		ContentIndex int               `json:"content_index"`
		Text         string            `json:"text"`
		Logprobs     []json.RawMessage `json:"logprobs"`
	}
	refusalDeltaEvent struct {
		head
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Delta        string `json:"delta"`
	}
	refusalDoneEvent struct {
		head
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
		Refusal      string `json:"refusal"`
	}
	argsDeltaEvent struct {
		head
		ItemID      string `json:"item_id"`
		OutputIndex int    `json:"output_index"`
		Delta       string `json:"delta"`
	}
	argsDoneEvent struct {
		head
		ItemID      string `json:"item_id"`
		OutputIndex int    `json:"output_index"`
		Arguments   string `json:"arguments"`
	}
)
