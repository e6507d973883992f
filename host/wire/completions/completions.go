// Package completions is OpenAI's legacy completions API (POST /v1/completions) on the
// router's client side: it decodes a request into the chat request the pipeline serves
// (the prompt as one user message) and encodes chat answers and stream deltas back as
// text_completion objects.
package completions

import (
	"encoding/json"
	"strings"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// defaultMaxTokens is the legacy API's max_tokens when the client sends none.
const defaultMaxTokens = 16

// known are the top-level fields Decode reads; the rest (logit_bias, ...) go to
// Provider.Extra, where chat reads them by the same name.
var known = map[string]bool{
	"model": true, "prompt": true, "suffix": true, "echo": true, "best_of": true, "logprobs": true,
	"max_tokens": true, "temperature": true, "top_p": true, "n": true, "stop": true,
	"presence_penalty": true, "frequency_penalty": true, "seed": true, "user": true,
	"stream": true, "stream_options": true,
}

// Decode decodes and checks a POST /v1/completions body. What a chat upstream cannot do
// (several prompts, token prompts, suffix, echo, best_of, logprobs, max_tokens 0) sets
// NativeOnly to the field: a plugin serving the legacy API natively gets the body as is.
// Errors are *wire.Error with status 400 and Param naming the field at fault.
func Decode(body []byte) (*wire.ChatRequest, error) {
	cr, err := wire.KeepBody(body, provider.EndpointCompletions)
	if err != nil {
		return nil, err
	}
	d := &decoder{cr: cr, r: cr.Provider}
	if err := d.decode(); err != nil {
		return nil, err
	}
	return cr, nil
}

type decoder struct {
	cr *wire.ChatRequest
	r  *provider.Request
}

func (d *decoder) native(field string) {
	if d.cr.NativeOnly == "" {
		d.cr.NativeOnly = field
	}
}

func (d *decoder) decode() error {
	cr, r := d.cr, d.r
	if err := d.cr.TopString("model", &cr.Model); err != nil {
		return err
	}
	if cr.Model == "" {
		return wire.BadRequest("model", "you must provide a model parameter")
	}
	r.Model = cr.Model
	tokens, err := d.prompt()
	if err != nil {
		return err
	}

	var suffix string
	if err := d.cr.TopString("suffix", &suffix); err != nil {
		return err
	}
	if suffix != "" {
		d.native("suffix")
	}
	var echo bool
	if err := d.cr.TopBool("echo", &echo); err != nil {
		return err
	}
	if echo {
		d.native("echo")
	}
	var bestOf, logprobs, maxTokens, n *int64
	if err := d.cr.TopInt("best_of", &bestOf, 0, 20); err != nil {
		return err
	}
	if bestOf != nil && *bestOf > 1 {
		d.native("best_of")
	}
	// logprobs is a count here (0 still returns the chosen token's), and its shape is
	// not chat's: only a native plugin answers it.
	if err := d.cr.TopInt("logprobs", &logprobs, 0, 5); err != nil {
		return err
	}
	if logprobs != nil {
		d.native("logprobs")
	}
	// The legacy limit is always in force (16 tokens unless the client says otherwise),
	// so it is always named: a rule lowering it writes max_tokens.
	r.MaxTokens, cr.MaxTokensField = defaultMaxTokens, "max_tokens"
	if err := d.cr.TopInt("max_tokens", &maxTokens, 0, 1<<53); err != nil {
		return err
	}
	if maxTokens != nil {
		r.MaxTokens = *maxTokens
		if *maxTokens == 0 {
			// Zero tokens (with echo, to score a prompt) is nothing chat can ask for.
			d.native("max_tokens")
		}
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
		if err := d.cr.TopFloat(f.name, f.dst, f.min, f.max); err != nil {
			return err
		}
	}
	if err := d.cr.TopInt("n", &n, 1, 128); err != nil {
		return err
	}
	if n != nil {
		r.N = int(*n)
	}
	if err := d.cr.TopInt("seed", &r.Seed, -(1 << 63), 1<<63-1); err != nil {
		return err
	}
	if v, ok := d.cr.Top("stop"); ok {
		var one string
		if json.Unmarshal(v, &one) == nil {
			r.Stop = []string{one}
		} else if json.Unmarshal(v, &r.Stop) != nil {
			return wire.BadRequest("stop", "stop must be a string or an array of strings")
		}
	}
	if err := d.cr.TopString("user", &r.User); err != nil {
		return err
	}
	if err := d.cr.TopBool("stream", &cr.Stream); err != nil {
		return err
	}
	r.Stream = cr.Stream
	if v, ok := d.cr.Top("stream_options"); ok {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if v[0] != '{' || json.Unmarshal(v, &so) != nil {
			return wire.BadRequest("stream_options", "stream_options must be an object")
		}
		r.IncludeUsage = so.IncludeUsage
	}

	extra := map[string]json.RawMessage{}
	for _, name := range cr.FieldNames() {
		if !known[name] {
			extra[name], _ = cr.Field(name)
		}
	}
	if len(extra) > 0 {
		r.Extra, _ = json.Marshal(extra)
	}
	cr.PromptTokensEstimate = int64(cr.Chars/4+4*cr.Messages+3) + tokens
	return nil
}

// prompt translates the prompt: one string becomes the one user message. Several
// prompts and token prompts are counted for the facts and left to a native plugin.
// It returns the number of prompt tokens the client sent as tokens.
func (d *decoder) prompt() (int64, error) {
	const shape = "prompt must be a string, an array of strings, an array of tokens or an array of token arrays"
	v, ok := d.cr.Top("prompt")
	if !ok {
		return 0, wire.BadRequest("prompt", "you must provide a prompt")
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, wire.BadRequest("prompt", "prompt is not a valid string")
		}
		d.user(s)
		return 0, nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return 0, wire.BadRequest("prompt", shape)
	}
	if len(items) == 0 {
		return 0, wire.BadRequest("prompt", "prompt must not be empty")
	}
	switch items[0][0] {
	case '"':
		texts := make([]string, len(items))
		for i, it := range items {
			if it[0] != '"' || json.Unmarshal(it, &texts[i]) != nil {
				return 0, wire.BadRequest("prompt", shape)
			}
		}
		if len(texts) == 1 {
			d.user(texts[0])
			return 0, nil
		}
		// Several prompts are several completions in one call; chat has no such thing.
		d.native("prompt")
		for _, s := range texts {
			d.cr.Chars += len(s)
		}
		d.cr.Messages = len(texts)
		return 0, nil
	case '[':
		var lists [][]*int64
		if json.Unmarshal(v, &lists) != nil {
			return 0, wire.BadRequest("prompt", shape)
		}
		var n int64
		for _, l := range lists {
			if !tokens(l) {
				return 0, wire.BadRequest("prompt", shape)
			}
			n += int64(len(l))
		}
		d.native("prompt")
		d.cr.Messages = len(lists)
		return n, nil
	default:
		var toks []*int64
		if json.Unmarshal(v, &toks) != nil || !tokens(toks) {
			return 0, wire.BadRequest("prompt", shape)
		}
		// Token ids belong to the model's tokenizer; only the native upstream reads them.
		d.native("prompt")
		d.cr.Messages = 1
		return int64(len(toks)), nil
	}
}

