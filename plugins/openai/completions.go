package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/sse"
)

// The legacy completions API, forwarded as is like the Responses API (responses.go): the
// client's body goes to {base_url}/completions, the upstream's bytes come back with the
// typed fields, choices[].text as each choice's content.

// wireText is a text_completion object, or one chunk of its stream.
type wireText struct {
	ID                flexString       `json:"id"`
	Model             flexString       `json:"model"`
	Created           flexInt          `json:"created"`
	SystemFingerprint flexString       `json:"system_fingerprint"`
	Choices           []wireTextChoice `json:"choices"`
	Usage             *wireUsage       `json:"usage"`
	Error             json.RawMessage  `json:"error"`
}

// wireTextChoice is a choice; its logprobs are in the completions API's own shape
// (tokens, token_logprobs, top_logprobs, text_offset) and are passed on as they are.
type wireTextChoice struct {
	Index        flexInt         `json:"index"`
	Text         flexString      `json:"text"`
	FinishReason flexString      `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// sendCompletions posts the client's completions body, its stream field agreeing with the
// RPC and, for a stream, asking for usage, as for a chat body.
func (st *state) sendCompletions(ctx context.Context, r *provider.Request, stream bool) (*http.Response, error) {
	opts, err := rawOptions(r.RawBody, stream, true)
	if err != nil {
		return nil, provider.NewError(provider.KindInvalidRequest, "openai: %v", err)
	}
	return st.do(ctx, provider.EndpointCompletions, r.Model, opts, func(o []option.RequestOption) error {
		_, err := st.completions.New(ctx, oai.CompletionNewParams{}, o...)
		return err
	})
}

func (p *Provider) completeCompletions(ctx context.Context, r *provider.Request) (*provider.Response, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	res, err := st.sendCompletions(ctx, r, false)
	if err != nil {
		return nil, err
	}
	var w wireText
	body, err := st.readJSON(ctx, res, &w)
	if err != nil {
		return nil, err
	}
	resp := &provider.Response{
		ID:                string(w.ID),
		Model:             string(w.Model),
		Created:           int64(w.Created),
		SystemFingerprint: string(w.SystemFingerprint),
		Choices:           make([]provider.Choice, 0, len(w.Choices)),
		RawBody:           body,
	}
	for _, c := range w.Choices {
		resp.Choices = append(resp.Choices, provider.Choice{Index: int(c.Index), FinishReason: string(c.FinishReason),
			Message: provider.Message{Role: "assistant", Content: string(c.Text)}, Logprobs: rawObject(c.Logprobs)})
	}
	if w.Usage != nil {
		resp.Usage = usageFrom(w.Usage)
	}
	return resp, nil
}

// asksUsage reports whether the client's body asks for the usage chunk of a stream
// (stream_options.include_usage: true).
func asksUsage(raw []byte) bool {
	var b struct {
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	return json.Unmarshal(raw, &b) == nil && b.StreamOptions.IncludeUsage
}

// streamCompletions streams a completions body: every chunk goes to the host as the
// RawEvent of a provider.Chunk with its typed deltas. Two frames are not forwarded: the
// closing "data: [DONE]", which the host writes itself after the stream's last chunk (as it
// does for chat), and the usage chunk when only the plugin asked for it (the host needs the
// usage; the client did not ask to see it). Failures are as for chat streams.
func (p *Provider) streamCompletions(ctx context.Context, r *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	res, err := st.sendCompletions(ctx, r, true)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	clientUsage := asksUsage(r.RawBody)
	fr := sse.NewFrameReader(res.Body, maxFrame)
	snd := &provider.RawSender{Out: out}
	var usage *provider.Usage
	open := map[int64]bool{} // choices seen without a finish reason
	done := false
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		if isDone(f.Data) {
			done = true
			break
		}
		var c wireText
		if err := decodeText(f, &c); err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		if c.Usage != nil {
			usage = usageFrom(c.Usage)
		}
		chunk := &provider.Chunk{ID: string(c.ID), Model: string(c.Model), Created: int64(c.Created),
			SystemFingerprint: string(c.SystemFingerprint)}
		if len(c.Choices) == 0 && c.Usage != nil && !clientUsage {
			continue
		}
		for _, ch := range c.Choices {
			d := provider.Delta{Index: int(ch.Index), Content: string(ch.Text), FinishReason: string(ch.FinishReason),
				Logprobs: rawObject(ch.Logprobs)}
			if _, seen := open[int64(ch.Index)]; !seen {
				d.Role = "assistant" // chat's first delta of a choice carries the role
			}
			open[int64(ch.Index)] = ch.FinishReason == ""
			chunk.Choices = append(chunk.Choices, d)
		}
		if err := snd.Send(chunk, f.Raw); err != nil {
			return usage, err
		}
	}
	if !done {
		if err := ctx.Err(); err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		unfinished := len(open) == 0
		for _, o := range open {
			unfinished = unfinished || o
		}
		// As for chat: a server that omits [DONE] after finishing every choice (and sending
		// usage) has still given the whole answer.
		if unfinished || usage == nil {
			return usage, provider.NewError(provider.KindUpstreamUnavailable, "the upstream's stream ended before data: [DONE]")
		}
	}
	return usage, nil
}

// decodeText decodes one chunk of a completions stream; an event with a top-level "error"
// is the upstream's failure, classified from its type and code.
func decodeText(f sse.Frame, c *wireText) error {
	err := json.Unmarshal(f.Data, c)
	if err != nil {
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(f.Data, &e) == nil {
			c.Error = e.Error
		}
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		return classifyStreamError(f.Data)
	}
	return err
}
