package wire

import (
	"encoding/json"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// The encoders as encoding/json of structs: the reference the append-based encoders must
// match byte for byte (TestEncodersMatchEncodingJSON, FuzzAppendJSONString).

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []choice `json:"choices"`
	Usage             *usage   `json:"usage,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

type message struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	Refusal   *string    `json:"refusal"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type toolCall struct {
	Index    *int     `json:"index,omitempty"`
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type,omitempty"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type usage struct {
	PromptTokens            int64          `json:"prompt_tokens"`
	CompletionTokens        int64          `json:"completion_tokens"`
	TotalTokens             int64          `json:"total_tokens"`
	PromptTokensDetails     *promptDetails `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *compDetails   `json:"completion_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type compDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

func refUsage(u *provider.Usage) *usage {
	if u == nil {
		return nil
	}
	out := &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if out.TotalTokens == 0 {
		out.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if u.CachedPromptTokens > 0 {
		out.PromptTokensDetails = &promptDetails{CachedTokens: u.CachedPromptTokens}
	}
	if u.ReasoningTokens > 0 {
		out.CompletionTokensDetails = &compDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return out
}

func refToolCalls(calls []provider.ToolCall, stream bool) []toolCall {
	if len(calls) == 0 {
		return nil
	}
	out := make([]toolCall, len(calls))
	for i, c := range calls {
		typ := c.Type
		if typ == "" && c.ID != "" {
			typ = "function"
		}
		out[i] = toolCall{ID: c.ID, Type: typ, Function: function{Name: c.Name, Arguments: c.Arguments}}
		if stream {
			idx := c.Index
			out[i].Index = &idx
		}
	}
	return out
}

// EncodeCompletion writes an answer as an OpenAI chat.completion object. model is the
// model named in the body: the one that answered.
func refEncodeCompletion(r *provider.Response, model string) []byte {
	c := completion{ID: r.ID, Object: "chat.completion", Created: r.Created, Model: model,
		Usage: refUsage(r.Usage), ServiceTier: r.ServiceTier, SystemFingerprint: r.SystemFingerprint, Choices: make([]choice, len(r.Choices))}
	for i, ch := range r.Choices {
		m := message{Role: ch.Message.Role, ToolCalls: refToolCalls(ch.Message.ToolCalls, false)}
		if m.Role == "" {
			m.Role = "assistant"
		}
		if ch.Message.Content != "" || len(ch.Message.ToolCalls) == 0 {
			content := ch.Message.Content
			m.Content = &content
		}
		if ch.Message.Refusal != "" {
			ref := ch.Message.Refusal
			m.Refusal = &ref
		}
		c.Choices[i] = choice{Index: ch.Index, Message: m, FinishReason: ch.FinishReason, Logprobs: refRaw(ch.Logprobs)}
	}
	b, _ := json.Marshal(c)
	return b
}

type chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *usage        `json:"usage,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// refRaw is a plugin's JSON value as encoding/json keeps it: nil (null) unless valid.
func refRaw(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || !json.Valid(v) {
		return nil
	}
	return v
}

type delta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	Refusal   *string    `json:"refusal,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

// EncodeChunk writes one stream delta as an OpenAI chat.completion.chunk object.
func refEncodeChunk(c *provider.Chunk, id, model string, created int64) []byte {
	out := chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, Choices: make([]chunkChoice, len(c.Choices)),
		ServiceTier: c.ServiceTier, SystemFingerprint: c.SystemFingerprint}
	for i, d := range c.Choices {
		cc := chunkChoice{Index: d.Index, Delta: delta{Role: d.Role, ToolCalls: refToolCalls(d.ToolCalls, true)}, Logprobs: refRaw(d.Logprobs)}
		if d.Content != "" {
			content := d.Content
			cc.Delta.Content = &content
		}
		if d.Refusal != "" {
			ref := d.Refusal
			cc.Delta.Refusal = &ref
		}
		if d.FinishReason != "" {
			fr := d.FinishReason
			cc.FinishReason = &fr
		}
		out.Choices[i] = cc
	}
	b, _ := json.Marshal(out)
	return b
}

// EncodeUsageChunk writes the final usage chunk that stream_options.include_usage asks for:
// empty choices and the usage.
func refEncodeUsageChunk(u *provider.Usage, id, model string, created int64) []byte {
	b, _ := json.Marshal(chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, Choices: []chunkChoice{}, Usage: refUsage(u)})
	return b
}