// tokens reports whether a decoded token array holds no null (encoding/json decodes null
// into a pointer as nil without complaint, into an int64 as 0).
func tokens(l []*int64) bool {
	for _, t := range l {
		if t == nil {
			return false
		}
	}
	return true
}

func (d *decoder) user(s string) {
	d.r.Messages = append(d.r.Messages, provider.Message{Role: "user", Content: s})
	d.cr.Messages = 1
	d.cr.Chars += len(s)
}

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []choice `json:"choices"`
	Usage             *usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

type choice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type usage struct {
	PromptTokens        int64          `json:"prompt_tokens"`
	CompletionTokens    int64          `json:"completion_tokens"`
	TotalTokens         int64          `json:"total_tokens"`
	PromptTokensDetails *promptDetails `json:"prompt_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

var null = json.RawMessage("null")

// completionID is the answer's id: OpenAI's legacy ones start with cmpl-.
func completionID(id string) string {
	if strings.HasPrefix(id, "cmpl-") {
		return id
	}
	return "cmpl-" + id
}

// finishReason maps chat's reasons to the legacy API's stop, length and content_filter:
// a translated request has no tools, so a tool call can only have ended the text.
func finishReason(r string) string {
	switch r {
	case "length", "content_filter":
		return r
	}
	return "stop"
}

func usageOf(u *provider.Usage) *usage {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	out := &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: total}
	if u.CachedPromptTokens > 0 {
		out.PromptTokensDetails = &promptDetails{u.CachedPromptTokens}
	}
	return out
}

// textOf is a message's text: its content, or its refusal when it has no content (the
// legacy API has no refusal field, and an empty text would hide why there is none).
func textOf(m *provider.Message) string {
	s := m.Content
	for _, p := range m.Parts {
		s += p.Text
	}
	if s == "" {
		s = m.Refusal
	}
	return s
}

// AppendCompletion appends a whole chat answer as a text_completion object to dst; id
// gets the cmpl- prefix when it lacks it. logprobs is always null: a request for them
// never reaches a translated target.
func AppendCompletion(dst []byte, r *provider.Response, model, id string, created int64) []byte {
	c := completion{ID: completionID(id), Object: "text_completion", Created: created, Model: model,
		Choices: make([]choice, len(r.Choices)), SystemFingerprint: r.SystemFingerprint}
	for i := range r.Choices {
		ch := &r.Choices[i]
		fr := finishReason(ch.FinishReason)
		c.Choices[i] = choice{Text: textOf(&ch.Message), Index: ch.Index, Logprobs: null, FinishReason: &fr}
	}
	if r.Usage != nil {
		c.Usage = usageOf(r.Usage)
	}
	b, _ := json.Marshal(c)
	return append(dst, b...)
}

// AppendChunk appends one stream delta as a server-sent event to dst:
// `data: {text_completion}\n\n`, finish_reason null until the choice's last delta. A delta
// with neither text nor a finish reason (a role, a tool call fragment) appends nothing.
func AppendChunk(dst []byte, c *provider.Chunk, model, id string, created int64) []byte {
	out := completion{ID: completionID(id), Object: "text_completion", Created: created, Model: model,
		SystemFingerprint: c.SystemFingerprint}
	for i := range c.Choices {
		d := &c.Choices[i]
		text := d.Content
		if text == "" {
			text = d.Refusal
		}
		if text == "" && d.FinishReason == "" {
			continue
		}
		ch := choice{Text: text, Index: d.Index, Logprobs: null}
		if d.FinishReason != "" {
			fr := finishReason(d.FinishReason)
			ch.FinishReason = &fr
		}
		out.Choices = append(out.Choices, ch)
	}
	if len(out.Choices) == 0 {
		return dst
	}
	return frame(dst, out)
}

// AppendUsageChunk appends the stream's last chunk that stream_options.include_usage asks
// for: no choices, the usage. The caller writes `data: [DONE]` after it.
func AppendUsageChunk(dst []byte, u *provider.Usage, model, id string, created int64) []byte {
	out := completion{ID: completionID(id), Object: "text_completion", Created: created, Model: model, Choices: []choice{}}
	if u != nil {
		out.Usage = usageOf(u)
	}
	return frame(dst, out)
}

func frame(dst []byte, v any) []byte {
	b, _ := json.Marshal(v)
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}
