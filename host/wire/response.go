package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// The encoders append to a caller's buffer, so a handler can reuse one buffer for a whole
// stream. Their output is byte for byte what encoding/json makes of the equivalent structs
// (response_ref_test.go holds those as the reference).

// EncodeCompletion writes an answer as an OpenAI chat.completion object. model is the
// model named in the body: the one that answered.
func EncodeCompletion(r *provider.Response, model string) []byte {
	return AppendCompletion(make([]byte, 0, completionSize(r)), r, model)
}

func completionSize(r *provider.Response) int {
	n := 256 + len(r.ID) + len(r.SystemFingerprint)
	for i := range r.Choices {
		m := &r.Choices[i].Message
		n += 128 + len(m.Content) + len(m.Refusal) + len(m.ToolCalls)*64
		for _, c := range m.ToolCalls {
			n += len(c.Arguments)
		}
	}
	return n + n/16
}

// AppendCompletion appends what EncodeCompletion returns to dst.
func AppendCompletion(dst []byte, r *provider.Response, model string) []byte {
	b := append(dst, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, r.Created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"choices":[`...)
	for i := range r.Choices {
		ch := &r.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(ch.Index), 10)
		role := ch.Message.Role
		if role == "" {
			role = "assistant"
		}
		b = append(b, `,"message":{"role":`...)
		b = appendJSONString(b, role)
		b = append(b, `,"content":`...)
		if ch.Message.Content != "" || len(ch.Message.ToolCalls) == 0 {
			b = appendJSONString(b, ch.Message.Content)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"refusal":`...)
		if ch.Message.Refusal != "" {
			b = appendJSONString(b, ch.Message.Refusal)
		} else {
			b = append(b, "null"...)
		}
		if len(ch.Message.ToolCalls) > 0 {
			b = append(b, `,"tool_calls":`...)
			b = appendToolCalls(b, ch.Message.ToolCalls, false)
		}
		b = append(b, `},"finish_reason":`...)
		b = appendJSONString(b, ch.FinishReason)
		b = append(b, `,"logprobs":`...)
		b = appendRawJSON(b, ch.Logprobs)
		b = append(b, '}')
	}
	b = append(b, ']')
	if r.Usage != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, r.Usage)
	}
	if r.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = appendJSONString(b, r.ServiceTier)
	}
	if r.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = appendJSONString(b, r.SystemFingerprint)
	}
	return append(b, '}')
}

// EncodeChunk writes one stream delta as an OpenAI chat.completion.chunk object.
func EncodeChunk(c *provider.Chunk, id, model string, created int64) []byte {
	n := 160 + len(id) + len(model)
	for _, d := range c.Choices {
		n += 64 + len(d.Content) + len(d.Refusal) + len(d.ToolCalls)*64
	}
	return AppendChunk(make([]byte, 0, n), c, id, model, created)
}

// AppendChunk appends what EncodeChunk returns to dst.
func AppendChunk(dst []byte, c *provider.Chunk, id, model string, created int64) []byte {
	b := appendChunkHead(dst, id, model, created)
	for i := range c.Choices {
		d := &c.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(d.Index), 10)
		b = append(b, `,"delta":{`...)
		sep := false
		field := func(name string) {
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
		}
		if d.Role != "" {
			field("role")
			b = appendJSONString(b, d.Role)
		}
		if d.Content != "" {
			field("content")
			b = appendJSONString(b, d.Content)
		}
		if d.Refusal != "" {
			field("refusal")
			b = appendJSONString(b, d.Refusal)
		}
		if len(d.ToolCalls) > 0 {
			field("tool_calls")
			b = appendToolCalls(b, d.ToolCalls, true)
		}
		b = append(b, `},"finish_reason":`...)
		if d.FinishReason != "" {
			b = appendJSONString(b, d.FinishReason)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"logprobs":`...)
		b = appendRawJSON(b, d.Logprobs)
		b = append(b, '}')
	}
	b = append(b, ']')
	if c.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = appendJSONString(b, c.ServiceTier)
	}
	if c.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = appendJSONString(b, c.SystemFingerprint)
	}
	return append(b, '}')
}

// appendRawJSON appends a JSON value a plugin passed on (a logprobs object) as
// encoding/json writes a json.RawMessage: compacted and HTML-escaped, null when empty or
// invalid. Logprobs are rare, so this path is not tuned.
func appendRawJSON(b []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, v); err != nil {
		return append(b, "null"...)
	}
	var e bytes.Buffer
	json.HTMLEscape(&e, c.Bytes())
	return append(b, e.Bytes()...)
}

func appendChunkHead(b []byte, id, model string, created int64) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	return append(b, `,"choices":[`...)
}

// EncodeUsageChunk writes the final usage chunk that stream_options.include_usage asks for:
// empty choices and the usage.
func EncodeUsageChunk(u *provider.Usage, id, model string, created int64) []byte {
	return AppendUsageChunk(make([]byte, 0, 256+len(id)+len(model)), u, id, model, created)
}

// AppendUsageChunk appends what EncodeUsageChunk returns to dst.
func AppendUsageChunk(dst []byte, u *provider.Usage, id, model string, created int64) []byte {
	b := append(appendChunkHead(dst, id, model, created), ']')
	if u != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, u)
	}
	return append(b, '}')
}

func appendUsage(b []byte, u *provider.Usage) []byte {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.CompletionTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, total, 10)
	if u.CachedPromptTokens > 0 {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, u.CachedPromptTokens, 10)
		b = append(b, '}')
	}
	if u.ReasoningTokens > 0 {
		b = append(b, `,"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, u.ReasoningTokens, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendToolCalls writes tool calls; a stream's carry their index.
func appendToolCalls(b []byte, calls []provider.ToolCall, stream bool) []byte {
	b = append(b, '[')
	for i := range calls {
		c := &calls[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if stream {
			b = append(b, `"index":`...)
			b = strconv.AppendInt(b, int64(c.Index), 10)
			b = append(b, ',')
		}
		if c.ID != "" {
			b = append(b, `"id":`...)
			b = appendJSONString(b, c.ID)
			b = append(b, ',')
		}
		typ := c.Type
		if typ == "" && c.ID != "" {
			typ = "function"
		}
		if typ != "" {
			b = append(b, `"type":`...)
			b = appendJSONString(b, typ)
			b = append(b, ',')
		}
		b = append(b, `"function":{`...)
		if c.Name != "" {
			b = append(b, `"name":`...)
			b = appendJSONString(b, c.Name)
			b = append(b, ',')
		}
		b = append(b, `"arguments":`...)
		b = appendJSONString(b, c.Arguments)
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// htmlSafe holds the ASCII bytes encoding/json writes as themselves.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s quoted as encoding/json quotes it (HTML-safe: <, > and & are
// escaped; invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are escaped).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
