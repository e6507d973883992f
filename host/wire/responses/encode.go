package responses

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// object is the Response object, fields in the order OpenAI sends them. The request's
// parameters are echoed as the client sent them (null where it sent none and OpenAI's
// default belongs to the upstream, such as temperature).
type object struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Background         bool              `json:"background"`
	Error              *objectError      `json:"error"`
	IncompleteDetails  *incomplete       `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int64            `json:"max_output_tokens"`
	MaxToolCalls       *int64            `json:"max_tool_calls"`
	Model              string            `json:"model"`
	Output             []any             `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          reasoning         `json:"reasoning"`
	ServiceTier        *string           `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        *float64          `json:"temperature"`
	Text               json.RawMessage   `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              json.RawMessage   `json:"tools"`
	TopLogprobs        int64             `json:"top_logprobs"`
	TopP               *float64          `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *usage            `json:"usage"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

type objectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type reasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type usage struct {
	InputTokens         int64        `json:"input_tokens"`
	InputTokensDetails  inputDetail  `json:"input_tokens_details"`
	OutputTokens        int64        `json:"output_tokens"`
	OutputTokensDetails outputDetail `json:"output_tokens_details"`
	TotalTokens         int64        `json:"total_tokens"`
}

type inputDetail struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type outputDetail struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

var (
	defaultText       = json.RawMessage(`{"format":{"type":"text"}}`)
	defaultToolChoice = json.RawMessage(`"auto"`)
	emptyTools        = json.RawMessage(`[]`)
)

// newObject starts the Response object of a request: id, model and the echoed parameters.
func newObject(cr *wire.ChatRequest, id, model string, created int64) *object {
	o := &object{
		ID: id, Object: "response", CreatedAt: created, Model: model, Output: []any{},
		ParallelToolCalls: true, Text: defaultText, ToolChoice: defaultToolChoice, Tools: emptyTools,
		Truncation: "disabled", Metadata: map[string]string{},
	}
	var f *front
	if cr != nil {
		f, _ = cr.Front.(*front)
	}
	if f == nil {
		return o
	}
	o.Instructions, o.MaxOutputTokens, o.MaxToolCalls = f.instructions, f.maxOutputTokens, f.maxToolCalls
	o.PreviousResponseID, o.Temperature, o.TopP, o.User = f.previousResponseID, f.temperature, f.topP, f.user
	o.Reasoning = reasoning{Effort: f.reasoningEffort, Summary: f.reasoningSummary}
	if f.parallelToolCalls != nil {
		o.ParallelToolCalls = *f.parallelToolCalls
	}
	if f.text != nil {
		o.Text = f.text
	}
	if f.toolChoice != nil {
		o.ToolChoice = f.toolChoice
	}
	if f.tools != nil {
		o.Tools = f.tools
	}
	if f.topLogprobs != nil {
		o.TopLogprobs = *f.topLogprobs
	}
	if f.truncation != "" {
		o.Truncation = f.truncation
	}
	if f.metadata != nil {
		o.Metadata = f.metadata
	}
	return o
}

// outcome maps chat's finish reason to the response's status: a cut-off answer is
// "incomplete" with the reason, everything else "completed".
func outcome(finish string) (string, *incomplete) {
	switch finish {
	case "length":
		return "incomplete", &incomplete{"max_output_tokens"}
	case "content_filter":
		return "incomplete", &incomplete{"content_filter"}
	}
	return "completed", nil
}

func usageOf(u *provider.Usage) *usage {
	if u == nil {
		return nil
	}
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	return &usage{
		InputTokens: u.PromptTokens, InputTokensDetails: inputDetail{u.CachedPromptTokens},
		OutputTokens: u.CompletionTokens, OutputTokensDetails: outputDetail{u.ReasoningTokens},
		TotalTokens: total,
	}
}

// responseID is the id of the Response object: OpenAI's start with resp_.
func responseID(id string) string {
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	return "resp_" + id
}

// item is one output item, a message or a function call, while it is built.
type item struct {
	call   bool
	index  int
	id     string
	status string
	// A message's content parts.
	parts []*part
	// A function call's.
	callID, name string
	args         strings.Builder
}

// part is one content part of a message: output text or a refusal.
type part struct {
	refusal  bool
	text     strings.Builder
	logprobs []json.RawMessage
}

type messageItem struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Content []any  `json:"content"`
	Role    string `json:"role"`
}

type callItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

type textPart struct {
	Type        string            `json:"type"`
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []json.RawMessage `json:"logprobs"`
	Text        string            `json:"text"`
}

type refusalPart struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

// newItem makes output item index of the response whose id is respID. Item ids derive
// from the response's, so a response's items have stable, distinct ids.
func newItem(call bool, index int, respID string) *item {
	prefix := "msg_"
	if call {
		prefix = "fc_"
	}
	return &item{call: call, index: index, status: "in_progress",
		id: prefix + strings.TrimPrefix(respID, "resp_") + "_" + strconv.Itoa(index)}
}

// view is the item as JSON encodes it.
func (it *item) view() any {
	if it.call {
		return callItem{ID: it.id, Type: "function_call", Status: it.status, Arguments: it.args.String(), CallID: it.callID, Name: it.name}
	}
	content := make([]any, len(it.parts))
	for i, p := range it.parts {
		content[i] = p.view()
	}
	return messageItem{ID: it.id, Type: "message", Status: it.status, Content: content, Role: "assistant"}
}

func (p *part) view() any {
	if p.refusal {
		return refusalPart{Type: "refusal", Refusal: p.text.String()}
	}
	return textPart{Type: "output_text", Annotations: []json.RawMessage{}, Logprobs: nonNil(p.logprobs), Text: p.text.String()}
}

func nonNil(lp []json.RawMessage) []json.RawMessage {
	if lp == nil {
		return []json.RawMessage{}
	}
	return lp
}

func views(items []*item) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.view()
	}
	return out
}

// logprobsOf takes the token entries out of chat's logprobs object ({"content":[...]});
// each has the shape the Responses API gives its own (token, logprob, bytes, top_logprobs).
func logprobsOf(raw json.RawMessage) []json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var lp struct {
		Content []json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &lp) != nil {
		return nil
	}
	return lp.Content
}

// AppendResponse appends a whole chat answer as a Response object to dst: choice 0's
// text and refusal as one message item, its tool calls as function_call items after it,
// the usage, and the request's parameters echoed. id gets the resp_ prefix when it lacks
// it; model is the model that answered.
func AppendResponse(dst []byte, cr *wire.ChatRequest, r *provider.Response, model, id string, created int64) []byte {
	id = responseID(id)
	o := newObject(cr, id, model, created)
	var ch *provider.Choice
	for i := range r.Choices {
		if r.Choices[i].Index == 0 {
			ch = &r.Choices[i]
			break
		}
	}
	var items []*item
	if ch != nil {
		o.Status, o.IncompleteDetails = outcome(ch.FinishReason)
		items = answerItems(&ch.Message, ch.Logprobs, id)
	} else {
		o.Status = "completed"
	}
	for _, it := range items {
		it.status = "completed"
		// A message cut off by the token limit is incomplete, as OpenAI marks it.
		if !it.call && o.Status == "incomplete" {
			it.status = "incomplete"
		}
	}
	o.Output = views(items)
	o.Usage = usageOf(r.Usage)
	if r.ServiceTier != "" {
		o.ServiceTier = &r.ServiceTier
	}
	b, _ := json.Marshal(o)
	return append(dst, b...)
}

// answerItems are the output items of one chat message.
func answerItems(m *provider.Message, logprobs json.RawMessage, respID string) []*item {
	text := m.Content + joinText(m.Parts)
	var items []*item
	// A message item unless the answer is tool calls alone: an empty answer is still an
	// (empty) message, so output_text reads "" rather than the output being empty.
	if text != "" || m.Refusal != "" || len(m.ToolCalls) == 0 {
		it := newItem(false, 0, respID)
		if text != "" || m.Refusal == "" {
			p := &part{logprobs: logprobsOf(logprobs)}
			p.text.WriteString(text)
			it.parts = append(it.parts, p)
		}
		if m.Refusal != "" {
			p := &part{refusal: true}
			p.text.WriteString(m.Refusal)
			it.parts = append(it.parts, p)
		}
		items = append(items, it)
	}
	for _, tc := range m.ToolCalls {
		it := newItem(true, len(items), respID)
		it.callID, it.name = tc.ID, tc.Name
		if it.callID == "" {
			it.callID = "call_" + strings.TrimPrefix(it.id, "fc_")
		}
		it.args.WriteString(tc.Arguments)
		items = append(items, it)
	}
	return items
}
