// Package responses is OpenAI's Responses API (POST /v1/responses) on the router's client
// side: it decodes a request into the chat request the pipeline serves, and encodes the
// chat answer, or the chat stream, back as a Response object or Responses stream events.
package responses

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// front is what the encoders echo back: the Response object repeats the request's
// parameters as the client sent them. Decode stores it in ChatRequest.Front.
type front struct {
	instructions       *string
	tools              json.RawMessage
	toolChoice         json.RawMessage
	text               json.RawMessage
	temperature, topP  *float64
	maxOutputTokens    *int64
	maxToolCalls       *int64
	topLogprobs        *int64
	metadata           map[string]string
	parallelToolCalls  *bool
	previousResponseID *string
	user               *string
	reasoningEffort    *string
	reasoningSummary   *string
	truncation         string
}

// known are the top-level fields Decode reads. The rest go to Provider.Extra: what is left
// there (service_tier, prompt_cache_key, safety_identifier, ...) chat knows by the same
// name and meaning.
var known = map[string]bool{
	"model": true, "input": true, "instructions": true, "tools": true, "tool_choice": true,
	"text": true, "max_output_tokens": true, "temperature": true, "top_p": true,
	"parallel_tool_calls": true, "user": true, "metadata": true, "reasoning": true,
	"stream": true, "previous_response_id": true, "store": true, "conversation": true,
	"background": true, "prompt": true, "include": true, "truncation": true,
	"max_tool_calls": true, "stream_options": true, "top_logprobs": true,
}

// logprobsInclude is the include entry that asks for the output text's log probabilities.
const logprobsInclude = "message.output_text.logprobs"

// Decode decodes and checks a POST /v1/responses body. The ChatRequest's Provider holds
// the request translated to chat; NativeOnly names the first field only a plugin serving
// the Responses API natively can honour (that plugin gets the client's body as is).
// Errors are *wire.Error with status 400 and Param naming the field at fault.
func Decode(body []byte) (*wire.ChatRequest, error) {
	cr, err := wire.KeepBody(body, provider.EndpointResponses)
	if err != nil {
		return nil, err
	}
	d := &decoder{cr: cr, r: cr.Provider, f: &front{}}
	cr.Front = d.f
	if err := d.decode(); err != nil {
		return nil, err
	}
	return cr, nil
}

type decoder struct {
	cr *wire.ChatRequest
	r  *provider.Request
	f  *front
	// extra collects Provider.Extra: the unknown top-level fields and the settings
	// translated to a chat field the typed request does not model (text.verbosity).
	extra map[string]json.RawMessage
}

// native records that the field at path needs a native plugin; the first one is kept.
func (d *decoder) native(path string) {
	if d.cr.NativeOnly == "" {
		d.cr.NativeOnly = path
	}
}

