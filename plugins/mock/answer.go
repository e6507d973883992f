package mock

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// sentences are the mock's fixed repertoire; the prompt's hash picks one.
var sentences = []string{
	"The weather in the test suite is always deterministic.",
	"Every route leads somewhere, eventually.",
	"This answer was produced without any GPU.",
	"A fallback is only as good as its second target.",
	"Tokens here are counted four characters at a time.",
	"Nothing in this reply was sampled.",
	"Latency is a setting, not a mystery.",
	"The mock has no opinion, only a hash function.",
}

// reply is a whole answer before it is sent.
type reply struct {
	text      string
	toolCalls []provider.ToolCall
	finish    string
	usage     *provider.Usage
}

// answer builds the deterministic reply to req.
func answer(req *provider.Request, p plan) reply {
	last := lastUserText(req)
	r := reply{finish: "stop"}
	switch {
	case p.fail == failEmpty:
		r.text = ""
	case p.fail == failNotJSON:
		r.text = "Sure! Here is the JSON you asked for: {\"ok\": tru"
	case wantsToolCall(req, p.s, last):
		r.toolCalls = []provider.ToolCall{toolCall(req, last)}
		r.finish = "tool_calls"
	case wantsJSON(req):
		b, _ := json.Marshal(map[string]any{"model": req.Model, "reply": baseText(req, p, last), "ok": true})
		r.text = string(b)
	default:
		r.text = baseText(req, p, last)
	}
	if req.MaxTokens > 0 && r.toolCalls == nil && !wantsJSON(req) && p.fail != failNotJSON && tokens(r.text) > req.MaxTokens {
		r.text = cutTokens(r.text, req.MaxTokens)
		r.finish = "length"
	}
	prompt := promptTokens(req)
	completion := completionTokens(r.text, r.toolCalls)
	r.usage = &provider.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	return r
}

func baseText(req *provider.Request, p plan, last string) string {
	if p.s.Reply != "" {
		return p.s.Reply
	}
	if len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "tool" {
		return "Tool result received: " + clip(messageText(&req.Messages[len(req.Messages)-1]), 200)
	}
	if req.Model == "mock-echo" {
		if last == "" {
			return "(no user message)"
		}
		return last
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(last))
	s := sentences[h.Sum32()%uint32(len(sentences))]
	if last == "" {
		return fmt.Sprintf("Hello from %s. %s", req.Model, s)
	}
	return fmt.Sprintf("Hello from %s. You said: %s %s", req.Model, clip(last, 200), s)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func messageText(m *provider.Message) string {
	if len(m.Parts) == 0 {
		return m.Content
	}
	var texts []string
	for _, p := range m.Parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

func lastUserText(req *provider.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return strings.TrimSpace(messageText(&req.Messages[i]))
		}
	}
	return ""
}

func wantsJSON(req *provider.Request) bool {
	rf := req.ResponseFormat
	return rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema")
}

func wantsToolCall(req *provider.Request, s Settings, last string) bool {
	if len(req.Tools) == 0 || string(req.ToolChoice) == `"none"` {
		return false
	}
	if len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "tool" {
		return false // answer the tool's result instead of calling again
	}
	return s.ToolCall || string(req.ToolChoice) == `"required"` || toolChoiceName(req) != "" ||
		strings.Contains(strings.ToLower(last), "call tool")
}

// toolChoiceName is the function named by tool_choice {"type":"function","function":{"name":...}}.
func toolChoiceName(req *provider.Request) string {
	var tc struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if len(req.ToolChoice) == 0 || req.ToolChoice[0] != '{' || json.Unmarshal(req.ToolChoice, &tc) != nil {
		return ""
	}
	return tc.Function.Name
}

func toolCall(req *provider.Request, last string) provider.ToolCall {
	name := toolChoiceName(req)
	if name == "" {
		name = req.Tools[0].Name
	}
	args, _ := json.Marshal(map[string]string{"query": clip(last, 200)})
	h := fnv.New32a()
	_, _ = h.Write([]byte(req.ID + "|" + last))
	return provider.ToolCall{Index: 0, ID: fmt.Sprintf("call_mock_%08x", h.Sum32()), Type: "function", Name: name, Arguments: string(args)}
}

func responseID(req *provider.Request) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(req.ID + "|" + req.Model + "|" + lastUserText(req)))
	return fmt.Sprintf("chatcmpl-mock-%016x", h.Sum64())
}

// tokens counts about four characters per token, at least one for non-empty text.
func tokens(s string) int64 {
	if s == "" {
		return 0
	}
	return int64((len(s) + 3) / 4)
}

// promptTokens counts every message's text plus four tokens of framing per message.
func promptTokens(req *provider.Request) int64 {
	var n int64
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 4 + tokens(messageText(m))
		for _, tc := range m.ToolCalls {
			n += tokens(tc.Name + tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += tokens(t.Name+t.Description) + tokens(string(t.Parameters))
	}
	return n
}

func completionTokens(text string, calls []provider.ToolCall) int64 {
	n := tokens(text)
	for _, tc := range calls {
		n += tokens(tc.Name + tc.Arguments)
	}
	return max(n, 1)
}

// cutTokens keeps the whole words that fit in max tokens.
func cutTokens(s string, limit int64) string {
	var b strings.Builder
	for _, w := range strings.SplitAfter(s, " ") {
		if tokens(b.String()+w) > limit {
			break
		}
		b.WriteString(w)
	}
	if b.Len() == 0 {
		return string([]rune(s)[:min(len([]rune(s)), int(limit)*4)])
	}
	return b.String()
}

// deltas splits the reply into stream deltas: the text word by word (the first carrying
// the role), a tool call as a header then its arguments in two fragments, and a last
// delta with the finish reason.
func (r reply) deltas() []provider.Delta {
	var ds []provider.Delta
	for _, w := range strings.SplitAfter(r.text, " ") {
		if w != "" {
			ds = append(ds, provider.Delta{Content: w})
		}
	}
	for _, tc := range r.toolCalls {
		half := len(tc.Arguments) / 2
		ds = append(ds,
			provider.Delta{ToolCalls: []provider.ToolCall{{Index: tc.Index, ID: tc.ID, Type: tc.Type, Name: tc.Name}}},
			provider.Delta{ToolCalls: []provider.ToolCall{{Index: tc.Index, Arguments: tc.Arguments[:half]}}},
			provider.Delta{ToolCalls: []provider.ToolCall{{Index: tc.Index, Arguments: tc.Arguments[half:]}}},
		)
	}
	ds = append(ds, provider.Delta{FinishReason: r.finish})
	ds[0].Role = "assistant"
	return ds
}

// partialUsage counts what was sent before a mid-stream failure.
func (r reply) partialUsage(req *provider.Request, sent []provider.Delta) *provider.Usage {
	var b strings.Builder
	for _, d := range sent {
		b.WriteString(d.Content)
		for _, tc := range d.ToolCalls {
			b.WriteString(tc.Name + tc.Arguments)
		}
	}
	prompt, completion := promptTokens(req), tokens(b.String())
	return &provider.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}
