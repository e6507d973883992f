package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// thinkingBudgets maps OpenAI's reasoning_effort to an extended-thinking budget in tokens.
// "minimal" and "none" leave thinking off.
var thinkingBudgets = map[string]int64{"low": 1024, "medium": 4096, "high": 16384}

// minThinkingBudget is the smallest budget_tokens Anthropic accepts.
const minThinkingBudget = 1024

// mediaTypes are the image media types Anthropic accepts in a base64 source.
var mediaTypes = map[string]sdk.Base64ImageSourceMediaType{
	"image/jpeg": sdk.Base64ImageSourceMediaTypeImageJPEG,
	"image/jpg":  sdk.Base64ImageSourceMediaTypeImageJPEG,
	"image/png":  sdk.Base64ImageSourceMediaTypeImagePNG,
	"image/gif":  sdk.Base64ImageSourceMediaTypeImageGIF,
	"image/webp": sdk.Base64ImageSourceMediaTypeImageWebP,
}

// jsonObjectInstruction is added to the system prompt for response_format json_object.
const jsonObjectInstruction = "Respond with a single valid JSON object and nothing else: no prose, no Markdown code fences."

func invalid(format string, args ...any) *provider.Error {
	return provider.NewError(provider.KindInvalidRequest, "anthropic: "+format, args...)
}

func unsupported(format string, args ...any) *provider.Error {
	return provider.NewError(provider.KindUnsupported, "anthropic: "+format, args...)
}

// buildParams translates an OpenAI-style request into Anthropic Messages API parameters.
// A client mistake is an invalid_request *provider.Error; something Anthropic cannot do
// is unsupported (the host may fall back to another provider).
func buildParams(req *provider.Request, s *Settings) (sdk.MessageNewParams, error) {
	var p sdk.MessageNewParams
	p.Model = sdk.Model(req.Model)
	if req.N > 1 {
		return p, unsupported("n=%d: Anthropic returns one choice per request", req.N)
	}

	var system []string
	var turns []turn
	hasToolHistory := false
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer":
			text, err := plainText(m, i)
			if err != nil {
				return p, err
			}
			if text != "" {
				system = append(system, text)
			}
		case "user":
			blocks, err := userBlocks(m, i)
			if err != nil {
				return p, err
			}
			turns = appendTurn(turns, "user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(m, i)
			if err != nil {
				return p, err
			}
			if len(m.ToolCalls) > 0 {
				hasToolHistory = true
			}
			turns = appendTurn(turns, "assistant", blocks)
		case "tool":
			block, err := toolResultBlock(m, i)
			if err != nil {
				return p, err
			}
			turns = appendTurn(turns, "user", []sdk.ContentBlockParamUnion{block})
		default:
			return p, invalid("messages[%d]: role %q is not supported", i, m.Role)
		}
	}
	if len(turns) == 0 {
		return p, invalid("messages: at least one user or assistant message with content is required")
	}
	for _, t := range turns {
		if t.role == "user" {
			p.Messages = append(p.Messages, sdk.MessageParam{OfUser: &sdk.UserMessageParam{Content: t.blocks}})
		} else {
			p.Messages = append(p.Messages, sdk.MessageParam{OfAssistant: &sdk.AssistantMessageParam{Content: t.blocks}})
		}
	}

	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			system = append(system, jsonObjectInstruction)
		case "json_schema":
			system = append(system, schemaInstruction(rf.JSONSchema))
		default:
			return p, invalid("response_format: type %q is not supported", rf.Type)
		}
	}
	if len(system) > 0 {
		p.System = []sdk.TextBlockParam{{Text: strings.Join(system, "\n\n")}}
	}

	tools, err := toolParams(req.Tools)
	if err != nil {
		return p, err
	}
	p.Tools = tools
	if len(tools) > 0 {
		tc, err := toolChoice(req.ToolChoice, req.ParallelToolCalls)
		if err != nil {
			return p, err
		}
		p.ToolChoice = tc
	}

	p.MaxTokens = req.MaxTokens
	if p.MaxTokens <= 0 {
		p.MaxTokens = s.DefaultMaxTokens
	}
	p.StopSequences = req.Stop
	if req.User != "" {
		p.Metadata.UserID = param.NewOpt(req.User)
	}

	// The SDK's params no longer model the sampling fields; they go in as extra fields,
	// which Anthropic's wire format still defines.
	extra := map[string]any{}
	if req.Temperature != nil {
		extra["temperature"] = min(max(*req.Temperature, 0), 1)
	}
	if req.TopP != nil {
		extra["top_p"] = *req.TopP
	}
	if err := mapExtra(req.Extra, extra); err != nil {
		return p, err
	}

	if budget, ok := thinkingBudgets[req.ReasoningEffort]; ok && !hasToolHistory && !toolChoiceForces(p.ToolChoice) {
		// budget_tokens must be at least 1024 and below max_tokens.
		budget = min(budget, p.MaxTokens-1)
		if budget >= minThinkingBudget {
			p.Thinking = sdk.ThinkingConfigParamUnion{OfEnabled: &sdk.ThinkingConfigEnabledParam{BudgetTokens: budget}}
			// With thinking on, Anthropic refuses a temperature other than 1, top_k, and
			// top_p below 0.95.
			delete(extra, "temperature")
			delete(extra, "top_k")
			if tp, ok := extra["top_p"].(float64); ok && tp < 0.95 {
				delete(extra, "top_p")
			}
		}
	}
	if len(extra) > 0 {
		p.SetExtraFields(extra)
	}
	return p, nil
}