func (d *decoder) decode() error {
	cr, r, f := d.cr, d.r, d.f
	if err := d.cr.TopString("model", &cr.Model); err != nil {
		return err
	}
	if cr.Model == "" {
		return wire.BadRequest("model", "you must provide a model parameter")
	}
	r.Model = cr.Model

	// The state-keeping features first: when several are set, the one the error names is
	// the one the client most likely meant.
	var prev string
	if err := d.cr.TopString("previous_response_id", &prev); err != nil {
		return err
	}
	if prev != "" {
		f.previousResponseID = &prev
		d.native("previous_response_id")
	}
	if _, ok := d.cr.Top("conversation"); ok {
		d.native("conversation")
	}
	if _, ok := d.cr.Top("prompt"); ok {
		d.native("prompt")
	}
	// Without store the translated path is stateless: nothing is kept, so a later
	// previous_response_id naming this answer needs the native path anyway. Only an
	// explicit store: true asks for what a translated target cannot do.
	var store, background bool
	if err := d.cr.TopBool("store", &store); err != nil {
		return err
	}
	if store {
		d.native("store")
	}
	if err := d.cr.TopBool("background", &background); err != nil {
		return err
	}
	if background {
		d.native("background")
	}

	if v, ok := d.cr.Top("instructions"); ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return wire.BadRequest("instructions", "instructions must be a string")
		}
		f.instructions = &s
		r.Messages = append(r.Messages, provider.Message{Role: "system", Content: s})
		cr.Chars += len(s)
	}
	if err := d.input(); err != nil {
		return err
	}
	if len(r.Messages) == 0 && cr.NativeOnly == "" {
		return wire.BadRequest("input", "you must provide input")
	}
	cr.Messages = len(r.Messages)

	if err := d.tools(); err != nil {
		return err
	}
	if err := d.toolChoice(); err != nil {
		return err
	}
	if err := d.text(); err != nil {
		return err
	}
	if err := d.cr.TopFloat("temperature", &r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := d.cr.TopFloat("top_p", &r.TopP, 0, 1); err != nil {
		return err
	}
	f.temperature, f.topP = r.Temperature, r.TopP
	if err := d.cr.TopInt("max_output_tokens", &f.maxOutputTokens, 1, 1<<53); err != nil {
		return err
	}
	if f.maxOutputTokens != nil {
		r.MaxTokens = *f.maxOutputTokens
		cr.MaxTokensField = "max_output_tokens"
	}
	if err := d.cr.TopInt("max_tool_calls", &f.maxToolCalls, 1, 1<<53); err != nil {
		return err
	}
	if v, ok := d.cr.Top("parallel_tool_calls"); ok {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return wire.BadRequest("parallel_tool_calls", "parallel_tool_calls must be a boolean")
		}
		r.ParallelToolCalls, f.parallelToolCalls = &b, &b
	}
	if err := d.cr.TopString("user", &r.User); err != nil {
		return err
	}
	if _, ok := d.cr.Top("user"); ok {
		u := r.User
		f.user = &u
	}
	if err := d.cr.TopBool("stream", &cr.Stream); err != nil {
		return err
	}
	r.Stream = cr.Stream
	// A Responses stream always ends with the usage (in response.completed), so the client
	// has asked for it as a chat client asks with stream_options.include_usage.
	r.IncludeUsage = cr.Stream
	if err := d.reasoning(); err != nil {
		return err
	}
	if err := d.metadata(); err != nil {
		return err
	}
	if err := d.logprobs(); err != nil {
		return err
	}
	if err := d.cr.TopString("truncation", &f.truncation); err != nil {
		return err
	}
	if v, ok := d.cr.Top("stream_options"); ok && v[0] != '{' {
		return wire.BadRequest("stream_options", "stream_options must be an object")
	}

	for _, name := range cr.FieldNames() {
		if !known[name] {
			v, _ := cr.Field(name)
			d.setExtra(name, v)
		}
	}
	if len(d.extra) > 0 {
		r.Extra, _ = json.Marshal(d.extra)
	}
	cr.PromptTokensEstimate = int64(cr.Chars/4 + 4*cr.Messages + 3)
	return nil
}

func (d *decoder) setExtra(name string, v json.RawMessage) {
	if d.extra == nil {
		d.extra = map[string]json.RawMessage{}
	}
	d.extra[name] = v
}

