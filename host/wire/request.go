// Package wire translates between OpenAI's HTTP wire format and the provider SDK's types:
// it decodes chat completion requests, encodes answers, stream chunks and error envelopes.
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// MetadataPrefix marks the metadata keys that are Switchyard's own: rules see them, the
// upstream does not.
const MetadataPrefix = "switchyard."

// ChatRequest is a decoded chat completion request and the facts routing needs about it.
type ChatRequest struct {
	// Provider is the request as plugins receive it (Model still the requested name).
	Provider *provider.Request
	// Model is the model the client asked for: a route, a catalogue model or "auto".
	Model  string
	Stream bool
	// Metadata is every metadata entry as the client sent it, Switchyard's own keys
	// included (what rules see).
	Metadata map[string]json.RawMessage
	// Facts for rules.
	Messages             int
	Chars                int
	HasTools             bool
	HasImages            bool
	JSONMode             bool
	PromptTokensEstimate int64
	// MaxTokensField is the name the client used for its token limit ("max_tokens" or
	// "max_completion_tokens"), "" when it set none.
	MaxTokensField string
	// Body is the client's original body.
	Body []byte
	// Endpoint is the API the request came in through (a provider.Endpoint* kind; "" is
	// chat completions). Provider holds the request translated to chat whatever it is.
	Endpoint string
	// NativeOnly names the field of the client's body that only a plugin serving Endpoint
	// natively can honour (Responses' previous_response_id, store: true); "" when the
	// translation to chat serves the request whole.
	NativeOnly string
	// Front is the decoder's own state for its encoder (fields an answer echoes back);
	// nothing but the package that decoded the request reads it.
	Front any
	// fields locates each top-level field's value in Body, for RawBody.
	fields object
}

// KeepBody starts the ChatRequest of a body in another API's format (Responses, Messages,
// legacy completions): it checks that body is one JSON object without repeated fields and
// remembers where each top-level field lies, so RawBody can hand a native plugin the
// client's bytes. The caller decodes the rest and fills Provider and the facts.
func KeepBody(body []byte, endpoint string) (*ChatRequest, error) {
	top, err := topFields(body)
	if err != nil {
		return nil, err
	}
	return &ChatRequest{Provider: &provider.Request{Endpoint: endpoint}, Body: body, Endpoint: endpoint, fields: top}, nil
}

// Field returns a top-level field of the body as the client sent it.
func (c *ChatRequest) Field(name string) (json.RawMessage, bool) {
	v, ok := c.fields.get(name)
	return v, ok
}

// FieldNames lists the top-level fields of the body in the client's order.
func (c *ChatRequest) FieldNames() []string {
	out := make([]string, len(c.fields))
	for i, f := range c.fields {
		out[i] = string(f.key)
	}
	return out
}

// known top-level fields; everything else goes to Request.Extra untouched.
var knownFields = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "temperature": true,
	"top_p": true, "max_tokens": true, "max_completion_tokens": true, "stop": true,
	"response_format": true, "stream": true, "stream_options": true, "seed": true,
	"presence_penalty": true, "frequency_penalty": true, "n": true, "user": true,
	"reasoning_effort": true, "parallel_tool_calls": true, "metadata": true,
	"logprobs": true, "top_logprobs": true,
}

