package openai

import (
	"encoding/json"

	oai "github.com/openai/openai-go/v3"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// responseFrom maps a chat.completion object.
func responseFrom(c *oai.ChatCompletion) *provider.Response {
	r := &provider.Response{
		ID:                c.ID,
		Model:             c.Model,
		Created:           c.Created,
		SystemFingerprint: c.SystemFingerprint,
		Choices:           make([]provider.Choice, 0, len(c.Choices)),
	}
	for _, ch := range c.Choices {
		m := provider.Message{
			Role:    "assistant",
			Content: ch.Message.Content,
			Refusal: ch.Message.Refusal,
			Extra:   messageExtra(ch.Message.RawJSON()),
		}
		if role := string(ch.Message.Role); role != "" {
			m.Role = role
		}
		for i, tc := range ch.Message.ToolCalls {
			call := provider.ToolCall{Index: i, ID: tc.ID, Type: tc.Type, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
			if tc.Type == "custom" {
				call.Name, call.Arguments = tc.Custom.Name, tc.Custom.Input
			}
			m.ToolCalls = append(m.ToolCalls, call)
		}
		r.Choices = append(r.Choices, provider.Choice{Index: int(ch.Index), Message: m, FinishReason: ch.FinishReason})
	}
	if c.JSON.Usage.Valid() {
		r.Usage = usageFrom(c.Usage)
	}
	return r
}

// messageExtra keeps the fields of an answer's message the provider.Message does not model
// (annotations, audio, reasoning_content of some servers...), as a JSON object; nil when
// there are none.
func messageExtra(raw string) json.RawMessage {
	if raw == "" {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	for _, k := range []string{"role", "content", "refusal", "tool_calls"} {
		delete(m, k)
	}
	for k, v := range m {
		if string(v) == "null" {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}

// usageFrom maps OpenAI's usage object.
func usageFrom(u oai.CompletionUsage) *provider.Usage {
	return &provider.Usage{
		PromptTokens:       u.PromptTokens,
		CompletionTokens:   u.CompletionTokens,
		TotalTokens:        u.TotalTokens,
		CachedPromptTokens: u.PromptTokensDetails.CachedTokens,
		ReasoningTokens:    u.CompletionTokensDetails.ReasoningTokens,
		CacheWriteTokens:   u.PromptTokensDetails.CacheWriteTokens,
	}
}

// chunkFrom maps a chat.completion.chunk that has choices.
func chunkFrom(c oai.ChatCompletionChunk) *provider.Chunk {
	out := &provider.Chunk{ID: c.ID, Model: c.Model, Created: c.Created, Choices: make([]provider.Delta, 0, len(c.Choices))}
	for _, ch := range c.Choices {
		d := provider.Delta{
			Index:        int(ch.Index),
			Role:         ch.Delta.Role,
			Content:      ch.Delta.Content,
			Refusal:      ch.Delta.Refusal,
			FinishReason: ch.FinishReason,
		}
		for _, tc := range ch.Delta.ToolCalls {
			d.ToolCalls = append(d.ToolCalls, provider.ToolCall{
				Index: int(tc.Index), ID: tc.ID, Type: tc.Type,
				Name: tc.Function.Name, Arguments: tc.Function.Arguments,
			})
		}
		out.Choices = append(out.Choices, d)
	}
	return out
}