// input translates the input: a string is one user message, an array holds input items.
func (d *decoder) input() error {
	v, ok := d.cr.Top("input")
	if !ok {
		return nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return wire.BadRequest("input", "input is not a valid string")
		}
		d.r.Messages = append(d.r.Messages, provider.Message{Role: "user", Content: s})
		d.cr.Chars += len(s)
		return nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return wire.BadRequest("input", "input must be a string or an array of input items")
	}
	// calls is the assistant message that consecutive function_call items go into: chat
	// puts every call of one turn in one message.
	calls := -1
	for i, raw := range items {
		at := fmt.Sprintf("input[%d]", i)
		it, err := asObject(raw, at)
		if err != nil {
			return err
		}
		var typ, role string
		if err := it.str(at, "type", &typ); err != nil {
			return err
		}
		if err := it.str(at, "role", &role); err != nil {
			return err
		}
		if typ == "" && role != "" {
			typ = "message" // EasyInputMessage: {role, content} without a type
		}
		next := -1
		switch typ {
		case "message":
			if err := d.message(it, at, role); err != nil {
				return err
			}
		case "function_call":
			if next, err = d.functionCall(it, at, calls); err != nil {
				return err
			}
		case "function_call_output":
			if err := d.functionOutput(it, at); err != nil {
				return err
			}
		case "":
			return wire.BadRequest(at+".type", "%s must have a type or a role", at)
		default:
			// reasoning, item_reference, web_search_call, computer_call, ...: state or
			// tools only the Responses API has. The translation leaves them out, so it
			// is refused; a native plugin reads them from the body.
			d.native(at)
		}
		calls = next
	}
	return nil
}

func (d *decoder) message(it obj, at, role string) error {
	switch role {
	case "user", "assistant", "system", "developer":
	case "":
		return wire.BadRequest(at+".role", "%s.role is required", at)
	default:
		return wire.BadRequest(at+".role", "%s.role %q is not one of user, assistant, system, developer", at, role)
	}
	m := provider.Message{Role: role}
	raw, ok := it.get("content")
	if !ok {
		return wire.BadRequest(at+".content", "%s.content is required", at)
	}
	if err := d.content(raw, at+".content", &m); err != nil {
		return err
	}
	d.r.Messages = append(d.r.Messages, m)
	return nil
}

// content decodes a message's content, a string or an array of content parts.
func (d *decoder) content(raw json.RawMessage, at string, m *provider.Message) error {
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &m.Content); err != nil {
			return wire.BadRequest(at, "%s is not a valid string", at)
		}
		d.cr.Chars += len(m.Content)
		return nil
	}
	var parts []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return wire.BadRequest(at, "%s must be a string or an array of content parts", at)
	}
	onlyText := true
	for j, praw := range parts {
		pat := fmt.Sprintf("%s[%d]", at, j)
		p, err := asObject(praw, pat)
		if err != nil {
			return err
		}
		var typ string
		if err := p.str(pat, "type", &typ); err != nil {
			return err
		}
		switch typ {
		case "input_text", "output_text":
			var text string
			if err := p.str(pat, "text", &text); err != nil {
				return err
			}
			m.Parts = append(m.Parts, provider.ContentPart{Type: "text", Text: text})
			d.cr.Chars += len(text)
		case "refusal":
			var text string
			if err := p.str(pat, "refusal", &text); err != nil {
				return err
			}
			m.Refusal += text
			d.cr.Chars += len(text)
		case "input_image":
			var url, fileID, detail string
			if err := p.str(pat, "image_url", &url); err != nil {
				return err
			}
			if err := p.str(pat, "file_id", &fileID); err != nil {
				return err
			}
			if err := p.str(pat, "detail", &detail); err != nil {
				return err
			}
			if url == "" {
				if fileID != "" {
					return wire.BadRequest(pat+".file_id", "%s.file_id cannot be served: a file uploaded to OpenAI has no chat equivalent; send the image as image_url (a URL or a data URL)", pat)
				}
				return wire.BadRequest(pat+".image_url", "%s.image_url is required", pat)
			}
			m.Parts = append(m.Parts, provider.ContentPart{Type: "image_url", ImageURL: url, ImageDetail: detail})
			d.cr.HasImages = true
			onlyText = false
		case "":
			return wire.BadRequest(pat+".type", "%s.type is required", pat)
		default:
			// input_file and kinds this package does not know: no chat equivalent.
			d.native(pat)
		}
	}
	// Text parts of anything but a user's message go to chat as one string: every chat
	// upstream accepts that for the assistant, system, developer and tool roles, not all
	// accept arrays there. A user's parts stay parts (they may hold images).
	if m.Role != "user" && onlyText {
		m.Content = joinText(m.Parts)
		m.Parts = nil
	}
	return nil
}

