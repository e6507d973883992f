// Package messages speaks Anthropic's Messages API (POST /v1/messages and
// /v1/messages/count_tokens) on the router's client side. Decode turns a request body into
// a wire.ChatRequest whose Provider holds the request translated to chat completions, the
// form every plugin understands, while the ChatRequest keeps the client's own bytes for a
// plugin that serves the Messages API natively. AppendMessage, Stream and ErrorJSON write
// answers, streams and errors back in Anthropic's wire format. README.md has the mapping.
package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Decode decodes and checks a POST /v1/messages body. Every error is a *wire.Error with
// status 400, its Param naming the field at fault when there is one.
func Decode(body []byte) (*wire.ChatRequest, error) {
	return decode(body, true)
}

// DecodeCountTokens decodes a POST /v1/messages/count_tokens body: the same request as
// Decode's, except that max_tokens is optional (Anthropic's count_tokens takes none).
func DecodeCountTokens(body []byte) (*wire.ChatRequest, error) {
	return decode(body, false)
}

// decoder carries the request being filled while the body's fields are read.
type decoder struct {
	cr *wire.ChatRequest
	r  *provider.Request
}

func decode(body []byte, needMaxTokens bool) (*wire.ChatRequest, error) {
	// KeepBody refuses what is not one JSON object without repeated top-level fields, and
	// keeps the bytes for plugins that forward the client's body as is.
	cr, err := wire.KeepBody(body, provider.EndpointMessages)
	if err != nil {
		return nil, err
	}
	d := &decoder{cr: cr, r: cr.Provider}
	// The order follows Anthropic's reference, so that of several faults the first one
	// reported is the one Anthropic would name too (model, then messages).
	for _, step := range []func() error{
		d.model, d.system, d.messages, func() error { return d.maxTokens(needMaxTokens) },
		d.sampling, d.stopSequences, d.stream, d.tools, d.toolChoice, d.metadata, d.reasoning,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	cr.Messages = len(d.r.Messages)
	// The same estimate DecodeChat makes, over the translated messages, so a rule sees
	// the same facts whichever API the client spoke.
	cr.PromptTokensEstimate = int64(cr.Chars/4 + 4*cr.Messages + 3)
	return cr, nil
}

// field returns a top-level field of the body; null counts as absent, as Anthropic
// treats an optional field set to null.
func (d *decoder) field(name string) (json.RawMessage, bool) {
	raw, ok := d.cr.Field(name)
	raw = bytes.TrimSpace(raw)
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// first is the first byte of a JSON value: it tells a string from an array or object.
func first(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// bad is a 400 about the field at path; the message starts with the path, as Anthropic's
// own messages do ("max_tokens: Field required").
func bad(path, format string, args ...any) *wire.Error {
	return wire.BadRequest(path, "%s: %s", path, fmt.Sprintf(format, args...))
}

// unsupported refuses a valid Anthropic construct that chat completions cannot carry.
// Decode refuses it rather than dropping it, because dropping would answer a different
// request than the one the client sent.
// errFileSource is imageURL's answer for a source only Anthropic can read.
var errFileSource = errors.New("messages: a file source")

// untranslatable notes a part of the body that chat completions have no equivalent for (a
// document block, a server tool, a file source): the part is left out of the translation
// and the request marked NativeOnly at its path, so it is served only by a plugin that
// forwards the client's Messages body as is (the pipeline answers 400
// unsupported_endpoint_for_model, naming the path, when the model has none). The first such
// part is the one named.
func (d *decoder) untranslatable(path string) {
	if d.cr.NativeOnly == "" {
		d.cr.NativeOnly = path
	}
}

// typeErr turns encoding/json's complaint about a value of the wrong type inside the
// object at path into a 400 naming the nested field.
func typeErr(path string, err error) *wire.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p := path
		if te.Field != "" {
			p += "." + te.Field
		}
		return bad(p, "expected %s, got %s", jsonKind(te.Type.String()), te.Value)
	}
	return bad(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type by the JSON kind it decodes.
func jsonKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int64", "float64":
		return "a number"
	}
	if strings.HasPrefix(goType, "[]") {
		return "an array"
	}
	return "an object"
}

// str decodes a JSON string at path.
func str(path string, raw json.RawMessage, dst *string) error {
	if first(raw) != '"' || json.Unmarshal(raw, dst) != nil {
		return bad(path, "expected a string")
	}
	return nil
}

// object decodes raw, which must be a JSON object, into dst.
func object(path string, raw json.RawMessage, dst any) error {
	if first(raw) != '{' {
		return bad(path, "expected an object")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return typeErr(path, err)
	}
	return nil
}

// array splits raw, which must be a JSON array, into its elements.
func array(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if first(raw) != '[' || json.Unmarshal(raw, &out) != nil {
		return nil, bad(path, "expected an array")
	}
	return out, nil
}

// number decodes a JSON number.
func number(path string, raw json.RawMessage) (float64, error) {
	var f float64
	if c := first(raw); c != '-' && (c < '0' || c > '9') || json.Unmarshal(raw, &f) != nil {
		return 0, bad(path, "expected a number")
	}
	return f, nil
}

// integer decodes a JSON number that must be whole (1024.0 is accepted, as Anthropic's
// validation accepts it).
func integer(path string, raw json.RawMessage) (int64, error) {
	f, err := number(path, raw)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, bad(path, "expected an integer")
	}
	return int64(f), nil
}