// DecodeChat decodes and checks a chat completion body. Errors are *Error with status 400.
func DecodeChat(body []byte) (*ChatRequest, error) {
	top, err := topFields(body)
	if err != nil {
		return nil, err
	}
	r := &provider.Request{}
	cr := &ChatRequest{Provider: r, Body: body, fields: top}

	if err := field(top, "model", &cr.Model); err != nil {
		return nil, err
	}
	if cr.Model == "" {
		return nil, BadRequest("model", "you must provide a model parameter")
	}
	r.Model = cr.Model

	raw, ok := top.get("messages")
	if !ok || isNull(raw) {
		return nil, BadRequest("messages", "you must provide messages")
	}
	msgs, members, ok := scanMessages(raw)
	if !ok {
		return nil, BadRequest("messages", "messages must be an array of objects")
	}
	if len(msgs) == 0 {
		return nil, BadRequest("messages", "messages must not be empty")
	}
	r.Messages = make([]provider.Message, len(msgs))
	for i, m := range msgs {
		var o object
		if m.from >= 0 {
			o = members[m.from:m.to:m.to]
		}
		if err := decodeMessage(o, &r.Messages[i], cr, i); err != nil {
			return nil, err
		}
	}
	cr.Messages = len(msgs)

	if raw, ok := top.get("tools"); ok && !isNull(raw) {
		if err := decodeTools(raw, r); err != nil {
			return nil, err
		}
		cr.HasTools = len(r.Tools) > 0
	}
	if raw, ok := top.get("tool_choice"); ok && !isNull(raw) {
		r.ToolChoice = raw
	}
	for _, f := range []struct {
		name     string
		dst      **float64
		min, max float64
	}{
		{"temperature", &r.Temperature, 0, 2},
		{"top_p", &r.TopP, 0, 1},
		{"presence_penalty", &r.PresencePenalty, -2, 2},
		{"frequency_penalty", &r.FrequencyPenalty, -2, 2},
	} {
		if err := optFloat(top, f.name, f.dst, f.min, f.max); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"max_tokens", "max_completion_tokens"} {
		var v *int64
		if err := optInt(top, name, &v); err != nil {
			return nil, err
		}
		if v != nil {
			if *v < 1 {
				return nil, BadRequest(name, "%s must be at least 1", name)
			}
			r.MaxTokens = *v
			cr.MaxTokensField = name
		}
	}
	if err := optInt(top, "seed", &r.Seed); err != nil {
		return nil, err
	}
	var n *int64
	if err := optInt(top, "n", &n); err != nil {
		return nil, err
	}
	if n != nil {
		if *n < 1 || *n > 128 {
			return nil, BadRequest("n", "n must be between 1 and 128")
		}
		r.N = int(*n)
	}
	if raw, ok := top.get("stop"); ok && !isNull(raw) {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			r.Stop = []string{one}
		} else if err := json.Unmarshal(raw, &r.Stop); err != nil {
			return nil, BadRequest("stop", "stop must be a string or an array of strings")
		}
	}
	if raw, ok := top.get("response_format"); ok && !isNull(raw) {
		var rf struct {
			Type       string          `json:"type"`
			JSONSchema json.RawMessage `json:"json_schema"`
		}
		if err := json.Unmarshal(raw, &rf); err != nil || rf.Type == "" {
			return nil, BadRequest("response_format", "response_format must be an object with a type")
		}
		switch rf.Type {
		case "text", "json_object", "json_schema":
		default:
			return nil, BadRequest("response_format.type", "response_format.type %q is not one of text, json_object, json_schema", rf.Type)
		}
		r.ResponseFormat = &provider.ResponseFormat{Type: rf.Type, JSONSchema: rf.JSONSchema}
		cr.JSONMode = rf.Type != "text"
	}
	if err := field(top, "stream", &cr.Stream); err != nil {
		return nil, err
	}
	r.Stream = cr.Stream
	if raw, ok := top.get("stream_options"); ok && !isNull(raw) {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(raw, &so); err != nil {
			return nil, BadRequest("stream_options", "stream_options must be an object")
		}
		r.IncludeUsage = so.IncludeUsage
	}
	if err := field(top, "user", &r.User); err != nil {
		return nil, err
	}
	if err := field(top, "reasoning_effort", &r.ReasoningEffort); err != nil {
		return nil, err
	}
	if err := field(top, "logprobs", &r.Logprobs); err != nil {
		return nil, err
	}
	var topLP *int64
	if err := optInt(top, "top_logprobs", &topLP); err != nil {
		return nil, err
	}
	if topLP != nil {
		if *topLP < 0 || *topLP > 20 {
			return nil, BadRequest("top_logprobs", "top_logprobs must be between 0 and 20")
		}
		n := int32(*topLP)
		r.TopLogprobs = &n
	}
	if raw, ok := top.get("parallel_tool_calls"); ok && !isNull(raw) {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, BadRequest("parallel_tool_calls", "parallel_tool_calls must be a boolean")
		}
		r.ParallelToolCalls = &b
	}
	if raw, ok := top.get("metadata"); ok && !isNull(raw) {
		s := scanner{b: raw}
		var mo object
		if raw[0] == '{' {
			mo, err = s.object(nil, 1, false)
		}
		if raw[0] != '{' || err != nil {
			return nil, BadRequest("metadata", "metadata must be an object")
		}
		md := make(map[string]json.RawMessage, len(mo))
		for _, f := range mo {
			md[string(f.key)] = f.val
		}
		cr.Metadata = md
		for k, v := range md {
			var s string
			if !decodeString(v, &s) {
				s = string(v)
			}
			if !strings.HasPrefix(k, MetadataPrefix) {
				if r.Metadata == nil {
					r.Metadata = map[string]string{}
				}
				r.Metadata[k] = s
			}
		}
	}
	r.Extra = extraFields(top, knownFields)
	cr.PromptTokensEstimate = int64(cr.Chars/4 + 4*cr.Messages + 3)
	return cr, nil
}