// turn is one Anthropic message being assembled; consecutive same-role messages merge.
type turn struct {
	role   string
	blocks []sdk.ContentBlockParamUnion
}

func appendTurn(turns []turn, role string, blocks []sdk.ContentBlockParamUnion) []turn {
	if len(blocks) == 0 {
		return turns
	}
	if n := len(turns); n > 0 && turns[n-1].role == role {
		turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
		return turns
	}
	return append(turns, turn{role: role, blocks: blocks})
}

// plainText is the text of a message whose content may only be text (system, developer,
// tool).
func plainText(m provider.Message, i int) (string, error) {
	if len(m.Parts) == 0 {
		return m.Content, nil
	}
	var texts []string
	for j, part := range m.Parts {
		if part.Type != "text" {
			return "", invalid("messages[%d].content[%d]: a %s message may only hold text, not %q", i, j, m.Role, part.Type)
		}
		texts = append(texts, part.Text)
	}
	return strings.Join(texts, "\n"), nil
}

func textBlock(text string) sdk.ContentBlockParamUnion {
	return sdk.ContentBlockParamUnion{OfText: &sdk.TextBlockParam{Text: text}}
}

// userBlocks are a user message's content blocks; empty text is dropped (Anthropic
// refuses empty text blocks).
func userBlocks(m provider.Message, i int) ([]sdk.ContentBlockParamUnion, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return nil, nil
		}
		return []sdk.ContentBlockParamUnion{textBlock(m.Content)}, nil
	}
	var out []sdk.ContentBlockParamUnion
	for j, part := range m.Parts {
		switch part.Type {
		case "text":
			if part.Text != "" {
				out = append(out, textBlock(part.Text))
			}
		case "image_url":
			img, err := imageBlock(part.ImageURL, i, j)
			if err != nil {
				return nil, err
			}
			out = append(out, sdk.ContentBlockParamUnion{OfImage: img})
		default:
			return nil, unsupported("messages[%d].content[%d]: content part type %q is not supported", i, j, part.Type)
		}
	}
	return out, nil
}

// imageBlock turns an image_url into an image block: data: URLs become a base64 source,
// http(s) URLs a url source.
func imageBlock(u string, i, j int) (*sdk.ImageBlockParam, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
		if !ok {
			return nil, invalid("messages[%d].content[%d]: malformed data URL", i, j)
		}
		mediaType, encoding, _ := strings.Cut(meta, ";")
		if !strings.EqualFold(encoding, "base64") {
			return nil, invalid("messages[%d].content[%d]: data URL must be base64-encoded", i, j)
		}
		mt, ok := mediaTypes[strings.ToLower(mediaType)]
		if !ok {
			return nil, invalid("messages[%d].content[%d]: image media type %q is not supported (jpeg, png, gif, webp)", i, j, mediaType)
		}
		return &sdk.ImageBlockParam{Source: sdk.ImageBlockParamSourceUnion{
			OfBase64: &sdk.Base64ImageSourceParam{Data: data, MediaType: mt}}}, nil
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return &sdk.ImageBlockParam{Source: sdk.ImageBlockParamSourceUnion{
			OfURL: &sdk.URLImageSourceParam{URL: u}}}, nil
	default:
		return nil, invalid("messages[%d].content[%d]: image_url must be a data: or http(s) URL", i, j)
	}
}

// assistantBlocks are an assistant message's text (or refusal) followed by its tool calls
// as tool_use blocks.
func assistantBlocks(m provider.Message, i int) ([]sdk.ContentBlockParamUnion, error) {
	var out []sdk.ContentBlockParamUnion
	text, err := plainText(m, i)
	if err != nil {
		return nil, err
	}
	if text == "" {
		text = m.Refusal
	}
	if text != "" {
		out = append(out, textBlock(text))
	}
	for j, tc := range m.ToolCalls {
		input, err := toolInput(tc.Arguments)
		if err != nil {
			return nil, invalid("messages[%d].tool_calls[%d]: arguments: %v", i, j, err)
		}
		if tc.ID == "" || tc.Name == "" {
			return nil, invalid("messages[%d].tool_calls[%d]: id and function name are required", i, j)
		}
		out = append(out, sdk.ContentBlockParamUnion{OfToolUse: &sdk.ToolUseBlockParam{ID: tc.ID, Name: tc.Name, Input: input}})
	}
	return out, nil
}

