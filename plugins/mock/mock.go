// Package mock is a deterministic provider for demos and tests: fixed models, answers
// derived from the request, a configurable pace, and failure injection by settings or by
// per-request metadata. See README.md for every knob.
package mock

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Version is the plugin's version, stamped by the build.
var Version = "dev"

// Models the mock serves, with their context windows. The chat models list no endpoints,
// so they serve every kind the plugin does (embeddings too); mock-embed serves only
// embeddings, like a real embedding model.
var models = []provider.ModelInfo{
	{ID: "mock-small", ContextWindow: 8192, Capabilities: []string{"stream", "tools", "json"}},
	{ID: "mock-large", ContextWindow: 128000, Capabilities: []string{"stream", "tools", "json"}},
	{ID: "mock-echo", ContextWindow: 32768, Capabilities: []string{"stream", "tools", "json"}},
	{ID: "mock-embed", ContextWindow: 8192, Endpoints: []string{provider.EndpointEmbeddings}},
}

// endpoints are the kinds the mock serves. It is native for none but chat: the host
// translates responses, messages and completions requests to chat for it, which is what
// the mock exists to exercise.
var endpoints = []string{
	provider.EndpointChat, provider.EndpointResponses, provider.EndpointMessages,
	provider.EndpointCompletions, provider.EndpointEmbeddings,
}

// Mock is the mock provider. The zero value is not usable; call New. It is safe for
// concurrent use.
type Mock struct {
	mu       sync.Mutex
	instance string
	settings Settings
	// failures counts the injected failures per failure spec, so fail_times holds per
	// process.
	failures map[string]int
	// hangHealth is set, for the rest of the process, by a request with mock.hang_health.
	hangHealth bool

	// exit ends the process for the crash mode; tests replace it.
	exit func(code int)
}

// New returns a Mock with default settings.
func New() *Mock {
	return &Mock{settings: defaultSettings(), failures: map[string]int{}, exit: os.Exit}
}

// Info describes the mock and its models.
func (m *Mock) Info(context.Context) (provider.Info, error) {
	return provider.Info{
		Name:         "mock",
		Version:      Version,
		Models:       models,
		Capabilities: []string{"stream", "tools", "json"},
		Endpoints:    endpoints,
	}, nil
}

// Configure takes the instance name and the settings (decoded strictly).
func (m *Mock) Configure(_ context.Context, cfg provider.Config) error {
	s, err := parseSettings(cfg.Settings)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.instance = cfg.Instance
	m.settings = s
	return nil
}

// CheckHealth is ok unless hang_health or fail_health is set.
func (m *Mock) CheckHealth(ctx context.Context) error {
	m.mu.Lock()
	hang := m.hangHealth || m.settings.HangHealth
	fail := m.settings.FailHealth
	m.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return fmt.Errorf("mock: configured unhealthy")
	}
	return nil
}

// plan is what one request will do.
type plan struct {
	s     Settings
	model provider.ModelInfo
	fail  string // the failure to inject, "" for none
}

// resolve applies the request's knobs, decides whether the request fails and finds its
// model: what chat and embeddings requests share. An *Error return is the request's
// in-band answer.
func (m *Mock) resolve(model string, md map[string]string) (plan, error) {
	m.mu.Lock()
	s, instance := m.settings, m.instance
	m.mu.Unlock()
	s, err := s.withMetadata(md)
	if err != nil {
		return plan{}, err
	}
	if s.HangHealth {
		m.mu.Lock()
		m.hangHealth = true
		m.mu.Unlock()
	}
	p := plan{s: s}
	if s.Fail != "" && inList(s.FailModels, model) && inList(s.FailInstances, instance) && m.countFailure(s) {
		p.fail = s.Fail
	}
	if provider.Kind(p.fail).Valid() {
		return p, injected(provider.Kind(p.fail), s.RetryAfterMs)
	}
	mi, ok := findModel(model)
	if !ok {
		return p, &provider.Error{Kind: provider.KindNotFound, UpstreamStatus: 404,
			Message: fmt.Sprintf("mock: the model %q does not exist", model)}
	}
	p.model = mi
	return p, nil
}

// prepare resolves a chat request and checks that its model serves chat and that the
// prompt fits the model's window.
func (m *Mock) prepare(req *provider.Request) (plan, error) {
	p, err := m.resolve(req.Model, req.Metadata)
	if err != nil {
		return p, err
	}
	if !serves(p.model, provider.EndpointChat) {
		// What OpenAI answers for an embedding model on the chat endpoint; not_found lets
		// the host fall back to a target that has a chat model.
		return p, &provider.Error{Kind: provider.KindNotFound, UpstreamStatus: 404,
			Message: fmt.Sprintf("mock: %s is not a chat model", req.Model)}
	}
	if n := promptTokens(req); n > p.model.ContextWindow {
		return p, &provider.Error{Kind: provider.KindContextLengthExceeded, UpstreamStatus: 400,
			Message: fmt.Sprintf("mock: this model's maximum context length is %d tokens, the request has %d", p.model.ContextWindow, n)}
	}
	if req.Logprobs && req.TopLogprobs != nil && (*req.TopLogprobs < 0 || *req.TopLogprobs > maxTopLogprobs) {
		return p, &provider.Error{Kind: provider.KindInvalidRequest, UpstreamStatus: 400,
			Message: fmt.Sprintf("mock: top_logprobs must be between 0 and %d, got %d", maxTopLogprobs, *req.TopLogprobs)}
	}
	return p, nil
}