// topFields splits a JSON object into its fields, remembering where each value lies.
func topFields(body []byte) (object, error) {
	top, err := scanObject(body, make(object, 0, 16))
	if err != nil {
		// encoding/json says what is wrong (or, should it accept what the scanner refused,
		// splits the body itself).
		return topLevel(body)
	}
	if len(top) <= 32 {
		for i := 1; i < len(top); i++ {
			for j := 0; j < i; j++ {
				if string(top[i].key) == string(top[j].key) {
					return nil, dupField(top[i].key)
				}
			}
		}
		return top, nil
	}
	seen := make(map[string]bool, len(top))
	for _, f := range top {
		if seen[string(f.key)] {
			return nil, dupField(f.key)
		}
		seen[string(f.key)] = true
	}
	return top, nil
}

func dupField(key []byte) *Error {
	return BadRequest(string(key), "the field %q appears twice", key)
}

// topLevel is topFields with encoding/json: the errors' wording is its.
func topLevel(body []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, BadRequest("", "the body is not valid JSON: %s", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, BadRequest("", "the body must be a JSON object")
	}
	seen := map[string]bool{}
	var top object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, BadRequest("", "the body is not valid JSON: %s", jsonErr(err))
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, BadRequest("", "the body is not valid JSON: %s", jsonErr(err))
		}
		if seen[key] {
			return nil, dupField([]byte(key))
		}
		seen[key] = true
		end := int(dec.InputOffset())
		top = append(top, member{key: []byte(key), val: body[end-len(raw) : end : end], start: end - len(raw)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, BadRequest("", "the body is not valid JSON: %s", jsonErr(err))
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, BadRequest("", "the body holds something after its JSON object")
	}
	return top, nil
}

// extraFields encodes the fields not in known as one JSON object (nil when there are none),
// as encoding/json encodes a map of them: keys sorted, the last of a repeated key kept,
// values compacted and HTML-escaped.
func extraFields(o object, known map[string]bool) json.RawMessage {
	var extra object
	for _, f := range o {
		if !known[string(f.key)] {
			extra = append(extra, f)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.SliceStable(extra, func(i, j int) bool { return string(extra[i].key) < string(extra[j].key) })
	n := 2
	for i, f := range extra {
		if i > 0 && string(f.key) == string(extra[i-1].key) || !compactSafe(f.val) {
			return extraFieldsMap(extra) // repeated keys, or values to compact or escape
		}
		n += len(f.key) + len(f.val) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, f := range extra {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, string(f.key))
		b = append(b, ':')
		b = append(b, f.val...)
	}
	return append(b, '}')
}

// compactSafe says encoding/json would copy v as is: no space, nothing it escapes.
func compactSafe(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return false
		}
	}
	return true
}

func extraFieldsMap(o object) json.RawMessage {
	extra := make(map[string]json.RawMessage, len(o))
	for _, f := range o {
		extra[string(f.key)] = f.val
	}
	b, _ := json.Marshal(extra)
	return b
}

// msgSpan is where one message's fields lie in the members scanMessages returns; from is
// -1 for a null message.
type msgSpan struct{ from, to int }

// scanMessages splits the messages array into its messages' fields. ok is false when raw
// is not an array of objects (nulls allowed: decodeMessage refuses them by index).
func scanMessages(raw json.RawMessage) (msgs []msgSpan, members object, ok bool) {
	if raw[0] != '[' {
		return nil, nil, false
	}
	s := scanner{b: raw}
	s.i++
	s.ws()
	if s.i < len(raw) && raw[s.i] == ']' {
		return nil, nil, true
	}
	members = make(object, 0, 8)
	msgs = make([]msgSpan, 0, 4)
	for {
		switch {
		case raw[s.i] == '{':
			from := len(members)
			var err error
			if members, err = s.object(members, 2, false); err != nil {
				return nil, nil, false
			}
			msgs = append(msgs, msgSpan{from, len(members)})
		case s.lit("null") == nil:
			msgs = append(msgs, msgSpan{-1, -1})
		default:
			return nil, nil, false
		}
		s.ws()
		if s.i >= len(raw) {
			return nil, nil, false
		}
		switch raw[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			return msgs, members, true
		default:
			return nil, nil, false
		}
	}
}

