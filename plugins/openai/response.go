package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Answers are decoded here with encoding/json into the few fields provider.Response and
// provider.Chunk need, not with openai-go's models: their reflection-driven decoder was the
// largest cost of a call through the plugin (see README.md, Performance). Like openai-go's, the
// decoding is lenient: a field of an unexpected type reads as its zero value instead of
// failing the answer; only a body that is not JSON fails.

// wireCompletion is the part of a chat.completion object the plugin reads.
type wireCompletion struct {
	ID                flexString   `json:"id"`
	Model             flexString   `json:"model"`
	Created           flexInt      `json:"created"`
	SystemFingerprint flexString   `json:"system_fingerprint"`
	ServiceTier       flexString   `json:"service_tier"`
	Choices           []wireChoice `json:"choices"`
	Usage             *wireUsage   `json:"usage"`
}

type wireChoice struct {
	Index        flexInt         `json:"index"`
	Message      wireMessage     `json:"message"`
	FinishReason flexString      `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// wireMessage is an answer's message: the modelled fields, and every other non-null field
// kept in extra as a JSON object.
type wireMessage struct {
	role, content, refusal string
	toolCalls              []provider.ToolCall
	extra                  json.RawMessage
}

// UnmarshalJSON never fails on a JSON value (the outer decoder has checked it): a message
// that is not an object reads as empty.
func (m *wireMessage) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return nil
	}
	var s flexString
	if v, ok := fields["role"]; ok {
		_ = s.UnmarshalJSON(v)
		m.role = string(s)
		delete(fields, "role")
	}
	if v, ok := fields["content"]; ok {
		_ = s.UnmarshalJSON(v)
		m.content = string(s)
		delete(fields, "content")
	}
	if v, ok := fields["refusal"]; ok {
		_ = s.UnmarshalJSON(v)
		m.refusal = string(s)
		delete(fields, "refusal")
	}
	if v, ok := fields["tool_calls"]; ok {
		var calls []answerToolCall
		_ = json.Unmarshal(v, &calls)
		for i, tc := range calls {
			call := provider.ToolCall{Index: i, ID: string(tc.ID), Type: string(tc.Type), Name: string(tc.Function.Name), Arguments: string(tc.Function.Arguments)}
			if tc.Type == "custom" {
				call.Name, call.Arguments = string(tc.Custom.Name), string(tc.Custom.Input)
			}
			m.toolCalls = append(m.toolCalls, call)
		}
		delete(fields, "tool_calls")
	}
	for k, v := range fields {
		if string(v) == "null" {
			delete(fields, k)
		}
	}
	if len(fields) > 0 {
		m.extra, _ = json.Marshal(fields)
	}
	return nil
}

type answerToolCall struct {
	Index    flexInt    `json:"index"`
	ID       flexString `json:"id"`
	Type     flexString `json:"type"`
	Function struct {
		Name      flexString `json:"name"`
		Arguments flexString `json:"arguments"`
	} `json:"function"`
	Custom struct {
		Name  flexString `json:"name"`
		Input flexString `json:"input"`
	} `json:"custom"`
}

type wireUsage struct {
	PromptTokens        flexInt `json:"prompt_tokens"`
	CompletionTokens    flexInt `json:"completion_tokens"`
	TotalTokens         flexInt `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens     flexInt `json:"cached_tokens"`
		CacheWriteTokens flexInt `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens flexInt `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// wireChunk is the part of a chat.completion.chunk the plugin reads. Error is set when the
// event is an error event ({"error": ...}).
type wireChunk struct {
	ID                flexString        `json:"id"`
	Model             flexString        `json:"model"`
	Created           flexInt           `json:"created"`
	SystemFingerprint flexString        `json:"system_fingerprint"`
	ServiceTier       flexString        `json:"service_tier"`
	Choices           []wireDeltaChoice `json:"choices"`
	Usage             *wireUsage        `json:"usage"`
	Error             json.RawMessage   `json:"error"`
}

type wireDeltaChoice struct {
	Index flexInt `json:"index"`
	Delta struct {
		Role      flexString       `json:"role"`
		Content   flexString       `json:"content"`
		Refusal   flexString       `json:"refusal"`
		ToolCalls []answerToolCall `json:"tool_calls"`
	} `json:"delta"`
	FinishReason flexString      `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// rawObject is a JSON value kept as is when it is an object; null, absent or any other
// type (a server's false, say) reads as none.
func rawObject(v json.RawMessage) json.RawMessage {
	if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '{' {
		return nil
	}
	return bytes.Clone(v)
}

// decodeCompletion decodes a chat.completion body.
func decodeCompletion(body []byte) (*provider.Response, error) {
	var c wireCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	r := &provider.Response{
		ID:                string(c.ID),
		Model:             string(c.Model),
		Created:           int64(c.Created),
		SystemFingerprint: string(c.SystemFingerprint),
		ServiceTier:       string(c.ServiceTier),
		Choices:           make([]provider.Choice, 0, len(c.Choices)),
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		m := provider.Message{
			Role:      "assistant",
			Content:   ch.Message.content,
			Refusal:   ch.Message.refusal,
			ToolCalls: ch.Message.toolCalls,
			Extra:     ch.Message.extra,
		}
		if ch.Message.role != "" {
			m.Role = ch.Message.role
		}
		r.Choices = append(r.Choices, provider.Choice{Index: int(ch.Index), Message: m, FinishReason: string(ch.FinishReason),
			Logprobs: rawObject(ch.Logprobs)})
	}
	if c.Usage != nil {
		r.Usage = usageFrom(c.Usage)
	}
	return r, nil
}

// usageFrom maps OpenAI's usage object.
func usageFrom(u *wireUsage) *provider.Usage {
	return &provider.Usage{
		PromptTokens:       int64(u.PromptTokens),
		CompletionTokens:   int64(u.CompletionTokens),
		TotalTokens:        int64(u.TotalTokens),
		CachedPromptTokens: int64(u.PromptTokensDetails.CachedTokens),
		ReasoningTokens:    int64(u.CompletionTokensDetails.ReasoningTokens),
		CacheWriteTokens:   int64(u.PromptTokensDetails.CacheWriteTokens),
	}
}

// chunkFrom maps a chat.completion.chunk that has choices.
func chunkFrom(c *wireChunk) *provider.Chunk {
	out := &provider.Chunk{ID: string(c.ID), Model: string(c.Model), Created: int64(c.Created),
		SystemFingerprint: string(c.SystemFingerprint), ServiceTier: string(c.ServiceTier),
		Choices: make([]provider.Delta, 0, len(c.Choices))}
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := provider.Delta{
			Index:        int(ch.Index),
			Role:         string(ch.Delta.Role),
			Content:      string(ch.Delta.Content),
			Refusal:      string(ch.Delta.Refusal),
			FinishReason: string(ch.FinishReason),
			Logprobs:     rawObject(ch.Logprobs),
		}
		for _, tc := range ch.Delta.ToolCalls {
			d.ToolCalls = append(d.ToolCalls, provider.ToolCall{
				Index: int(tc.Index), ID: string(tc.ID), Type: string(tc.Type),
				Name: string(tc.Function.Name), Arguments: string(tc.Function.Arguments),
			})
		}
		out.Choices = append(out.Choices, d)
	}
	return out
}

// flexString is a JSON string; null or any other type reads as "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	*s = ""
	if len(b) < 2 || b[0] != '"' {
		return nil
	}
	// The common case, a string without escapes, needs no decoding; encoding/json has
	// already checked the value, and replaces invalid UTF-8 the same way.
	if in := b[1 : len(b)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		*s = flexString(in)
		return nil
	}
	var v string
	if json.Unmarshal(b, &v) == nil {
		*s = flexString(v)
	}
	return nil
}

// flexInt is a JSON number (a float is truncated) or a string holding one; anything else
// reads as 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	*n = 0
	if len(b) > 1 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*n = flexInt(v)
	} else if f, err := strconv.ParseFloat(string(b), 64); err == nil {
		*n = flexInt(f)
	}
	return nil
}