func joinText(parts []provider.ContentPart) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// functionCall adds a function_call item to the assistant message at calls (a new one
// when calls is -1) and returns that message's index.
func (d *decoder) functionCall(it obj, at string, calls int) (int, error) {
	var callID, name, args string
	if err := it.str(at, "call_id", &callID); err != nil {
		return -1, err
	}
	if callID == "" {
		return -1, wire.BadRequest(at+".call_id", "%s.call_id is required", at)
	}
	if err := it.str(at, "name", &name); err != nil {
		return -1, err
	}
	if name == "" {
		return -1, wire.BadRequest(at+".name", "%s.name is required", at)
	}
	if err := it.str(at, "arguments", &args); err != nil {
		return -1, err
	}
	if calls < 0 {
		d.r.Messages = append(d.r.Messages, provider.Message{Role: "assistant"})
		calls = len(d.r.Messages) - 1
	}
	m := &d.r.Messages[calls]
	m.ToolCalls = append(m.ToolCalls, provider.ToolCall{Index: len(m.ToolCalls), ID: callID, Type: "function", Name: name, Arguments: args})
	d.cr.Chars += len(args)
	return calls, nil
}

// functionOutput turns a function_call_output item into a tool message.
func (d *decoder) functionOutput(it obj, at string) error {
	var callID string
	if err := it.str(at, "call_id", &callID); err != nil {
		return err
	}
	if callID == "" {
		return wire.BadRequest(at+".call_id", "%s.call_id is required", at)
	}
	raw, ok := it.get("output")
	if !ok {
		return wire.BadRequest(at+".output", "%s.output is required", at)
	}
	m := provider.Message{Role: "tool", ToolCallID: callID}
	if err := d.content(raw, at+".output", &m); err != nil {
		return err
	}
	// Chat's tool messages hold text only.
	for j, p := range m.Parts {
		if p.Type != "text" {
			d.native(fmt.Sprintf("%s.output[%d]", at, j))
		}
	}
	if m.Parts != nil {
		m.Content, m.Parts = joinText(m.Parts), nil
	}
	d.r.Messages = append(d.r.Messages, m)
	return nil
}

func (d *decoder) tools() error {
	v, ok := d.cr.Top("tools")
	if !ok {
		return nil
	}
	var tools []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &tools) != nil {
		return wire.BadRequest("tools", "tools must be an array of tool objects")
	}
	d.f.tools = v
	d.cr.HasTools = len(tools) > 0
	for i, raw := range tools {
		at := fmt.Sprintf("tools[%d]", i)
		t, err := asObject(raw, at)
		if err != nil {
			return err
		}
		var typ string
		if err := t.str(at, "type", &typ); err != nil {
			return err
		}
		switch typ {
		case "function":
		case "":
			return wire.BadRequest(at+".type", "%s.type is required", at)
		default:
			// web_search, file_search, mcp, custom, ...: run by OpenAI, not by chat.
			d.native(at)
			continue
		}
		tool := provider.Tool{Type: "function"}
		if err := t.str(at, "name", &tool.Name); err != nil {
			return err
		}
		if tool.Name == "" {
			return wire.BadRequest(at+".name", "%s.name is required", at)
		}
		if err := t.str(at, "description", &tool.Description); err != nil {
			return err
		}
		if p, ok := t.get("parameters"); ok {
			if p[0] != '{' {
				return wire.BadRequest(at+".parameters", "%s.parameters must be a JSON schema object", at)
			}
			tool.Parameters = p
		}
		// An absent strict stays false, chat's default: the translation does not impose
		// a schema check the client did not ask for.
		if err := t.boolean(at, "strict", &tool.Strict); err != nil {
			return err
		}
		d.r.Tools = append(d.r.Tools, tool)
	}
	return nil
}