// RawBody returns the client's body for a plugin that forwards it as is: model replaced,
// Switchyard's own metadata keys removed, and the fields in set (JSON values) replaced or
// added. Everything else keeps the client's bytes.
func (c *ChatRequest) RawBody(model string, set map[string]json.RawMessage) []byte {
	out := make([]byte, 0, len(c.Body)+len(model)+64+16*len(set))
	pos := 0
	done := 0 // fields of set replaced in place
	for _, f := range c.fields {
		var repl []byte
		key := string(f.key) // no copy: only compared and used as a map key
		switch {
		case key == "model":
			repl = appendJSONString(nil, model)
		case set[key] != nil:
			repl = set[key]
			done++
		case key == "metadata" && c.hasOwnMetadata():
			repl = c.upstreamMetadata()
		default:
			continue
		}
		out = append(out, c.Body[pos:f.start]...)
		out = append(out, repl...)
		pos = f.start + len(f.val)
	}
	out = append(out, c.Body[pos:]...)
	if done == len(set) {
		return out
	}
	// Fields to add go right after the opening brace.
	var add []byte
	for _, k := range sortedKeys(set) {
		if _, there := c.fields.get(k); !there {
			add = append(append(append(appendJSONString(add, k), ':'), set[k]...), ',')
		}
	}
	if len(add) > 0 {
		i := bytes.IndexByte(out, '{') + 1
		if len(c.fields) == 0 {
			add = add[:len(add)-1]
		}
		out = append(out[:i], append(add, out[i:]...)...)
	}
	return out
}

func (c *ChatRequest) hasOwnMetadata() bool {
	for k := range c.Metadata {
		if strings.HasPrefix(k, MetadataPrefix) {
			return true
		}
	}
	return false
}

func (c *ChatRequest) upstreamMetadata() []byte {
	md := map[string]json.RawMessage{}
	for k, v := range c.Metadata {
		if !strings.HasPrefix(k, MetadataPrefix) {
			md[k] = v
		}
	}
	b, _ := json.Marshal(md)
	return b
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var knownMessageFields = map[string]bool{
	"role": true, "content": true, "name": true, "tool_calls": true, "tool_call_id": true, "refusal": true,
}

// msgAt names message i in errors.
func msgAt(i int) string { return "messages[" + strconv.Itoa(i) + "]" }

func decodeMessage(m object, out *provider.Message, cr *ChatRequest, i int) error {
	if m == nil {
		at := msgAt(i)
		return BadRequest(at, "%s must be an object", at)
	}
	if err := field(m, "role", &out.Role); err != nil {
		at := msgAt(i)
		return BadRequest(at+".role", "%s.role must be a string", at)
	}
	switch out.Role {
	case "system", "developer", "user", "assistant", "tool", "function":
	case "":
		at := msgAt(i)
		return BadRequest(at+".role", "%s.role is required", at)
	default:
		at := msgAt(i)
		return BadRequest(at+".role", "%s.role %q is not one of system, developer, user, assistant, tool", at, out.Role)
	}
	if raw, ok := m.get("content"); ok && !isNull(raw) {
		if raw[0] == '"' {
			if !decodeString(raw, &out.Content) {
				at := msgAt(i)
				return BadRequest(at+".content", "%s.content is not a valid string", at)
			}
			cr.Chars += len(out.Content)
		} else if err := decodeParts(raw, out, cr, msgAt(i)); err != nil {
			return err
		}
	}
	if err := field(m, "name", &out.Name); err != nil {
		at := msgAt(i)
		return BadRequest(at+".name", "%s.name must be a string", at)
	}
	if err := field(m, "tool_call_id", &out.ToolCallID); err != nil {
		at := msgAt(i)
		return BadRequest(at+".tool_call_id", "%s.tool_call_id must be a string", at)
	}
	if err := field(m, "refusal", &out.Refusal); err != nil {
		at := msgAt(i)
		return BadRequest(at+".refusal", "%s.refusal must be a string", at)
	}
	if raw, ok := m.get("tool_calls"); ok && !isNull(raw) {
		var calls []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &calls); err != nil {
			at := msgAt(i)
			return BadRequest(at+".tool_calls", "%s.tool_calls must be an array of function calls", at)
		}
		for j, c := range calls {
			out.ToolCalls = append(out.ToolCalls, provider.ToolCall{Index: j, ID: c.ID, Type: c.Type, Name: c.Function.Name, Arguments: c.Function.Arguments})
			cr.Chars += len(c.Function.Arguments)
		}
	}
	out.Extra = extraFields(m, knownMessageFields)
	return nil
}