// serves reports whether the model serves the endpoint kind (every kind when it lists
// none).
func serves(mi provider.ModelInfo, kind string) bool {
	return len(mi.Endpoints) == 0 || slices.Contains(mi.Endpoints, kind)
}

// countFailure reports whether this request is among the first fail_times matching ones.
func (m *Mock) countFailure(s Settings) bool {
	if s.FailTimes <= 0 {
		return true
	}
	key := strings.Join([]string{s.Fail, s.FailModels, s.FailInstances, fmt.Sprint(s.FailTimes)}, "|")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failures[key] >= s.FailTimes {
		return false
	}
	m.failures[key]++
	return true
}

func findModel(id string) (provider.ModelInfo, bool) {
	for _, mi := range models {
		if mi.ID == id {
			return mi, true
		}
	}
	return provider.ModelInfo{}, false
}

// upstreamStatus is the HTTP status a real upstream would have answered for each kind.
var upstreamStatus = map[provider.Kind]int{
	provider.KindInvalidRequest:        400,
	provider.KindAuthentication:        401,
	provider.KindPermissionDenied:      403,
	provider.KindNotFound:              404,
	provider.KindContextLengthExceeded: 400,
	provider.KindContentFiltered:       400,
	provider.KindRateLimited:           429,
	provider.KindQuotaExhausted:        429,
	provider.KindUpstreamUnavailable:   503,
	provider.KindUpstreamTimeout:       504,
	provider.KindUnsupported:           400,
	provider.KindInternal:              500,
	provider.KindCancelled:             499,
}

func injected(kind provider.Kind, retryAfterMs int) *provider.Error {
	e := provider.NewError(kind, "mock: injected %s failure", kind)
	e.UpstreamStatus = upstreamStatus[kind]
	if kind == provider.KindRateLimited || kind == provider.KindUpstreamUnavailable {
		e.RetryAfter = ms(retryAfterMs)
	}
	return e
}

func (m *Mock) crash(where string) {
	fmt.Fprintf(provider.Stderr(), "mock: injected crash %s\n", where)
	m.exit(2)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Complete answers the request as a whole.
func (m *Mock) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	p, err := m.prepare(req)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, ms(p.s.LatencyMs)); err != nil {
		return nil, err
	}
	switch p.fail {
	case failCrash:
		m.crash("during complete")
		return nil, fmt.Errorf("mock: crash")
	case failHang, failStall:
		<-ctx.Done()
		return nil, ctx.Err()
	case failMidStream:
		return nil, injected(provider.KindUpstreamUnavailable, p.s.RetryAfterMs)
	}
	a := answer(req, p)
	choice := provider.Choice{
		Message:      provider.Message{Role: "assistant", Content: a.text, ToolCalls: a.toolCalls},
		FinishReason: a.finish,
	}
	if req.Logprobs {
		choice.Logprobs = logprobsJSON(req.Model, topLogprobs(req), 0, wordsOf(a.text))
	}
	return &provider.Response{
		ID:                responseID(req),
		Model:             req.Model,
		Created:           time.Now().Unix(),
		Choices:           []provider.Choice{choice},
		Usage:             a.usage,
		SystemFingerprint: fingerprint(req.Model),
	}, nil
}

// Stream sends the answer word by word at the configured pace and always returns usage.
func (m *Mock) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	p, err := m.prepare(req)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, ms(p.s.LatencyMs)); err != nil {
		return nil, err
	}
	if p.fail == failHang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	a := answer(req, p)
	id, created, fp := responseID(req), time.Now().Unix(), fingerprint(req.Model)
	deltas := a.deltas()
	if req.Logprobs {
		withLogprobs(deltas, req.Model, topLogprobs(req))
	}
	sent := 0
	for i, d := range deltas {
		if sent == p.s.FailAfterChunks {
			switch p.fail {
			case failCrash:
				m.crash(fmt.Sprintf("after %d chunks", sent))
				return nil, fmt.Errorf("mock: crash")
			case failMidStream:
				e := injected(provider.KindUpstreamUnavailable, p.s.RetryAfterMs)
				e.Message = fmt.Sprintf("mock: injected failure after %d chunks", sent)
				return a.partialUsage(req, deltas[:i]), e
			case failStall:
				<-ctx.Done()
				return nil, ctx.Err()
			}
		}
		delay := p.s.ChunkDelayMs
		if i == 0 {
			delay = p.s.FirstTokenDelayMs
		}
		if err := sleep(ctx, ms(delay)); err != nil {
			return nil, err
		}
		if err := out.Send(&provider.Chunk{ID: id, Model: req.Model, Created: created, SystemFingerprint: fp, Choices: []provider.Delta{d}}); err != nil {
			return nil, err
		}
		sent++
	}
	switch p.fail {
	case failCrash:
		m.crash("at the end of the stream")
		return nil, fmt.Errorf("mock: crash")
	case failMidStream:
		return a.usage, injected(provider.KindUpstreamUnavailable, p.s.RetryAfterMs)
	case failStall:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return a.usage, nil
}

var (
	_ provider.Provider = (*Mock)(nil)
	_ provider.Embedder = (*Mock)(nil)
)