// toolChoice translates tool_choice to chat's form: the modes are the same strings, a
// function is {"type":"function","function":{"name":...}} there.
func (d *decoder) toolChoice() error {
	v, ok := d.cr.Top("tool_choice")
	if !ok {
		return nil
	}
	d.f.toolChoice = v
	if v[0] == '"' {
		var mode string
		_ = json.Unmarshal(v, &mode)
		switch mode {
		case "auto", "none", "required":
			d.r.ToolChoice, _ = json.Marshal(mode)
			return nil
		}
		return wire.BadRequest("tool_choice", "tool_choice %q is not one of auto, none, required", mode)
	}
	c, err := asObject(v, "tool_choice")
	if err != nil {
		return err
	}
	var typ string
	if err := c.str("tool_choice", "type", &typ); err != nil {
		return err
	}
	type fn struct {
		Name string `json:"name"`
	}
	type fnChoice struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	switch typ {
	case "function":
		var name string
		if err := c.str("tool_choice", "name", &name); err != nil {
			return err
		}
		if name == "" {
			return wire.BadRequest("tool_choice.name", "tool_choice.name is required")
		}
		d.r.ToolChoice, _ = json.Marshal(fnChoice{"function", fn{name}})
	case "allowed_tools":
		var mode string
		if err := c.str("tool_choice", "mode", &mode); err != nil {
			return err
		}
		var tools []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		raw, _ := c.get("tools")
		if json.Unmarshal(raw, &tools) != nil {
			return wire.BadRequest("tool_choice.tools", "tool_choice.tools must be an array of tools")
		}
		allowed := struct {
			Mode  string     `json:"mode"`
			Tools []fnChoice `json:"tools"`
		}{Mode: mode, Tools: []fnChoice{}}
		for i, t := range tools {
			if t.Type != "function" {
				d.native(fmt.Sprintf("tool_choice.tools[%d]", i))
				continue
			}
			allowed.Tools = append(allowed.Tools, fnChoice{"function", fn{t.Name}})
		}
		d.r.ToolChoice, _ = json.Marshal(struct {
			Type         string `json:"type"`
			AllowedTools any    `json:"allowed_tools"`
		}{"allowed_tools", allowed})
	case "":
		return wire.BadRequest("tool_choice.type", "tool_choice.type is required")
	default:
		// A built-in tool, an MCP server, a custom tool: nothing chat can force.
		d.native("tool_choice")
	}
	return nil
}

// text translates text.format to chat's response_format, and text.verbosity to chat's
// verbosity (in Extra: the typed request has no field for it).
func (d *decoder) text() error {
	v, ok := d.cr.Top("text")
	if !ok {
		return nil
	}
	t, err := asObject(v, "text")
	if err != nil {
		return err
	}
	d.f.text = v
	if verb, ok := t.get("verbosity"); ok {
		var s string
		if json.Unmarshal(verb, &s) != nil {
			return wire.BadRequest("text.verbosity", "text.verbosity must be a string")
		}
		d.setExtra("verbosity", verb)
	}
	raw, ok := t.get("format")
	if !ok {
		return nil
	}
	fm, err := asObject(raw, "text.format")
	if err != nil {
		return err
	}
	var typ string
	if err := fm.str("text.format", "type", &typ); err != nil {
		return err
	}
	rf := &provider.ResponseFormat{Type: typ}
	switch typ {
	case "text", "json_object":
	case "json_schema":
		var js struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict,omitempty"`
		}
		if err := fm.str("text.format", "name", &js.Name); err != nil {
			return err
		}
		if js.Name == "" {
			return wire.BadRequest("text.format.name", "text.format.name is required")
		}
		if err := fm.str("text.format", "description", &js.Description); err != nil {
			return err
		}
		s, ok := fm.get("schema")
		if !ok || s[0] != '{' {
			return wire.BadRequest("text.format.schema", "text.format.schema must be a JSON schema object")
		}
		js.Schema = s
		if sv, ok := fm.get("strict"); ok {
			var b bool
			if json.Unmarshal(sv, &b) != nil {
				return wire.BadRequest("text.format.strict", "text.format.strict must be a boolean")
			}
			js.Strict = &b
		}
		rf.JSONSchema, _ = json.Marshal(js)
	case "":
		return wire.BadRequest("text.format.type", "text.format.type is required")
	default:
		return wire.BadRequest("text.format.type", "text.format.type %q is not one of text, json_object, json_schema", typ)
	}
	d.r.ResponseFormat = rf
	d.cr.JSONMode = typ != "text"
	return nil
}