// compact is raw without insignificant space, its key order kept (so a schema or a tool
// input reaches the upstream as the client wrote it).
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func (d *decoder) model() error {
	raw, ok := d.field("model")
	if !ok {
		return bad("model", "Field required")
	}
	if err := str("model", raw, &d.cr.Model); err != nil {
		return err
	}
	if d.cr.Model == "" {
		return bad("model", "must not be empty")
	}
	d.r.Model = d.cr.Model
	return nil
}

// system becomes one leading system message: a string as is, an array of text blocks
// joined by newlines (the separator the Anthropic plugin uses the other way round).
func (d *decoder) system() error {
	raw, ok := d.field("system")
	if !ok {
		return nil
	}
	var text string
	if first(raw) == '"' {
		if err := str("system", raw, &text); err != nil {
			return err
		}
	} else {
		blocks, err := array("system", raw)
		if err != nil {
			return bad("system", "expected a string or an array of text blocks")
		}
		texts := make([]string, 0, len(blocks))
		for i, b := range blocks {
			at := "system[" + strconv.Itoa(i) + "]"
			var tb struct {
				Type string  `json:"type"`
				Text *string `json:"text"`
			}
			if err := object(at, b, &tb); err != nil {
				return err
			}
			if tb.Type != "text" {
				return bad(at+".type", "system blocks must be of type \"text\"")
			}
			if tb.Text == nil {
				return bad(at+".text", "Field required")
			}
			texts = append(texts, *tb.Text)
		}
		text = strings.Join(texts, "\n")
	}
	if text == "" {
		return nil
	}
	d.cr.Chars += len(text)
	d.r.Messages = append(d.r.Messages, provider.Message{Role: "system", Content: text})
	return nil
}

func (d *decoder) messages() error {
	raw, ok := d.field("messages")
	if !ok {
		return bad("messages", "Field required")
	}
	msgs, err := array("messages", raw)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return bad("messages", "at least one message is required")
	}
	for i, m := range msgs {
		if err := d.message("messages["+strconv.Itoa(i)+"]", m); err != nil {
			return err
		}
	}
	return nil
}

// message translates one Anthropic message into one or more chat messages.
func (d *decoder) message(at string, raw json.RawMessage) error {
	var m struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := object(at, raw, &m); err != nil {
		return err
	}
	switch m.Role {
	case "user", "assistant":
	case "":
		return bad(at+".role", "Field required")
	default:
		return bad(at+".role", "expected \"user\" or \"assistant\", got %q", m.Role)
	}
	if isNull(m.Content) {
		return bad(at+".content", "Field required")
	}
	if first(m.Content) == '"' {
		var text string
		if err := str(at+".content", m.Content, &text); err != nil {
			return err
		}
		d.cr.Chars += len(text)
		d.r.Messages = append(d.r.Messages, provider.Message{Role: m.Role, Content: text})
		return nil
	}
	blocks, err := array(at+".content", m.Content)
	if err != nil {
		return bad(at+".content", "expected a string or an array of content blocks")
	}
	if m.Role == "user" {
		return d.userBlocks(at, blocks)
	}
	return d.assistantBlocks(at, blocks)
}

