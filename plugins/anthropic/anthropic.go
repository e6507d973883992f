// Package anthropic is a Switchyard provider plugin for Anthropic's Messages API. It takes
// OpenAI-style chat completion requests from the host, translates them to the Messages API
// (through Anthropic's official Go SDK), and translates answers, streams and errors back.
// See README.md for the mapping.
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Version is the plugin's version, stamped by the build.
var Version = "dev"

// Anthropic is the provider. Create it with New; it serves after Configure. It is safe
// for concurrent use.
type Anthropic struct {
	state atomic.Pointer[state]
}

// state is what Configure builds; it is replaced whole, never changed.
type state struct {
	settings Settings
	client   sdk.Client
	apiKey   string
}

// New returns an unconfigured provider.
func New() *Anthropic { return &Anthropic{} }

// Info describes the plugin. Models are left to the host's catalogue. It serves chat
// completions by translation and Anthropic's own messages API natively; the host
// translates responses and completions requests to chat for it.
func (a *Anthropic) Info(context.Context) (provider.Info, error) {
	return provider.Info{
		Name:            "anthropic",
		Version:         Version,
		Capabilities:    []string{"stream", "tools", "vision"},
		OpenAINative:    false,
		Endpoints:       []string{provider.EndpointChat, provider.EndpointMessages, provider.EndpointCountTokens},
		NativeEndpoints: []string{provider.EndpointMessages, provider.EndpointCountTokens},
	}, nil
}

// Configure decodes the settings strictly, checks the secrets and builds the client. On
// error the previous configuration, if any, stays in use.
func (a *Anthropic) Configure(_ context.Context, cfg provider.Config) error {
	s, err := parseSettings(cfg.Settings)
	if err != nil {
		return err
	}
	var unknown []string
	for name := range cfg.Secrets {
		if name != "api_key" {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("anthropic: secrets: unknown secret(s) %s (only api_key)", strings.Join(unknown, ", "))
	}
	key := strings.TrimSpace(cfg.Secrets["api_key"])
	if key == "" {
		return errors.New("anthropic: secrets: api_key is required")
	}
	opts := []option.RequestOption{
		// Nothing from the environment (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, profiles):
		// the host config is the only source.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(s.BaseURL),
		option.WithHTTPClient(s.httpClient()),
		// The host retries and falls back; a retry here would hide failures from it.
		option.WithMaxRetries(0),
		option.WithRequestTimeout(s.timeout()),
		option.WithHeader("x-api-key", key),
		option.WithHeader("anthropic-version", s.AnthropicVersion),
	}
	if len(s.Beta) > 0 {
		opts = append(opts, option.WithHeader("anthropic-beta", strings.Join(s.Beta, ",")))
	}
	names := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		opts = append(opts, option.WithHeader(k, s.Headers[k]))
	}
	a.state.Store(&state{settings: s, client: sdk.NewClient(opts...), apiKey: key})
	return nil
}

// CheckHealth is cheap and makes no upstream call: the plugin is healthy once configured.
// Upstream health shows in the host's per-model error rates and circuit breakers.
func (a *Anthropic) CheckHealth(context.Context) error {
	if a.state.Load() == nil {
		return errors.New("anthropic: not configured")
	}
	return nil
}

func (a *Anthropic) configured() (*state, error) {
	st := a.state.Load()
	if st == nil {
		return nil, provider.NewError(provider.KindInternal, "anthropic: not configured")
	}
	return st, nil
}

// Complete sends one Messages API request and translates the answer; a client's own
// Messages body is forwarded as is (messages.go).
func (a *Anthropic) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	st, err := a.configured()
	if err != nil {
		return nil, err
	}
	if native(req) {
		return completeMessages(ctx, st, req)
	}
	if req.Endpoint == provider.EndpointCountTokens && len(req.RawBody) > 0 {
		return countTokens(ctx, st, req)
	}
	params, err := buildParams(req, &st.settings)
	if err != nil {
		return nil, err
	}
	msg, err := st.client.Messages.New(ctx, params)
	if err != nil {
		return nil, classify(ctx, err, st.apiKey)
	}
	return toResponse(msg, time.Now().Unix()), nil
}

// Stream sends a streaming Messages API request and forwards its deltas to out. The
// usage is returned whenever the upstream reported some, with or without an error.
func (a *Anthropic) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	st, err := a.configured()
	if err != nil {
		return nil, err
	}
	if native(req) {
		return streamMessages(ctx, st, req, out)
	}
	params, err := buildParams(req, &st.settings)
	if err != nil {
		return nil, err
	}
	stream := st.client.Messages.NewStreaming(ctx, params)
	defer stream.Close()
	tr := newStreamTranslator(time.Now().Unix())
	for stream.Next() {
		chunk := tr.event(stream.Current())
		if chunk == nil {
			continue
		}
		if err := out.Send(chunk); err != nil {
			e := provider.NewError(provider.KindCancelled, "anthropic: receiver gone")
			e.OutputStarted = true
			return tr.usage(), e
		}
		tr.sent = true
	}
	if err := stream.Err(); err != nil {
		e := classify(ctx, err, st.apiKey)
		e.OutputStarted = e.OutputStarted || tr.sent
		return tr.usage(), e
	}
	if !tr.stopped {
		if ctx.Err() != nil {
			e := classify(ctx, ctx.Err(), st.apiKey)
			e.OutputStarted = tr.sent
			return tr.usage(), e
		}
		e := provider.NewError(provider.KindUpstreamUnavailable, "anthropic: stream ended before message_stop")
		e.OutputStarted = tr.sent
		return tr.usage(), e
	}
	return tr.usage(), nil
}

var _ provider.Provider = (*Anthropic)(nil)
