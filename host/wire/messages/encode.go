package messages

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// The JSON shapes Anthropic's API answers with. Field order follows Anthropic's own
// answers, so the output reads like theirs (clients do not depend on it).

type messageJSON struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []any     `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        usageJSON `json:"usage"`
}

type textBlockJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type toolUseBlockJSON struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type usageJSON struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// appendJSON appends v as compact JSON. HTML characters stay literal, as in Anthropic's
// answers (encoding/json would escape <, > and &; both decode the same).
func appendJSON(dst []byte, v any) []byte {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a json.RawMessage that is not JSON fails, and every one written here has
		// been checked: nothing to send but what was there.
		return dst
	}
	b := buf.Bytes()
	return b[:len(b)-1] // Encode ends the value with a newline
}

// messageID is the id an answer goes out with: Anthropic's ids start with "msg_", and
// some clients check it.
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + id
}

// toolUseID is a tool call's id, made up from the message id and the call's position when
// the upstream sent none: a tool_use block needs one for the client's tool_result to
// refer to.
func toolUseID(id, msgID string, n int) string {
	if id != "" {
		return id
	}
	return "toolu_" + strings.TrimPrefix(msgID, "msg_") + "_" + strconv.Itoa(n)
}

// stopReason maps chat's finish_reason onto Anthropic's stop_reason, the inverse of the
// Anthropic plugin's mapping. An answer that holds tool calls stops with tool_use
// whatever its finish_reason says (several upstreams say stop), because Anthropic clients
// run the tools when stop_reason is tool_use. Unknown or missing reasons are end_turn.
func stopReason(finish string, toolUse bool) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	if toolUse {
		return "tool_use"
	}
	return "end_turn"
}

// usageOf splits the prompt count as Anthropic counts it: input_tokens is what neither
// came from nor went into the cache (provider.Usage's PromptTokens includes both).
func usageOf(u *provider.Usage) usageJSON {
	if u == nil {
		return usageJSON{}
	}
	return usageJSON{
		InputTokens:              max(u.PromptTokens-u.CachedPromptTokens-u.CacheWriteTokens, 0),
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedPromptTokens,
		OutputTokens:             u.CompletionTokens,
	}
}

// toolInput is a tool call's arguments as a tool_use input. Anthropic's input is always
// an object; arguments that are not a JSON object (a model's malformed output, a cut-off
// call) become {} rather than an answer the client cannot parse.
func toolInput(args string) json.RawMessage {
	raw := bytes.TrimSpace([]byte(args))
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return json.RawMessage("{}")
	}
	return raw
}

// AppendMessage appends the answer as an Anthropic Message object to dst. id is the
// message's id ("msg_" is prefixed when it lacks it; r.ID when empty) and model the model
// named in the answer (r.Model when empty). Only choice 0 is written: Anthropic answers
// with one message. Its text (and a refusal's, which Anthropic sends as text with
// stop_reason refusal) comes first, then one tool_use block per tool call.
func AppendMessage(dst []byte, r *provider.Response, model, id string) []byte {
	if r == nil {
		r = &provider.Response{}
	}
	if id == "" {
		id = r.ID
	}
	id = messageID(id)
	if model == "" {
		model = r.Model
	}
	m := messageJSON{ID: id, Type: "message", Role: "assistant", Model: model, Content: []any{}, Usage: usageOf(r.Usage)}
	var finish string
	var toolUse bool
	for i := range r.Choices {
		ch := &r.Choices[i]
		if ch.Index != 0 {
			continue
		}
		finish = ch.FinishReason
		msg := &ch.Message
		if msg.Content != "" {
			m.Content = append(m.Content, textBlockJSON{"text", msg.Content})
		}
		for _, p := range msg.Parts {
			if p.Type == "text" && p.Text != "" {
				m.Content = append(m.Content, textBlockJSON{"text", p.Text})
			}
		}
		if msg.Refusal != "" {
			m.Content = append(m.Content, textBlockJSON{"text", msg.Refusal})
		}
		for n, tc := range msg.ToolCalls {
			m.Content = append(m.Content, toolUseBlockJSON{"tool_use", toolUseID(tc.ID, id, n), tc.Name, toolInput(tc.Arguments)})
			toolUse = true
		}
		break
	}
	reason := stopReason(finish, toolUse)
	m.StopReason = &reason
	return appendJSON(dst, m)
}
