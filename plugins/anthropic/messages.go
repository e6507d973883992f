package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	ssefr "github.com/switchyard-llm/switchyard/sdk/provider/sse"
)

// The Messages API, forwarded as is: for a client that spoke Anthropic's own API the host
// sends its body (Request.RawBody, Endpoint "messages"), the plugin posts those bytes to
// {base_url}/v1/messages with its usual headers and hands back the upstream's bytes
// (Response.RawBody, Chunk.RawEvent). The typed fields the host validates and accounts
// with come from the same translation as for chat requests (toResponse, streamTranslator).

// maxFrame bounds one frame of a native stream: with the frames held back before it, it
// must fit a chunk of the 64 MiB the protocol allows.
const maxFrame = 32 << 20

// native reports whether the request carries a Messages body to forward.
func native(req *provider.Request) bool {
	return req.Endpoint == provider.EndpointMessages && len(req.RawBody) > 0
}

// rawOptions send the client's body, its stream field made to agree with the RPC the host
// called (it does already, unless the host and the body disagree), since that is the
// shape of answer the host reads. Every other byte is the client's.
func rawOptions(raw []byte, stream bool) ([]option.RequestOption, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, invalid("the messages body is not a JSON object")
	}
	opts := []option.RequestOption{option.WithRequestBody("application/json", bytes.Clone(raw))}
	s, has := top["stream"]
	switch isTrue := has && bytes.Equal(bytes.TrimSpace(s), []byte("true")); {
	case stream && !isTrue:
		opts = append(opts, option.WithJSONSet("stream", true))
	case !stream && has:
		opts = append(opts, option.WithJSONDel("stream"))
	}
	return opts, nil
}

// post sends the client's body and returns the upstream's response, whose body the
// caller reads and closes. Errors are classified.
func (st *state) post(ctx context.Context, req *provider.Request, stream bool) (*http.Response, error) {
	opts, err := rawOptions(req.RawBody, stream)
	if err != nil {
		return nil, err
	}
	var res *http.Response
	if err := st.client.Post(ctx, "v1/messages", nil, &res, opts...); err != nil {
		return nil, classify(ctx, err, st.apiKey)
	}
	if res == nil || res.Body == nil {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "anthropic: the upstream sent no answer")
	}
	return res, nil
}

// countTokens forwards a count_tokens body to {base_url}/v1/messages/count_tokens: the
// count comes back as the usage's prompt tokens (no choices: it is no answer), the
// upstream's JSON as RawBody.
func countTokens(ctx context.Context, st *state, req *provider.Request) (*provider.Response, error) {
	var res *http.Response
	err := st.client.Post(ctx, "v1/messages/count_tokens", nil, &res,
		option.WithRequestBody("application/json", bytes.Clone(req.RawBody)))
	if err != nil {
		return nil, classify(ctx, err, st.apiKey)
	}
	if res == nil || res.Body == nil {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "anthropic: the upstream sent no answer")
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	_ = res.Body.Close()
	if err != nil {
		return nil, classify(ctx, err, st.apiKey)
	}
	var count sdk.MessageTokensCount
	if err := json.Unmarshal(body, &count); err != nil || count.InputTokens <= 0 {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "anthropic: the token count is not valid JSON with input_tokens")
	}
	return &provider.Response{RawBody: body, Usage: &provider.Usage{PromptTokens: count.InputTokens, TotalTokens: count.InputTokens}}, nil
}

// completeMessages answers a Messages body as a whole.
func completeMessages(ctx context.Context, st *state, req *provider.Request) (*provider.Response, error) {
	res, err := st.post(ctx, req, false)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, provider.MaxMessageSize+1))
	_ = res.Body.Close()
	if err != nil {
		return nil, classify(ctx, err, st.apiKey)
	}
	if len(body) > provider.MaxMessageSize {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "anthropic: the answer is larger than 64 MiB")
	}
	var msg sdk.Message
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "anthropic: the upstream's answer is not valid JSON")
	}
	resp := toResponse(&msg, time.Now().Unix())
	resp.RawBody = body
	return resp, nil
}

// streamMessages streams a Messages body: every event goes to the host as the RawEvent of
// a chunk, with the delta the chat translation derives from it (pings and the terminal
// events alone). An error event is the upstream's failure and is not forwarded: the host
// tells the client in its own words, as for any failure. A stream that ends before
// message_stop is upstream_unavailable.
func streamMessages(ctx context.Context, st *state, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	res, err := st.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	fr := ssefr.NewFrameReader(res.Body, maxFrame)
	snd := &provider.RawSender{Out: out}
	tr := newStreamTranslator(time.Now().Unix())
	started := false
	fail := func(e *provider.Error) (*provider.Usage, error) {
		e.OutputStarted = e.OutputStarted || snd.Sent()
		return tr.usage(), e
	}
	for !tr.stopped {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(classify(ctx, err, st.apiKey))
		}
		var ev sdk.MessageStreamEventUnion
		if f.Name != "error" {
			if err := json.Unmarshal(f.Data, &ev); err != nil {
				return fail(provider.NewError(provider.KindUpstreamUnavailable, "anthropic: an event of the upstream's stream is not valid JSON"))
			}
		}
		if f.Name == "error" || ev.Type == "error" {
			// Classified as the SDK's own stream does: an API error of the 200 response,
			// its type telling the status.
			apiErr := &sdk.Error{StatusCode: res.StatusCode, Request: res.Request, Response: res}
			_ = apiErr.UnmarshalJSON(f.Data)
			return fail(classify(ctx, apiErr, st.apiKey))
		}
		chunk := tr.event(ev)
		if chunk == nil && !started && (ev.Type == "message_start" || ev.Type == "ping") {
			snd.Hold(f.Raw)
			continue
		}
		started = true
		if chunk == nil {
			chunk = &provider.Chunk{ID: tr.id, Model: tr.model, Created: tr.created}
		}
		if err := snd.Send(chunk, f.Raw); err != nil {
			return tr.usage(), err
		}
		if len(chunk.Choices) > 0 {
			tr.sent = true // the role went out
		}
	}
	if !tr.stopped {
		if ctx.Err() != nil {
			return fail(classify(ctx, ctx.Err(), st.apiKey))
		}
		return fail(provider.NewError(provider.KindUpstreamUnavailable, "anthropic: stream ended before message_stop"))
	}
	return tr.usage(), nil
}