// decodeParts decodes a content that is an array of parts.
func decodeParts(raw json.RawMessage, out *provider.Message, cr *ChatRequest, at string) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return BadRequest(at+".content", "%s.content must be a string or an array of parts", at)
	}
	out.Parts = make([]provider.ContentPart, len(parts))
	for j, p := range parts {
		var pp struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL *struct {
				URL    string `json:"url"`
				Detail string `json:"detail"`
			} `json:"image_url"`
		}
		if err := json.Unmarshal(p, &pp); err != nil || pp.Type == "" {
			return BadRequest(fmt.Sprintf("%s.content[%d]", at, j), "%s.content[%d] must be an object with a type", at, j)
		}
		cp := provider.ContentPart{Type: pp.Type, Text: pp.Text}
		switch pp.Type {
		case "text":
			cr.Chars += len(pp.Text)
		case "image_url":
			if pp.ImageURL == nil || pp.ImageURL.URL == "" {
				return BadRequest(fmt.Sprintf("%s.content[%d].image_url", at, j), "%s.content[%d].image_url.url is required", at, j)
			}
			cp.ImageURL, cp.ImageDetail = pp.ImageURL.URL, pp.ImageURL.Detail
			cr.HasImages = true
		default:
			cp.Raw = p
		}
		out.Parts[j] = cp
	}
	return nil
}

func decodeTools(raw json.RawMessage, r *provider.Request) error {
	var tools []struct {
		Type     string `json:"type"`
		Function *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      *bool           `json:"strict"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return BadRequest("tools", "tools must be an array of tool objects")
	}
	for i, t := range tools {
		if t.Function == nil || t.Function.Name == "" {
			return BadRequest(fmt.Sprintf("tools[%d].function.name", i), "tools[%d].function.name is required", i)
		}
		typ := t.Type
		if typ == "" {
			typ = "function"
		}
		r.Tools = append(r.Tools, provider.Tool{Type: typ, Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: t.Function.Strict != nil && *t.Function.Strict})
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// field decodes o's field name into dst when present and not null. Strings, booleans and
// numbers of the usual shape are read from the body directly, the rest by encoding/json.
func field[T any](o object, name string, dst *T) error {
	raw, ok := o.get(name)
	if !ok || isNull(raw) {
		return nil
	}
	switch d := any(dst).(type) {
	case *string:
		if decodeString(raw, d) {
			return nil
		}
	case *bool:
		switch string(raw) {
		case "true":
			*d = true
			return nil
		case "false":
			*d = false
			return nil
		}
	case **float64:
		if f, ok := decodeFloat(raw); ok {
			*d = &f
			return nil
		}
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return BadRequest(name, "%s has the wrong type: %s", name, jsonErr(err))
	}
	return nil
}

func optFloat(top object, name string, dst **float64, lo, hi float64) error {
	raw, ok := top.get(name)
	if !ok || isNull(raw) {
		return nil
	}
	v, ok := decodeFloat(raw)
	if !ok {
		var f *float64
		if err := field(top, name, &f); err != nil {
			return err
		}
		v = *f
	}
	if v < lo || v > hi {
		return BadRequest(name, "%s must be between %g and %g", name, lo, hi)
	}
	*dst = &v
	return nil
}

func optInt(top object, name string, dst **int64) error {
	raw, ok := top.get(name)
	if !ok || isNull(raw) {
		return nil
	}
	f, ok := decodeFloat(raw)
	if !ok {
		var fp *float64
		if err := field(top, name, &fp); err != nil {
			return err
		}
		f = *fp
	}
	if f != float64(int64(f)) {
		return BadRequest(name, "%s must be an integer", name)
	}
	v := int64(f)
	*dst = &v
	return nil
}

func jsonErr(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
