package anthropic

import (
	"bytes"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
func finishReason(r sdk.StopReason) string {
	switch r {
	case sdk.StopReasonEndTurn, sdk.StopReasonStopSequence, sdk.StopReasonPauseTurn:
		return "stop"
	case sdk.StopReasonMaxTokens, sdk.StopReasonModelContextWindowExceeded:
		return "length"
	case sdk.StopReasonToolUse:
		return "tool_calls"
	case sdk.StopReasonRefusal:
		return "content_filter"
	case "":
		return ""
	}
	return "stop"
}

// usageCounts are Anthropic's token counts; the prompt total includes cached tokens.
type usageCounts struct {
	input, output, cacheRead, cacheWrite int64
}

func (u usageCounts) toProvider() *provider.Usage {
	prompt := u.input + u.cacheRead + u.cacheWrite
	return &provider.Usage{
		PromptTokens:       prompt,
		CompletionTokens:   u.output,
		TotalTokens:        prompt + u.output,
		CachedPromptTokens: u.cacheRead,
		CacheWriteTokens:   u.cacheWrite,
	}
}

// toolArguments is a tool_use input as OpenAI arguments: its JSON, "{}" when empty.
func toolArguments(input []byte) string {
	input = bytes.TrimSpace(input)
	if len(input) == 0 || bytes.Equal(input, []byte("null")) {
		return "{}"
	}
	return string(input)
}

// toResponse translates a whole Messages API answer: text blocks joined into the content,
// tool_use blocks into tool calls; thinking and server-tool blocks are left out.
func toResponse(m *sdk.Message, created int64) *provider.Response {
	var text strings.Builder
	msg := provider.Message{Role: "assistant"}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, provider.ToolCall{
				Index: len(msg.ToolCalls), ID: b.ID, Type: "function", Name: b.Name,
				Arguments: toolArguments(b.Input),
			})
		}
	}
	msg.Content = text.String()
	u := usageCounts{
		input: m.Usage.InputTokens, output: m.Usage.OutputTokens,
		cacheRead: m.Usage.CacheReadInputTokens, cacheWrite: m.Usage.CacheCreationInputTokens,
	}
	return &provider.Response{
		ID:      m.ID,
		Model:   string(m.Model),
		Created: created,
		Choices: []provider.Choice{{Index: 0, Message: msg, FinishReason: finishReason(m.StopReason)}},
		Usage:   u.toProvider(),
	}
}

// streamTranslator turns Anthropic's stream events into OpenAI-style chunks. It is used by
// one goroutine.
type streamTranslator struct {
	created  int64
	id       string
	model    string
	counts   usageCounts
	hasUsage bool
	// tools maps a content block index to its OpenAI tool-call index.
	tools map[int64]int
	// argsSent tells, per tool-call index, whether an argument fragment went out.
	argsSent map[int]bool
	// sent is set by the caller once a chunk went out; the first carries the role.
	sent    bool
	stopped bool
}

func newStreamTranslator(created int64) *streamTranslator {
	return &streamTranslator{created: created, tools: map[int64]int{}, argsSent: map[int]bool{}}
}

// event handles one event and returns the chunk to send, or nil.
func (t *streamTranslator) event(ev sdk.MessageStreamEventUnion) *provider.Chunk {
	switch ev.Type {
	case "message_start":
		m := ev.Message
		t.id, t.model = m.ID, string(m.Model)
		t.counts = usageCounts{
			input: m.Usage.InputTokens, output: m.Usage.OutputTokens,
			cacheRead: m.Usage.CacheReadInputTokens, cacheWrite: m.Usage.CacheCreationInputTokens,
		}
		t.hasUsage = true
	case "content_block_start":
		cb := ev.ContentBlock
		switch cb.Type {
		case "text":
			if cb.Text != "" {
				return t.chunk(provider.Delta{Content: cb.Text})
			}
		case "tool_use":
			idx := len(t.tools)
			t.tools[ev.Index] = idx
			return t.chunk(provider.Delta{ToolCalls: []provider.ToolCall{{Index: idx, ID: cb.ID, Type: "function", Name: cb.Name}}})
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			if ev.Delta.Text != "" {
				return t.chunk(provider.Delta{Content: ev.Delta.Text})
			}
		case "input_json_delta":
			idx, ok := t.tools[ev.Index]
			if ok && ev.Delta.PartialJSON != "" {
				t.argsSent[idx] = true
				return t.chunk(provider.Delta{ToolCalls: []provider.ToolCall{{Index: idx, Arguments: ev.Delta.PartialJSON}}})
			}
		}
	case "content_block_stop":
		// A tool call without input sent no fragment: its arguments are "{}".
		if idx, ok := t.tools[ev.Index]; ok && !t.argsSent[idx] {
			t.argsSent[idx] = true
			return t.chunk(provider.Delta{ToolCalls: []provider.ToolCall{{Index: idx, Arguments: "{}"}}})
		}
	case "message_delta":
		u := ev.Usage
		// message_delta's counts are cumulative; input and cache counts appear in it only
		// on newer API versions.
		if u.OutputTokens > 0 {
			t.counts.output = u.OutputTokens
		}
		if u.InputTokens > 0 {
			t.counts.input = u.InputTokens
		}
		if u.CacheReadInputTokens > 0 {
			t.counts.cacheRead = u.CacheReadInputTokens
		}
		if u.CacheCreationInputTokens > 0 {
			t.counts.cacheWrite = u.CacheCreationInputTokens
		}
		t.hasUsage = true
		if fr := finishReason(ev.Delta.StopReason); fr != "" {
			return t.chunk(provider.Delta{FinishReason: fr})
		}
	case "message_stop":
		t.stopped = true
	}
	return nil
}

func (t *streamTranslator) chunk(d provider.Delta) *provider.Chunk {
	if !t.sent {
		d.Role = "assistant"
	}
	return &provider.Chunk{ID: t.id, Model: t.model, Created: t.created, Choices: []provider.Delta{d}}
}

// usage is the usage seen so far, nil before message_start.
func (t *streamTranslator) usage() *provider.Usage {
	if !t.hasUsage {
		return nil
	}
	return t.counts.toProvider()
}