// toolInput parses a tool call's arguments, which must be a JSON object ("" is {}).
func toolInput(args string) (json.RawMessage, error) {
	args = strings.TrimSpace(args)
	if args == "" {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return json.RawMessage(args), nil
}

func toolResultBlock(m provider.Message, i int) (sdk.ContentBlockParamUnion, error) {
	if m.ToolCallID == "" {
		return sdk.ContentBlockParamUnion{}, invalid("messages[%d]: a tool message needs tool_call_id", i)
	}
	text, err := plainText(m, i)
	if err != nil {
		return sdk.ContentBlockParamUnion{}, err
	}
	tr := &sdk.ToolResultBlockParam{ToolUseID: m.ToolCallID}
	if text != "" {
		tr.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: text}}}
	}
	return sdk.ContentBlockParamUnion{OfToolResult: tr}, nil
}

// toolParams turns OpenAI function tools into Anthropic custom tools.
func toolParams(tools []provider.Tool) ([]sdk.ToolUnionParam, error) {
	var out []sdk.ToolUnionParam
	for i, t := range tools {
		if t.Type != "" && t.Type != "function" {
			return nil, unsupported("tools[%d]: tool type %q is not supported", i, t.Type)
		}
		if t.Name == "" {
			return nil, invalid("tools[%d]: function name is required", i)
		}
		schema := sdk.ToolInputSchemaParam{Properties: map[string]any{}}
		if len(bytes.TrimSpace(t.Parameters)) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(t.Parameters, &obj); err != nil || obj == nil {
				return nil, invalid("tools[%d]: parameters must be a JSON Schema object", i)
			}
			if typ, ok := obj["type"]; ok && typ != "object" {
				return nil, invalid("tools[%d]: parameters must have type \"object\"", i)
			}
			if props, ok := obj["properties"]; ok {
				schema.Properties = props
			}
			if req, ok := obj["required"].([]any); ok {
				for _, r := range req {
					if s, ok := r.(string); ok {
						schema.Required = append(schema.Required, s)
					}
				}
			}
			delete(obj, "type")
			delete(obj, "properties")
			delete(obj, "required")
			if len(obj) > 0 {
				schema.ExtraFields = obj
			}
		}
		tp := &sdk.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tp.Description = param.NewOpt(t.Description)
		}
		out = append(out, sdk.ToolUnionParam{OfTool: tp})
	}
	return out, nil
}

// toolChoice maps OpenAI's tool_choice and parallel_tool_calls.
func toolChoice(raw json.RawMessage, parallel *bool) (sdk.ToolChoiceUnionParam, error) {
	var disable param.Opt[bool]
	if parallel != nil && !*parallel {
		disable = param.NewOpt(true)
	}
	choice := "auto"
	name := ""
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var s string
		var obj struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(raw, &s) == nil:
			choice = s
		case json.Unmarshal(raw, &obj) == nil && obj.Type == "function" && obj.Function.Name != "":
			choice, name = "function", obj.Function.Name
		default:
			return sdk.ToolChoiceUnionParam{}, unsupported("tool_choice %s is not supported", truncate(string(raw), 100))
		}
	}
	switch choice {
	case "auto":
		if !disable.Valid() {
			return sdk.ToolChoiceUnionParam{}, nil // Anthropic's default is auto.
		}
		return sdk.ToolChoiceUnionParam{OfAuto: &sdk.ToolChoiceAutoParam{DisableParallelToolUse: disable}}, nil
	case "none":
		return sdk.ToolChoiceUnionParam{OfNone: &sdk.ToolChoiceNoneParam{}}, nil
	case "required":
		return sdk.ToolChoiceUnionParam{OfAny: &sdk.ToolChoiceAnyParam{DisableParallelToolUse: disable}}, nil
	case "function":
		return sdk.ToolChoiceUnionParam{OfTool: &sdk.ToolChoiceToolParam{Name: name, DisableParallelToolUse: disable}}, nil
	}
	return sdk.ToolChoiceUnionParam{}, invalid("tool_choice %q: want auto, none, required or a function", choice)
}

// toolChoiceForces reports whether tool_choice forces tool use, which Anthropic refuses
// together with extended thinking.
func toolChoiceForces(tc sdk.ToolChoiceUnionParam) bool {
	return tc.OfAny != nil || tc.OfTool != nil
}

// schemaInstruction is the system instruction for response_format json_schema.
func schemaInstruction(raw json.RawMessage) string {
	var js struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	}
	_ = json.Unmarshal(raw, &js)
	if len(bytes.TrimSpace(js.Schema)) == 0 {
		return jsonObjectInstruction
	}
	var compact bytes.Buffer
	if json.Compact(&compact, js.Schema) != nil {
		return jsonObjectInstruction
	}
	return "Respond with a single valid JSON object and nothing else (no prose, no Markdown code fences) that conforms to this JSON Schema: " + compact.String()
}

// mapExtra copies the client's extra fields that have an Anthropic meaning (top_k) into
// extra; every other extra field is ignored (see README).
func mapExtra(raw json.RawMessage, extra map[string]any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil // not an object: nothing to map
	}
	if v, ok := fields["top_k"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		var k int64
		if err := json.Unmarshal(v, &k); err != nil || k < 0 {
			return invalid("top_k: want a non-negative integer")
		}
		extra["top_k"] = k
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