func (d *decoder) reasoning() error {
	v, ok := d.cr.Top("reasoning")
	if !ok {
		return nil
	}
	o, err := asObject(v, "reasoning")
	if err != nil {
		return err
	}
	var effort, summary string
	if err := o.str("reasoning", "effort", &effort); err != nil {
		return err
	}
	if err := o.str("reasoning", "summary", &summary); err != nil {
		return err
	}
	if effort != "" {
		d.r.ReasoningEffort = effort
		d.f.reasoningEffort = &effort
	}
	if summary != "" {
		d.f.reasoningSummary = &summary
	}
	return nil
}

// metadata is handled as chat's: rules see every key, the upstream none of Switchyard's
// own; values are strings, anything else is kept as its JSON text.
func (d *decoder) metadata() error {
	v, ok := d.cr.Top("metadata")
	if !ok {
		return nil
	}
	var md map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &md) != nil {
		return wire.BadRequest("metadata", "metadata must be an object")
	}
	d.cr.Metadata = md
	d.f.metadata = make(map[string]string, len(md))
	for k, raw := range md {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		d.f.metadata[k] = s
		if !strings.HasPrefix(k, wire.MetadataPrefix) {
			if d.r.Metadata == nil {
				d.r.Metadata = map[string]string{}
			}
			d.r.Metadata[k] = s
		}
	}
	return nil
}

// logprobs: the Responses API returns log probabilities when include asks for them, with
// top_logprobs alternatives; chat wants logprobs: true for either.
func (d *decoder) logprobs() error {
	if v, ok := d.cr.Top("include"); ok {
		var inc []string
		if json.Unmarshal(v, &inc) != nil {
			return wire.BadRequest("include", "include must be an array of strings")
		}
		for _, s := range inc {
			if s == logprobsInclude {
				d.r.Logprobs = true
			}
		}
	}
	if err := d.cr.TopInt("top_logprobs", &d.f.topLogprobs, 0, 20); err != nil {
		return err
	}
	if d.f.topLogprobs != nil && d.r.Logprobs {
		n := int32(*d.f.topLogprobs)
		d.r.TopLogprobs = &n
	}
	return nil
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }

// obj is one JSON object of the body, by field (nested objects are small: encoding/json
// is fast enough for them).
type obj map[string]json.RawMessage

// asObject decodes raw as an object, or says at must be one.
func asObject(raw json.RawMessage, at string) (obj, error) {
	var o obj
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		return nil, wire.BadRequest(at, "%s must be an object", at)
	}
	return o, nil
}

// get returns a field, null counting as absent.
func (o obj) get(name string) (json.RawMessage, bool) {
	v, ok := o[name]
	if !ok || isNull(v) {
		return nil, false
	}
	return v, true
}

// str decodes the object's string field name; at is the object's path for errors.
func (o obj) str(at, name string, dst *string) error {
	v, ok := o.get(name)
	if ok && json.Unmarshal(v, dst) != nil {
		return wire.BadRequest(at+"."+name, "%s.%s must be a string", at, name)
	}
	return nil
}

func (o obj) boolean(at, name string, dst *bool) error {
	v, ok := o.get(name)
	if ok && json.Unmarshal(v, dst) != nil {
		return wire.BadRequest(at+"."+name, "%s.%s must be a boolean", at, name)
	}
	return nil
}
