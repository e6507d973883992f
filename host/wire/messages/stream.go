package messages

import (
	"encoding/json"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Stream turns a chat stream (provider.Chunk deltas) into Anthropic's server-sent events:
// message_start and ping, then for each content block a content_block_start, its deltas
// and a content_block_stop, then message_delta (stop reason, usage) and message_stop; or
// an error event when the stream fails. Every frame is "event: NAME\ndata: JSON\n\n".
// Only choice 0 is streamed, as an Anthropic message has one.
//
// Blocks follow one another, as in Anthropic's streams: a text block stays open while text
// comes, a tool_use block while its call's argument fragments come, and the open block is
// stopped when another starts. Chat upstreams send all of one tool call's fragments before
// the next call's; should a fragment of an earlier call come late all the same, it is sent
// as a delta of that call's block, the only place it can go, rather than dropped: a
// client that accumulates by block index still gets it, one that settles a block at its
// content_block_stop (the Go SDK's accumulator) does not.
//
// A Stream is used by one goroutine. Each method appends to dst and returns it, so a
// handler can reuse one buffer; after End or Fail the stream is over and every method
// returns dst unchanged.
type Stream struct {
	id, model string
	input     int64
	started   bool
	done      bool
	// blocks is the number of content blocks started; open is the index of the one not
	// yet stopped, -1 when none is.
	blocks int
	open   int
	// openTool is the chat tool-call index of the open block, -1 when it is a text block.
	openTool int
	// tools maps each chat tool-call index to its block's index.
	tools  map[int]int
	finish string
	// frame is reused for each event's data.
	frame []byte
}

// NewStream starts the stream of message id (prefixed with "msg_" when it lacks it) from
// model. inputTokens is the prompt's size as message_start reports it: an estimate, since
// the upstream's count is only known at the end, where End reports it.
func NewStream(id, model string, inputTokens int64) *Stream {
	return &Stream{id: messageID(id), model: model, input: inputTokens, open: -1, openTool: -1, tools: map[int]int{}}
}

// event appends one frame: its name and v as its data.
func (s *Stream) event(dst []byte, name string, v any) []byte {
	s.frame = appendJSON(s.frame[:0], v)
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, s.frame...)
	return append(dst, "\n\n"...)
}

// messageStartJSON is message_start; its message has empty content and no stop reason
// or sequence yet (null).
type messageStartJSON struct {
	Type    string      `json:"type"`
	Message messageJSON `json:"message"`
}

type typeOnlyJSON struct {
	Type string `json:"type"`
}

type blockStartJSON struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block"`
}

type blockDeltaJSON struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

type textDeltaJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type inputJSONDeltaJSON struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type blockStopJSON struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDeltaJSON struct {
	Type  string          `json:"type"`
	Delta stopJSON        `json:"delta"`
	Usage *deltaUsageJSON `json:"usage"`
}

type stopJSON struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// deltaUsageJSON is message_delta's usage: the input and cache counts are left out when
// unknown, so a client keeps message_start's.
type deltaUsageJSON struct {
	InputTokens              *int64 `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64  `json:"output_tokens"`
}

// Start appends message_start, whose message has no content yet and the input estimate as
// its usage, and a ping, as Anthropic opens its streams.
func (s *Stream) Start(dst []byte) []byte {
	if s.started || s.done {
		return dst
	}
	s.started = true
	dst = s.event(dst, "message_start", messageStartJSON{Type: "message_start", Message: messageJSON{
		ID: s.id, Type: "message", Role: "assistant", Model: s.model, Content: []any{},
		Usage: usageJSON{InputTokens: s.input},
	}})
	return s.event(dst, "ping", typeOnlyJSON{"ping"})
}

// Chunk appends the events one chat delta makes: text (and refusal text) as text_delta
// events of a text block, tool-call fragments as input_json_delta events of a tool_use
// block, which starts with the call's id and name. The chunk's finish reason is kept for
// End. Start's events are written first if Start was not called.
func (s *Stream) Chunk(dst []byte, c *provider.Chunk) []byte {
	if s.done || c == nil {
		return dst
	}
	dst = s.Start(dst)
	for i := range c.Choices {
		d := &c.Choices[i]
		if d.Index != 0 {
			continue
		}
		dst = s.text(dst, d.Content)
		dst = s.text(dst, d.Refusal)
		for j := range d.ToolCalls {
			dst = s.toolCall(dst, &d.ToolCalls[j])
		}
		if d.FinishReason != "" {
			s.finish = d.FinishReason
		}
	}
	return dst
}

// stop appends the content_block_stop of the open block, if there is one.
func (s *Stream) stop(dst []byte) []byte {
	if s.open < 0 {
		return dst
	}
	dst = s.event(dst, "content_block_stop", blockStopJSON{"content_block_stop", s.open})
	s.open, s.openTool = -1, -1
	return dst
}

func (s *Stream) text(dst []byte, text string) []byte {
	if text == "" {
		return dst
	}
	if s.open < 0 || s.openTool >= 0 {
		dst = s.stop(dst)
		s.open = s.blocks
		s.blocks++
		dst = s.event(dst, "content_block_start", blockStartJSON{"content_block_start", s.open, textBlockJSON{"text", ""}})
	}
	return s.event(dst, "content_block_delta", blockDeltaJSON{"content_block_delta", s.open, textDeltaJSON{"text_delta", text}})
}

func (s *Stream) toolCall(dst []byte, tc *provider.ToolCall) []byte {
	idx, seen := s.tools[tc.Index]
	if !seen {
		dst = s.stop(dst)
		idx = s.blocks
		s.blocks++
		s.tools[tc.Index] = idx
		s.open, s.openTool = idx, tc.Index
		dst = s.event(dst, "content_block_start", blockStartJSON{"content_block_start", idx,
			toolUseBlockJSON{"tool_use", toolUseID(tc.ID, s.id, len(s.tools)-1), tc.Name, json.RawMessage("{}")}})
	}
	if tc.Arguments == "" {
		return dst
	}
	return s.event(dst, "content_block_delta", blockDeltaJSON{"content_block_delta", idx, inputJSONDeltaJSON{"input_json_delta", tc.Arguments}})
}

// End appends the end of a stream that went well: the open block's content_block_stop,
// message_delta with the stop reason and usage (nil: only output_tokens 0, so a client
// keeps message_start's input count), and message_stop.
func (s *Stream) End(dst []byte, u *provider.Usage) []byte {
	if s.done {
		return dst
	}
	dst = s.Start(dst)
	dst = s.stop(dst)
	s.done = true
	md := messageDeltaJSON{Type: "message_delta", Delta: stopJSON{StopReason: stopReason(s.finish, len(s.tools) > 0)}, Usage: &deltaUsageJSON{}}
	if u != nil {
		n := usageOf(u)
		md.Usage = &deltaUsageJSON{InputTokens: &n.InputTokens, CacheCreationInputTokens: &n.CacheCreationInputTokens,
			CacheReadInputTokens: &n.CacheReadInputTokens, OutputTokens: n.OutputTokens}
	}
	dst = s.event(dst, "message_delta", md)
	return s.event(dst, "message_stop", typeOnlyJSON{"message_stop"})
}

// Fail appends an error event with Anthropic's error envelope and ends the stream: no
// content_block_stop or message_stop follows, as in Anthropic's streams, so a client
// cannot take the cut-off answer for a whole one.
func (s *Stream) Fail(dst []byte, e *wire.Error) []byte {
	if s.done {
		return dst
	}
	s.done = true
	dst = append(dst, "event: error\ndata: "...)
	dst = appendError(dst, e, "")
	return append(dst, "\n\n"...)
}