// blockType reads a content block's type.
func blockType(at string, raw json.RawMessage) (string, error) {
	var b struct {
		Type string `json:"type"`
	}
	if err := object(at, raw, &b); err != nil {
		return "", err
	}
	if b.Type == "" {
		return "", bad(at+".type", "Field required")
	}
	return b.Type, nil
}

// textOf reads a text block's text.
func textOf(at string, raw json.RawMessage) (string, error) {
	var b struct {
		Text *string `json:"text"`
	}
	if err := object(at, raw, &b); err != nil {
		return "", err
	}
	if b.Text == nil {
		return "", bad(at+".text", "Field required")
	}
	return *b.Text, nil
}

// userBlocks translates a user message's blocks. Its tool_result blocks become tool
// messages, which chat wants right after the assistant message that made the calls, so
// they come first; the other blocks, in their order, make one user message after them.
// (Anthropic itself wants the results first in the content, so nothing is reordered for
// a request it accepts.)
func (d *decoder) userBlocks(at string, blocks []json.RawMessage) error {
	user := provider.Message{Role: "user", Parts: []provider.ContentPart{}}
	results := 0
	for j, raw := range blocks {
		bat := at + ".content[" + strconv.Itoa(j) + "]"
		typ, err := blockType(bat, raw)
		if err != nil {
			return err
		}
		switch typ {
		case "text":
			text, err := textOf(bat, raw)
			if err != nil {
				return err
			}
			d.cr.Chars += len(text)
			user.Parts = append(user.Parts, provider.ContentPart{Type: "text", Text: text})
		case "image":
			url, err := imageURL(bat, raw)
			if err == errFileSource {
				d.untranslatable(bat + ".source.type")
				continue
			}
			if err != nil {
				return err
			}
			d.cr.HasImages = true
			user.Parts = append(user.Parts, provider.ContentPart{Type: "image_url", ImageURL: url})
		case "tool_result":
			tm, err := d.toolResult(bat, raw)
			if err != nil {
				return err
			}
			d.r.Messages = append(d.r.Messages, tm)
			results++
		case "tool_use", "thinking", "redacted_thinking":
			return bad(bat+".type", "%s blocks belong in assistant messages", typ)
		default:
			d.untranslatable(bat + ".type")
		}
	}
	// A message of results only is all tool messages; any other message stays a turn of
	// its own, even an empty one, so the conversation keeps its shape.
	if len(user.Parts) > 0 || results == 0 {
		d.r.Messages = append(d.r.Messages, user)
	}
	return nil
}

// imageURL is an image block's source as chat's image_url: a base64 source becomes a
// data: URL, a url source its URL.
func imageURL(at string, raw json.RawMessage) (string, error) {
	var b struct {
		Source *struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
			URL       string `json:"url"`
		} `json:"source"`
	}
	if err := object(at, raw, &b); err != nil {
		return "", err
	}
	src := b.Source
	if src == nil {
		return "", bad(at+".source", "Field required")
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" {
			return "", bad(at+".source.media_type", "Field required")
		}
		if src.Data == "" {
			return "", bad(at+".source.data", "Field required")
		}
		return "data:" + src.MediaType + ";base64," + src.Data, nil
	case "url":
		if src.URL == "" {
			return "", bad(at+".source.url", "Field required")
		}
		return src.URL, nil
	case "":
		return "", bad(at+".source.type", "Field required")
	default:
		// A file source names an upload in Anthropic's Files API, which no other upstream
		// can read.
		return "", errFileSource
	}
}

