package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// buildParams turns the typed request into openai-go's parameters. Scalars use the typed
// fields; messages, tools, tool_choice and a json_schema response format are encoded here
// and handed over with param.Override, so their bytes (a schema's key order, unknown
// content parts, message-level extra fields) reach the upstream unchanged. Every field of
// Request.Extra is merged in with SetExtraFields.
func buildParams(r *provider.Request, maxTokensField string, stream bool) (oai.ChatCompletionNewParams, error) {
	p := oai.ChatCompletionNewParams{Model: shared.ChatModel(r.Model)}
	p.Messages = make([]oai.ChatCompletionMessageParamUnion, 0, len(r.Messages))
	for i, m := range r.Messages {
		b, err := encodeMessage(m)
		if err != nil {
			return p, fmt.Errorf("messages[%d]: %w", i, err)
		}
		p.Messages = append(p.Messages, param.Override[oai.ChatCompletionMessageParamUnion](json.RawMessage(b)))
	}
	for i, t := range r.Tools {
		b, err := encodeTool(t)
		if err != nil {
			return p, fmt.Errorf("tools[%d]: %w", i, err)
		}
		p.Tools = append(p.Tools, param.Override[oai.ChatCompletionToolUnionParam](json.RawMessage(b)))
	}
	if raw := bytes.TrimSpace(r.ToolChoice); len(raw) > 0 {
		if !json.Valid(raw) {
			return p, fmt.Errorf("tool_choice is not valid JSON")
		}
		p.ToolChoice = param.Override[oai.ChatCompletionToolChoiceOptionUnionParam](json.RawMessage(raw))
	}
	if r.Temperature != nil {
		p.Temperature = param.NewOpt(*r.Temperature)
	}
	if r.TopP != nil {
		p.TopP = param.NewOpt(*r.TopP)
	}
	if r.PresencePenalty != nil {
		p.PresencePenalty = param.NewOpt(*r.PresencePenalty)
	}
	if r.FrequencyPenalty != nil {
		p.FrequencyPenalty = param.NewOpt(*r.FrequencyPenalty)
	}
	if r.Seed != nil {
		p.Seed = param.NewOpt(*r.Seed)
	}
	if r.MaxTokens > 0 {
		if maxTokensField == "max_tokens" {
			p.MaxTokens = param.NewOpt(r.MaxTokens)
		} else {
			p.MaxCompletionTokens = param.NewOpt(r.MaxTokens)
		}
	}
	if len(r.Stop) > 0 {
		p.Stop = oai.ChatCompletionNewParamsStopUnion{OfStringArray: r.Stop}
	}
	if rf := r.ResponseFormat; rf != nil && rf.Type != "" {
		switch rf.Type {
		case "text":
			p.ResponseFormat.OfText = &shared.ResponseFormatTextParam{}
		case "json_object":
			p.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
		default:
			// json_schema, and any newer type, with its object as the client sent it.
			obj := map[string]json.RawMessage{}
			t, _ := json.Marshal(rf.Type)
			obj["type"] = t
			if s := bytes.TrimSpace(rf.JSONSchema); len(s) > 0 {
				if !json.Valid(s) {
					return p, fmt.Errorf("response_format.json_schema is not valid JSON")
				}
				obj[rf.Type] = s
			}
			b, _ := json.Marshal(obj)
			p.ResponseFormat = param.Override[oai.ChatCompletionNewParamsResponseFormatUnion](json.RawMessage(b))
		}
	}
	if r.N > 0 {
		p.N = param.NewOpt(int64(r.N))
	}
	if r.User != "" {
		p.User = param.NewOpt(r.User)
	}
	if r.ReasoningEffort != "" {
		p.ReasoningEffort = shared.ReasoningEffort(r.ReasoningEffort)
	}
	if r.ParallelToolCalls != nil {
		p.ParallelToolCalls = param.NewOpt(*r.ParallelToolCalls)
	}
	if r.Logprobs {
		// The same fields in Extra, if the host also left them there, win: they are what
		// the client sent.
		p.Logprobs = param.NewOpt(true)
		if r.TopLogprobs != nil {
			p.TopLogprobs = param.NewOpt(int64(*r.TopLogprobs))
		}
	}
	if len(r.Metadata) > 0 {
		p.Metadata = shared.Metadata(r.Metadata)
	}
	if stream {
		// The host needs usage for cost accounting whatever the client asked; it decides
		// what to forward.
		p.StreamOptions.IncludeUsage = param.NewOpt(true)
	}
	if raw := bytes.TrimSpace(r.Extra); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var extra map[string]json.RawMessage
		if err := json.Unmarshal(raw, &extra); err != nil {
			return p, fmt.Errorf("extra fields are not a JSON object: %w", err)
		}
		fields := make(map[string]any, len(extra))
		for k, v := range extra {
			fields[k] = v
		}
		p.SetExtraFields(fields)
	}
	return p, nil
}

type wireToolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// encodeMessage encodes one message in OpenAI's shape, with its Extra fields merged in
// (the modelled fields win on a clash).
func encodeMessage(m provider.Message) ([]byte, error) {
	obj := map[string]any{}
	if raw := bytes.TrimSpace(m.Extra); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var extra map[string]json.RawMessage
		if err := json.Unmarshal(raw, &extra); err != nil {
			return nil, fmt.Errorf("extra fields are not a JSON object: %w", err)
		}
		for k, v := range extra {
			obj[k] = v
		}
	}
	obj["role"] = m.Role
	switch {
	case len(m.Parts) > 0:
		parts := make([]any, 0, len(m.Parts))
		for j, p := range m.Parts {
			switch {
			case len(bytes.TrimSpace(p.Raw)) > 0:
				if !json.Valid(p.Raw) {
					return nil, fmt.Errorf("content[%d] is not valid JSON", j)
				}
				parts = append(parts, json.RawMessage(p.Raw))
			case p.Type == "image_url":
				parts = append(parts, map[string]any{"type": "image_url", "image_url": wireImageURL{URL: p.ImageURL, Detail: p.ImageDetail}})
			default:
				t := p.Type
				if t == "" {
					t = "text"
				}
				parts = append(parts, map[string]any{"type": t, "text": p.Text})
			}
		}
		obj["content"] = parts
	case m.Content != "":
		obj["content"] = m.Content
	case m.Role == "assistant" && (len(m.ToolCalls) > 0 || m.Refusal != ""):
		// An assistant turn that only called tools or refused has no content.
		if _, ok := obj["content"]; !ok {
			obj["content"] = nil
		}
	default:
		obj["content"] = ""
	}
	if m.Name != "" {
		obj["name"] = m.Name
	}
	if m.ToolCallID != "" {
		obj["tool_call_id"] = m.ToolCallID
	}
	if m.Refusal != "" {
		obj["refusal"] = m.Refusal
	}
	if len(m.ToolCalls) > 0 {
		calls := make([]wireToolCall, len(m.ToolCalls))
		for j, c := range m.ToolCalls {
			calls[j].ID, calls[j].Type = c.ID, c.Type
			if calls[j].Type == "" {
				calls[j].Type = "function"
			}
			calls[j].Function.Name, calls[j].Function.Arguments = c.Name, c.Arguments
		}
		obj["tool_calls"] = calls
	}
	return json.Marshal(obj)
}

// encodeTool encodes one function tool; the parameters schema keeps the client's bytes.
func encodeTool(t provider.Tool) ([]byte, error) {
	typ := t.Type
	if typ == "" {
		typ = "function"
	}
	fn := map[string]any{"name": t.Name}
	if t.Description != "" {
		fn["description"] = t.Description
	}
	if s := bytes.TrimSpace(t.Parameters); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		if !json.Valid(s) {
			return nil, fmt.Errorf("parameters are not valid JSON")
		}
		fn["parameters"] = json.RawMessage(s)
	}
	if t.Strict {
		fn["strict"] = true
	}
	return json.Marshal(map[string]any{"type": typ, typ: fn})
}

// rawOptions returns the options that send the host's RawBody as the request body. For a
// stream, "stream": true is ensured and, when askUsage, stream_options.include_usage is set
// to true unless the body already says so (the host needs usage; it decides what the
// client sees); for a whole answer, stream and stream_options are removed. So the body
// always asks for what the RPC the host called expects. Every other byte is the client's.
// askUsage is false for the Responses API, which reports usage in every stream.
func rawOptions(raw []byte, stream, askUsage bool) ([]option.RequestOption, error) {
	if !stream && !mayHoldStreamKey(raw) {
		// The common whole-answer body: nothing to remove, so no need to split it (nor to
		// check it again: the host parsed it).
		if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
			return nil, errors.New("raw body is not a JSON object")
		}
		return []option.RequestOption{option.WithRequestBody("application/json", bytes.Clone(raw))}, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("raw body is not a JSON object: %w", err)
	}
	body := bytes.Clone(raw)
	opts := []option.RequestOption{option.WithRequestBody("application/json", body)}
	if !stream {
		if _, ok := top["stream"]; ok {
			opts = append(opts, option.WithJSONDel("stream"))
		}
		if _, ok := top["stream_options"]; ok {
			opts = append(opts, option.WithJSONDel("stream_options"))
		}
		return opts, nil
	}
	if s, ok := top["stream"]; !ok || !bytes.Equal(bytes.TrimSpace(s), []byte("true")) {
		opts = append(opts, option.WithJSONSet("stream", true))
	}
	if !askUsage {
		return opts, nil
	}
	var so map[string]json.RawMessage
	switch soRaw, ok := top["stream_options"]; {
	case !ok || json.Unmarshal(soRaw, &so) != nil || so == nil:
		// Absent, null or not an object: replace it whole.
		opts = append(opts, option.WithJSONSet("stream_options", map[string]bool{"include_usage": true}))
	case !bytes.Equal(bytes.TrimSpace(so["include_usage"]), []byte("true")):
		opts = append(opts, option.WithJSONSet("stream_options.include_usage", true))
	}
	return opts, nil
}

// mayHoldStreamKey reports whether raw may have a top-level "stream" or "stream_options"
// key. False is exact: neither key can be written without the bytes `"stream`, unless
// escaped as \uXXXX.
func mayHoldStreamKey(raw []byte) bool {
	return bytes.Contains(raw, []byte(`"stream`)) || bytes.Contains(raw, []byte(`\u`))
}
