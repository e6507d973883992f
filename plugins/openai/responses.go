package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/sse"
)

// The Responses API, forwarded as is: the host sends the client's Responses body
// (Request.RawBody, Endpoint "responses"), the plugin posts it to {base_url}/responses and
// hands back the upstream's bytes (Response.RawBody, Chunk.RawEvent), besides the typed
// fields, in chat terms, that the host validates, shows to rules and accounts with.

// maxFrame bounds one frame of a native stream (responses, completions): with the frames
// held back before it, it must fit a chunk of the 64 MiB the protocol allows.
const maxFrame = 32 << 20

// wireResponse is the part of a Responses API response object the plugin reads.
type wireResponse struct {
	ID                flexString      `json:"id"`
	Model             flexString      `json:"model"`
	CreatedAt         flexInt         `json:"created_at"`
	Status            flexString      `json:"status"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails *struct {
		Reason flexString `json:"reason"`
	} `json:"incomplete_details"`
	Output      []wireOutputItem    `json:"output"`
	Usage       *wireResponsesUsage `json:"usage"`
	ServiceTier flexString          `json:"service_tier"`
}

// wireOutputItem is one item of a response's output: a message, a function call, a
// custom tool call; other items (reasoning, server tools' calls) have no chat equivalent.
type wireOutputItem struct {
	Type      flexString `json:"type"`
	CallID    flexString `json:"call_id"`
	Name      flexString `json:"name"`
	Arguments flexString `json:"arguments"`
	Input     flexString `json:"input"`
	Content   []struct {
		Type     flexString      `json:"type"`
		Text     flexString      `json:"text"`
		Refusal  flexString      `json:"refusal"`
		Logprobs json.RawMessage `json:"logprobs"`
	} `json:"content"`
}

type wireResponsesUsage struct {
	InputTokens        flexInt `json:"input_tokens"`
	OutputTokens       flexInt `json:"output_tokens"`
	TotalTokens        flexInt `json:"total_tokens"`
	InputTokensDetails struct {
		CachedTokens flexInt `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails struct {
		ReasoningTokens flexInt `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (u *wireResponsesUsage) toProvider() *provider.Usage {
	total := int64(u.TotalTokens)
	if total == 0 {
		total = int64(u.InputTokens + u.OutputTokens)
	}
	return &provider.Usage{
		PromptTokens:       int64(u.InputTokens),
		CompletionTokens:   int64(u.OutputTokens),
		TotalTokens:        total,
		CachedPromptTokens: int64(u.InputTokensDetails.CachedTokens),
		ReasoningTokens:    int64(u.OutputTokensDetails.ReasoningTokens),
	}
}

// responsesFinish maps a response's status to chat's finish_reason.
func responsesFinish(status, incompleteReason string, toolCalls bool) string {
	if status == "incomplete" {
		switch incompleteReason {
		case "max_output_tokens":
			return "length"
		case "content_filter":
			return "content_filter"
		}
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// toolCall is an output item as a chat tool call, ok false for other items. Its id is the
// call_id, the one a client answers with a function_call_output.
func (it *wireOutputItem) toolCall(index int) (provider.ToolCall, bool) {
	switch it.Type {
	case "function_call":
		return provider.ToolCall{Index: index, ID: string(it.CallID), Type: "function", Name: string(it.Name), Arguments: string(it.Arguments)}, true
	case "custom_tool_call":
		return provider.ToolCall{Index: index, ID: string(it.CallID), Type: "custom", Name: string(it.Name), Arguments: string(it.Input)}, true
	}
	return provider.ToolCall{}, false
}

// logprobEntries are the entries of an output_text's logprobs array; anything else reads
// as none.
func logprobEntries(v json.RawMessage) []json.RawMessage {
	var entries []json.RawMessage
	if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &entries) != nil {
		return nil
	}
	return entries
}

// chatLogprobs is chat's logprobs object holding the Responses API's token entries (the
// same {token, logprob, bytes, top_logprobs} objects); nil when there are none.
func chatLogprobs(entries []json.RawMessage) json.RawMessage {
	if len(entries) == 0 {
		return nil
	}
	b, _ := json.Marshal(struct {
		Content []json.RawMessage `json:"content"`
		Refusal []json.RawMessage `json:"refusal"`
	}{Content: entries})
	return b
}

// toResponse maps a whole response: output_text parts joined into the content, refusals
// into the refusal, function calls into tool calls.
func (w *wireResponse) toResponse() *provider.Response {
	msg := provider.Message{Role: "assistant"}
	var text, refusal strings.Builder
	var lps []json.RawMessage
	for i := range w.Output {
		it := &w.Output[i]
		if tc, ok := it.toolCall(len(msg.ToolCalls)); ok {
			msg.ToolCalls = append(msg.ToolCalls, tc)
			continue
		}
		if it.Type != "message" {
			continue
		}
		for _, c := range it.Content {
			switch c.Type {
			case "output_text":
				text.WriteString(string(c.Text))
				lps = append(lps, logprobEntries(c.Logprobs)...)
			case "refusal":
				refusal.WriteString(string(c.Refusal))
			}
		}
	}
	msg.Content, msg.Refusal = text.String(), refusal.String()
	reason := ""
	if w.IncompleteDetails != nil {
		reason = string(w.IncompleteDetails.Reason)
	}
	resp := &provider.Response{
		ID:          string(w.ID),
		Model:       string(w.Model),
		Created:     int64(w.CreatedAt),
		ServiceTier: string(w.ServiceTier),
		Choices: []provider.Choice{{Message: msg, Logprobs: chatLogprobs(lps),
			FinishReason: responsesFinish(string(w.Status), reason, len(msg.ToolCalls) > 0)}},
	}
	if w.Usage != nil {
		resp.Usage = w.Usage.toProvider()
	}
	return resp
}

// responseFailure classifies a failed response's error object or an error event (both
// {"code", "message", ...}) by its code, as an error event of a chat stream is.
func responseFailure(errObj json.RawMessage, secrets []string) *provider.Error {
	if len(bytes.TrimSpace(errObj)) == 0 {
		errObj = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"error": errObj})
	e := classifyStreamError(b)
	e.Message = redact(e.Message, secrets)
	return e
}

// sendResponses posts the client's Responses body. Its stream field is made to agree with
// the RPC the host called (it does already, unless the host and the body disagree), since
// that is the shape of answer the host reads. Azure's responses path names no
// deployment, so there the body's model becomes the deployment's name.
func (st *state) sendResponses(ctx context.Context, r *provider.Request, stream bool) (*http.Response, error) {
	opts, err := rawOptions(r.RawBody, stream, false)
	if err != nil {
		return nil, provider.NewError(provider.KindInvalidRequest, "openai: %v", err)
	}
	if st.settings.Azure != nil {
		if dep := st.deployment(r.Model); dep != r.Model {
			opts = append(opts, option.WithJSONSet("model", dep))
		}
	}
	return st.do(ctx, provider.EndpointResponses, r.Model, opts, func(o []option.RequestOption) error {
		_, err := st.responses.New(ctx, responses.ResponseNewParams{}, o...)
		return err
	})
}

// completeResponses answers a Responses body as a whole. A response whose status is
// "failed" is the upstream's failure, as an error status would be.
func (p *Provider) completeResponses(ctx context.Context, r *provider.Request) (*provider.Response, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	res, err := st.sendResponses(ctx, r, false)
	if err != nil {
		return nil, err
	}
	var w wireResponse
	body, err := st.readJSON(ctx, res, &w)
	if err != nil {
		return nil, err
	}
	if w.Status == "failed" {
		return nil, responseFailure(w.Error, st.secrets)
	}
	resp := w.toResponse()
	resp.RawBody = body
	return resp, nil
}

// wireResponsesEvent is the part of a Responses stream event the plugin reads.
type wireResponsesEvent struct {
	Type        flexString      `json:"type"`
	Response    *wireResponse   `json:"response"`
	OutputIndex flexInt         `json:"output_index"`
	Item        *wireOutputItem `json:"item"`
	Delta       flexString      `json:"delta"`
	Logprobs    json.RawMessage `json:"logprobs"`
	// Error is set by servers that send a chat-style {"error": {...}} event, or nest the
	// error object in an error event.
	Error json.RawMessage `json:"error"`
}

// responsesStream turns a Responses stream's events into chat deltas. It is used by one
// goroutine.
type responsesStream struct {
	secrets     []string
	id, model   string
	created     int64
	serviceTier string
	// tools maps an output item's index to its tool call's index (counting tool calls
	// from 0); argsSent tells, per tool call, whether an argument fragment went out.
	tools    map[int64]int
	argsSent map[int]bool
	roleSent bool
	// started is set once an event that is output went out: preamble events after it are
	// no longer held back.
	started bool
	usage   *provider.Usage
	// done is set by the terminal event (response.completed or response.incomplete).
	done bool
}

// event handles one event's data: the delta it stands for (nil for none), whether it is
// a preamble event (before any output: response.created, queued, in_progress), or the
// upstream's failure (response.failed, error), which ends the stream.
func (s *responsesStream) event(name string, data []byte) (d *provider.Delta, preamble bool, err error) {
	var ev wireResponsesEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, false, err
	}
	typ := string(ev.Type)
	if typ == "" {
		typ = name
	}
	if r := ev.Response; r != nil {
		s.id, s.model, s.created = string(r.ID), string(r.Model), int64(r.CreatedAt)
		if r.ServiceTier != "" {
			s.serviceTier = string(r.ServiceTier)
		}
		if r.Usage != nil {
			s.usage = r.Usage.toProvider()
		}
	}
	switch typ {
	case "response.created", "response.queued", "response.in_progress":
		return nil, true, nil
	case "response.output_item.added":
		if ev.Item != nil {
			if tc, ok := ev.Item.toolCall(len(s.tools)); ok {
				s.tools[int64(ev.OutputIndex)] = tc.Index
				s.argsSent[tc.Index] = tc.Arguments != ""
				return &provider.Delta{ToolCalls: []provider.ToolCall{tc}}, false, nil
			}
		}
	case "response.output_text.delta":
		if ev.Delta != "" {
			return &provider.Delta{Content: string(ev.Delta), Logprobs: chatLogprobs(logprobEntries(ev.Logprobs))}, false, nil
		}
	case "response.refusal.delta":
		if ev.Delta != "" {
			return &provider.Delta{Refusal: string(ev.Delta)}, false, nil
		}
	case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
		if idx, ok := s.tools[int64(ev.OutputIndex)]; ok && ev.Delta != "" {
			s.argsSent[idx] = true
			return &provider.Delta{ToolCalls: []provider.ToolCall{{Index: idx, Arguments: string(ev.Delta)}}}, false, nil
		}
	case "response.output_item.done":
		// A server that sends a call's arguments only with the finished item: they are
		// its one fragment.
		if idx, ok := s.tools[int64(ev.OutputIndex)]; ok && !s.argsSent[idx] && ev.Item != nil {
			s.argsSent[idx] = true
			if tc, _ := ev.Item.toolCall(idx); tc.Arguments != "" {
				return &provider.Delta{ToolCalls: []provider.ToolCall{{Index: idx, Arguments: tc.Arguments}}}, false, nil
			}
		}
	case "response.completed", "response.incomplete":
		s.done = true
		status, reason := "completed", ""
		if r := ev.Response; r != nil {
			status = string(r.Status)
			if r.IncompleteDetails != nil {
				reason = string(r.IncompleteDetails.Reason)
			}
		}
		return &provider.Delta{FinishReason: responsesFinish(status, reason, len(s.tools) > 0)}, false, nil
	case "response.failed":
		var errObj json.RawMessage
		if ev.Response != nil {
			errObj = ev.Response.Error
		}
		return nil, false, responseFailure(errObj, s.secrets)
	case "error":
		if obj := rawObject(ev.Error); obj != nil {
			return nil, false, responseFailure(obj, s.secrets)
		}
		return nil, false, responseFailure(data, s.secrets) // the event itself: {"code", "message"}
	}
	if typ == "" {
		if obj := rawObject(ev.Error); obj != nil {
			return nil, false, responseFailure(obj, s.secrets)
		}
	}
	return nil, false, nil
}

// chunk is the chunk of an event: its delta, if any, under the response's id.
func (s *responsesStream) chunk(d *provider.Delta) *provider.Chunk {
	c := &provider.Chunk{ID: s.id, Model: s.model, Created: s.created, ServiceTier: s.serviceTier}
	if d != nil {
		if !s.roleSent {
			d.Role, s.roleSent = "assistant", true
		}
		c.Choices = []provider.Delta{*d}
	}
	return c
}

// streamResponses streams a Responses body: every event goes to the host as the RawEvent
// of a chunk, with the chat delta it stands for. The terminal event gives the usage and
// the finish reason. A response.failed or error event is the upstream's failure; it is not
// forwarded (the host tells the client in its own words). A stream that ends before its
// terminal event is upstream_unavailable.
func (p *Provider) streamResponses(ctx context.Context, r *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	res, err := st.sendResponses(ctx, r, true)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	fr := sse.NewFrameReader(res.Body, maxFrame)
	snd := &provider.RawSender{Out: out}
	s := &responsesStream{secrets: st.secrets, tools: map[int64]int{}, argsSent: map[int]bool{}}
	for !s.done {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) || (err == nil && isDone(f.Data)) {
			break // [DONE] is not in the Responses API; a compatible server's is not forwarded
		}
		if err != nil {
			return s.usage, classify(ctx, err, nil, st.secrets)
		}
		d, preamble, err := s.event(f.Name, f.Data)
		if err != nil {
			return s.usage, classify(ctx, err, nil, st.secrets)
		}
		if preamble && !s.started {
			snd.Hold(f.Raw)
			continue
		}
		s.started = true
		if err := snd.Send(s.chunk(d), f.Raw); err != nil {
			return s.usage, err
		}
	}
	if !s.done {
		if err := ctx.Err(); err != nil {
			return s.usage, classify(ctx, err, nil, st.secrets)
		}
		return s.usage, provider.NewError(provider.KindUpstreamUnavailable, "the upstream's stream ended before response.completed")
	}
	return s.usage, nil
}