// toolResult translates a tool_result block into a tool message whose content is the
// result's text. Chat has no is_error: an error result's text is prefixed with "Error: "
// so that any model still reads the call as failed (a flag in Message.Extra would be
// dropped, or sent where it is not understood, by every chat upstream).
func (d *decoder) toolResult(at string, raw json.RawMessage) (provider.Message, error) {
	var b struct {
		ToolUseID string          `json:"tool_use_id"`
		Content   json.RawMessage `json:"content"`
		IsError   *bool           `json:"is_error"`
	}
	if err := object(at, raw, &b); err != nil {
		return provider.Message{}, err
	}
	if b.ToolUseID == "" {
		return provider.Message{}, bad(at+".tool_use_id", "Field required")
	}
	var text string
	switch {
	case isNull(b.Content):
	case first(b.Content) == '"':
		if err := str(at+".content", b.Content, &text); err != nil {
			return provider.Message{}, err
		}
	default:
		items, err := array(at+".content", b.Content)
		if err != nil {
			return provider.Message{}, bad(at+".content", "expected a string or an array of content blocks")
		}
		texts := make([]string, 0, len(items))
		for k, item := range items {
			iat := at + ".content[" + strconv.Itoa(k) + "]"
			typ, err := blockType(iat, item)
			if err != nil {
				return provider.Message{}, err
			}
			if typ != "text" {
				// Chat's tool messages carry text only.
				d.untranslatable(iat + ".type")
				continue
			}
			t, err := textOf(iat, item)
			if err != nil {
				return provider.Message{}, err
			}
			texts = append(texts, t)
		}
		// Newlines between blocks, as the Anthropic plugin joins text parts.
		text = strings.Join(texts, "\n")
	}
	if b.IsError != nil && *b.IsError {
		if text == "" {
			text = "Error"
		} else {
			text = "Error: " + text
		}
	}
	d.cr.Chars += len(text)
	return provider.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: text}, nil
}

// assistantBlocks translates an assistant message: its text blocks joined into the
// content (without a separator: they are pieces of one answer, as the Anthropic plugin
// joins them the other way round) and its tool_use blocks into tool calls. Thinking blocks
// are left out: chat has no place for them, they mean something to Anthropic's models
// only, and Anthropic itself drops earlier turns' thinking from the context. (A native
// plugin still gets them in the client's body.)
func (d *decoder) assistantBlocks(at string, blocks []json.RawMessage) error {
	msg := provider.Message{Role: "assistant"}
	var text strings.Builder
	for j, raw := range blocks {
		bat := at + ".content[" + strconv.Itoa(j) + "]"
		typ, err := blockType(bat, raw)
		if err != nil {
			return err
		}
		switch typ {
		case "text":
			t, err := textOf(bat, raw)
			if err != nil {
				return err
			}
			text.WriteString(t)
		case "tool_use":
			call, err := toolUse(bat, raw)
			if err != nil {
				return err
			}
			call.Index = len(msg.ToolCalls)
			d.cr.Chars += len(call.Arguments)
			msg.ToolCalls = append(msg.ToolCalls, call)
		case "thinking", "redacted_thinking":
		case "tool_result", "image":
			return bad(bat+".type", "%s blocks belong in user messages", typ)
		default:
			d.untranslatable(bat + ".type")
		}
	}
	msg.Content = text.String()
	d.cr.Chars += len(msg.Content)
	d.r.Messages = append(d.r.Messages, msg)
	return nil
}

// toolUse translates a tool_use block into a tool call whose arguments are the JSON text
// of its input.
func toolUse(at string, raw json.RawMessage) (provider.ToolCall, error) {
	var b struct {
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	if err := object(at, raw, &b); err != nil {
		return provider.ToolCall{}, err
	}
	if b.ID == "" {
		return provider.ToolCall{}, bad(at+".id", "Field required")
	}
	if b.Name == "" {
		return provider.ToolCall{}, bad(at+".name", "Field required")
	}
	args := json.RawMessage("{}")
	if !isNull(b.Input) {
		if first(b.Input) != '{' {
			return provider.ToolCall{}, bad(at+".input", "expected an object")
		}
		args = compact(b.Input)
	}
	return provider.ToolCall{ID: b.ID, Type: "function", Name: b.Name, Arguments: string(args)}, nil
}

func (d *decoder) maxTokens(required bool) error {
	raw, ok := d.field("max_tokens")
	if !ok {
		if required {
			return bad("max_tokens", "Field required")
		}
		return nil
	}
	n, err := integer("max_tokens", raw)
	if err != nil {
		return err
	}
	if n < 1 {
		return bad("max_tokens", "must be at least 1")
	}
	d.r.MaxTokens = n
	d.cr.MaxTokensField = "max_tokens"
	return nil
}

// sampling reads temperature and top_p (Anthropic's ranges: both 0 to 1) and top_k. Chat
// has no top_k; it goes to Request.Extra, where a chat client's top_k lands too: the
// Anthropic plugin reads it from there, and OpenAI-compatible upstreams that know it
// (vLLM and the like) get it.
func (d *decoder) sampling() error {
	for _, f := range []struct {
		name string
		dst  **float64
	}{{"temperature", &d.r.Temperature}, {"top_p", &d.r.TopP}} {
		raw, ok := d.field(f.name)
		if !ok {
			continue
		}
		v, err := number(f.name, raw)
		if err != nil {
			return err
		}
		if v < 0 || v > 1 {
			return bad(f.name, "must be between 0 and 1")
		}
		*f.dst = &v
	}
	if raw, ok := d.field("top_k"); ok {
		k, err := integer("top_k", raw)
		if err != nil {
			return err
		}
		if k < 0 {
			return bad("top_k", "must be at least 0")
		}
		d.r.Extra = json.RawMessage(`{"top_k":` + strconv.FormatInt(k, 10) + `}`)
	}
	return nil
}

func (d *decoder) stopSequences() error {
	raw, ok := d.field("stop_sequences")
	if !ok {
		return nil
	}
	items, err := array("stop_sequences", raw)
	if err != nil {
		return err
	}
	for i, item := range items {
		var s string
		if err := str("stop_sequences["+strconv.Itoa(i)+"]", item, &s); err != nil {
			return err
		}
		d.r.Stop = append(d.r.Stop, s)
	}
	return nil
}

func (d *decoder) stream() error {
	raw, ok := d.field("stream")
	if !ok {
		return nil
	}
	switch string(raw) {
	case "true":
		d.cr.Stream = true
	case "false":
	default:
		return bad("stream", "expected a boolean")
	}
	d.r.Stream = d.cr.Stream
	// An Anthropic stream always ends with the usage (message_delta), so the client has
	// asked for it as a chat client asks with stream_options.include_usage.
	d.r.IncludeUsage = d.cr.Stream
	return nil
}

// tools translates custom tools into functions. Server tools (web search, code
// execution, bash, ...) run inside Anthropic; no chat upstream runs them, so they are
// refused.
func (d *decoder) tools() error {
	raw, ok := d.field("tools")
	if !ok {
		return nil
	}
	items, err := array("tools", raw)
	if err != nil {
		return err
	}
	for i, item := range items {
		at := "tools[" + strconv.Itoa(i) + "]"
		var t struct {
			Type        *string         `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
			Strict      *bool           `json:"strict"`
		}
		if err := object(at, item, &t); err != nil {
			return err
		}
		if t.Type != nil && *t.Type != "custom" {
			d.untranslatable(at + ".type")
			continue
		}
		if t.Name == "" {
			return bad(at+".name", "Field required")
		}
		if isNull(t.InputSchema) {
			return bad(at+".input_schema", "Field required")
		}
		if first(t.InputSchema) != '{' {
			return bad(at+".input_schema", "expected an object")
		}
		d.r.Tools = append(d.r.Tools, provider.Tool{Type: "function", Name: t.Name, Description: t.Description,
			Parameters: compact(t.InputSchema), Strict: t.Strict != nil && *t.Strict})
	}
	d.cr.HasTools = len(d.r.Tools) > 0
	return nil
}

// toolChoice maps Anthropic's tool_choice onto OpenAI's: auto → "auto", any →
// "required", tool → the named function, none → "none"; disable_parallel_tool_use is
// parallel_tool_calls: false. Without tools it is checked but not translated: there is
// nothing to choose from, and OpenAI refuses tool_choice and parallel_tool_calls without
// tools.
func (d *decoder) toolChoice() error {
	raw, ok := d.field("tool_choice")
	if !ok {
		return nil
	}
	var tc struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	}
	if err := object("tool_choice", raw, &tc); err != nil {
		return err
	}
	switch tc.Type {
	case "auto":
		d.r.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		d.r.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		d.r.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		if tc.Name == "" {
			return bad("tool_choice.name", "Field required")
		}
		type function struct {
			Name string `json:"name"`
		}
		b, _ := json.Marshal(struct {
			Type     string   `json:"type"`
			Function function `json:"function"`
		}{"function", function{tc.Name}})
		d.r.ToolChoice = b
	case "":
		return bad("tool_choice.type", "Field required")
	default:
		return bad("tool_choice.type", "expected \"auto\", \"any\", \"tool\" or \"none\", got %q", tc.Type)
	}
	if len(d.r.Tools) == 0 {
		d.r.ToolChoice = nil
		return nil
	}
	if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse && tc.Type != "none" {
		off := false
		d.r.ParallelToolCalls = &off
	}
	return nil
}

// metadata keeps every entry for the rules (Switchyard's own switchyard.* keys included:
// RawBody strips them for native plugins) and maps user_id to the chat request's user.
// Nothing goes to Request.Metadata: chat's metadata is a different thing (OpenAI stores
// it with the completion) and Anthropic's has no other standard key.
func (d *decoder) metadata() error {
	raw, ok := d.field("metadata")
	if !ok {
		return nil
	}
	var md map[string]json.RawMessage
	if err := object("metadata", raw, &md); err != nil {
		return err
	}
	d.cr.Metadata = md
	if v, ok := md["user_id"]; ok && !isNull(v) {
		if err := str("metadata.user_id", v, &d.r.User); err != nil {
			return err
		}
	}
	return nil
}

// thinkingEffort maps an extended-thinking budget onto chat's reasoning_effort, the
// inverse of the Anthropic plugin's table (low 1024, medium 4096, high 16384 tokens).
func thinkingEffort(budget int64) string {
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

// reasoning reads thinking and output_config, Anthropic's ways of asking for reasoning and
// structured output, into chat's reasoning_effort and response_format. They are not put
// in Request.Extra: every field there reaches a chat upstream as a field of its body
// (the OpenAI plugin merges them in), where these would be unknown. A native plugin gets
// them in the client's body either way.
func (d *decoder) reasoning() error {
	if raw, ok := d.field("thinking"); ok {
		var th struct {
			Type         string          `json:"type"`
			BudgetTokens json.RawMessage `json:"budget_tokens"`
		}
		if err := object("thinking", raw, &th); err != nil {
			return err
		}
		switch th.Type {
		case "enabled":
			if isNull(th.BudgetTokens) {
				return bad("thinking.budget_tokens", "Field required")
			}
			budget, err := integer("thinking.budget_tokens", th.BudgetTokens)
			if err != nil {
				return err
			}
			d.r.ReasoningEffort = thinkingEffort(budget)
		case "":
			return bad("thinking.type", "Field required")
		default:
			// disabled asks for nothing; adaptive (and later kinds) leave the effort to
			// the model unless output_config names one.
		}
	}
	raw, ok := d.field("output_config")
	if !ok {
		return nil
	}
	var oc struct {
		Effort string `json:"effort"`
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	}
	if err := object("output_config", raw, &oc); err != nil {
		return err
	}
	switch oc.Effort {
	case "":
	case "low", "medium", "high":
		d.r.ReasoningEffort = oc.Effort
	case "xhigh", "max":
		// Chat's scale ends at high.
		d.r.ReasoningEffort = "high"
	default:
		return bad("output_config.effort", "expected \"low\", \"medium\", \"high\", \"xhigh\" or \"max\", got %q", oc.Effort)
	}
	if f := oc.Format; f != nil {
		if f.Type != "json_schema" {
			return bad("output_config.format.type", "expected \"json_schema\", got %q", f.Type)
		}
		if first(f.Schema) != '{' {
			return bad("output_config.format.schema", "expected an object")
		}
		// OpenAI's json_schema wants a name; Anthropic's format has none.
		js := append(append([]byte(`{"name":"output","schema":`), compact(f.Schema)...), '}')
		d.r.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", JSONSchema: js}
		d.cr.JSONMode = true
	}
	return nil
}
