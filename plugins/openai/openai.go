// Package openai is the provider plugin for OpenAI and every OpenAI-compatible server
// (Azure OpenAI, vLLM, Ollama, LM Studio, Groq, Together, OpenRouter...), built on the
// official client github.com/openai/openai-go/v3. See README.md.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Version is the plugin's version, stamped by the build.
var Version = "dev"

// capabilities of the plugin as a whole; the catalogue says what each model can do.
var capabilities = []string{"stream", "tools", "json", "vision"}

// endpoints are the client APIs the plugin serves, and nativeEndpoints those whose client
// body it forwards as is (the same APIs upstream). Anthropic's messages is left to the
// host's translation to chat.
var (
	endpoints = []string{provider.EndpointChat, provider.EndpointResponses,
		provider.EndpointCompletions, provider.EndpointEmbeddings}
	nativeEndpoints = []string{provider.EndpointChat, provider.EndpointResponses,
		provider.EndpointCompletions}
)

// Provider is the OpenAI-compatible provider. The zero value is ready for Configure. It is
// safe for concurrent use; a Configure replaces the client for the calls that follow.
type Provider struct {
	mu sync.RWMutex
	st *state
}

// New returns an unconfigured Provider.
func New() *Provider { return &Provider{} }

// state is everything Configure builds; it never changes afterwards.
type state struct {
	settings    Settings
	transport   *http.Transport
	chat        oai.ChatCompletionService
	responses   responses.ResponseService
	completions oai.CompletionService
	embeddings  oai.EmbeddingService
	models      oai.ModelService
	// secrets are removed from every error message: the API key and the configured
	// header and query values.
	secrets []string
}

// Info describes the plugin. It knows no models without configuration.
func (p *Provider) Info(context.Context) (provider.Info, error) {
	return provider.Info{
		Name:            "openai",
		Version:         Version,
		Capabilities:    capabilities,
		OpenAINative:    true,
		Endpoints:       endpoints,
		NativeEndpoints: nativeEndpoints,
	}, nil
}

// Configure decodes the settings strictly, checks the secrets and builds the client. It
// makes no upstream call.
func (p *Provider) Configure(_ context.Context, cfg provider.Config) error {
	s, err := parseSettings(cfg.Settings)
	if err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	key, err := parseSecrets(cfg.Secrets)
	if err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	st := newState(s, key)
	p.mu.Lock()
	old := p.st
	p.st = st
	p.mu.Unlock()
	if old != nil {
		old.transport.CloseIdleConnections()
	}
	return nil
}

// newTransport is tuned for many concurrent calls to one host: Go's default keeps only 2
// idle connections per host, which churns connections at high request rates.
func newTransport(s Settings) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * s.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   s.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// newState builds the openai-go services. They are built from explicit options only
// (not openai.NewClient, which also reads OPENAI_API_KEY, OPENAI_BASE_URL and more from
// the environment the plugin inherits from the host): one plugin instance must never send
// another's credentials.
func newState(s Settings, key string) *state {
	tr := newTransport(s)
	opts := []option.RequestOption{
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithMaxRetries(0), // the host retries, with its own budget and backoff
		option.WithRequestTimeout(s.timeout()),
	}
	if s.Azure != nil {
		opts = append(opts, option.WithQuery("api-version", s.Azure.APIVersion))
		if key != "" {
			opts = append(opts, option.WithHeader("api-key", key))
		}
	} else {
		opts = append(opts, option.WithBaseURL(s.BaseURL+"/"), option.WithAPIKey(key))
	}
	if s.Organization != "" {
		opts = append(opts, option.WithOrganization(s.Organization))
	}
	if s.Project != "" {
		opts = append(opts, option.WithProject(s.Project))
	}
	for k, v := range s.Headers {
		opts = append(opts, option.WithHeader(k, v))
	}
	for k, v := range s.Query {
		opts = append(opts, option.WithQuery(k, v))
	}
	st := &state{
		settings:    s,
		transport:   tr,
		chat:        oai.NewChatCompletionService(opts...),
		responses:   responses.NewResponseService(opts...),
		completions: oai.NewCompletionService(opts...),
		embeddings:  oai.NewEmbeddingService(opts...),
		models:      oai.NewModelService(opts...),
	}
	if key != "" {
		st.secrets = append(st.secrets, key)
	}
	for _, m := range []map[string]string{s.Headers, s.Query} {
		for _, v := range m {
			if len(v) >= 8 {
				st.secrets = append(st.secrets, v)
			}
		}
	}
	return st
}

var errNotConfigured = provider.NewError(provider.KindUnsupported, "openai: the plugin is not configured")

func (p *Provider) state() (*state, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.st == nil {
		return nil, errNotConfigured
	}
	return p.st, nil
}

// CheckHealth answers at once with health_check "none"; with "models" it lists the
// upstream's models, within 5 s and within three quarters of the time the host's deadline
// leaves, so that a slow or unreachable upstream is reported as "not ok" in time rather
// than making the plugin itself miss the deadline (which the host reads as a hung plugin).
func (p *Provider) CheckHealth(ctx context.Context) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	if st.settings.HealthCheck != "models" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(ctx, time.Now()))
	defer cancel()
	var failed *httpFailure
	opts := []option.RequestOption{option.WithMiddleware(captureFailures(&failed))}
	if az := st.settings.Azure; az != nil {
		opts = append(opts, option.WithBaseURL(az.Endpoint+"/openai/"))
	}
	if _, err := st.models.List(ctx, opts...); err != nil {
		e := *classify(ctx, err, failed, st.secrets) // a copy: classify may return a shared *Error
		e.Message = "health probe GET /models: " + e.Message
		return &e
	}
	return nil
}

// probeTimeout is how long the health probe may take: healthTimeout, or less when the
// caller's deadline is nearer, leaving a quarter of the time left for the answer.
func probeTimeout(ctx context.Context, now time.Time) time.Duration {
	d := healthTimeout
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, deadline.Sub(now)*3/4)
	}
	return d
}

// callOptions are the per-call options: Azure's paths and the failure capture. On Azure,
// chat, completions and embeddings live under the model's deployment; responses is one
// path for the resource, the deployment named by the body's model (see sendResponses).
func (st *state) callOptions(kind, model string, failed **httpFailure) []option.RequestOption {
	opts := []option.RequestOption{option.WithMiddleware(captureFailures(failed))}
	if az := st.settings.Azure; az != nil {
		if kind == provider.EndpointResponses {
			return append(opts, option.WithBaseURL(az.Endpoint+"/openai/"))
		}
		opts = append(opts, option.WithBaseURL(az.Endpoint+"/openai/deployments/"+url.PathEscape(st.deployment(model))+"/"))
	}
	return opts
}

// deployment is the Azure deployment of a model: the one settings map it to, else the
// model's own name.
func (st *state) deployment(model string) string {
	if dep := st.settings.Azure.Deployments[model]; dep != "" {
		return dep
	}
	return model
}

// nativeKind is the upstream API a request goes to as it is: responses or completions
// when the host sent the client's body of that API, else chat (typed fields, or a chat
// body). A body of an API the plugin is not native for is never forwarded (the typed
// fields, always a chat request, serve it).
func nativeKind(r *provider.Request) string {
	if len(r.RawBody) > 0 {
		switch r.Endpoint {
		case provider.EndpointResponses, provider.EndpointCompletions:
			return r.Endpoint
		}
	}
	return provider.EndpointChat
}

// chatRawBody is the chat body the host sent, nil when the request is typed only.
func chatRawBody(r *provider.Request) []byte {
	if r.Endpoint == "" || r.Endpoint == provider.EndpointChat {
		return r.RawBody
	}
	return nil
}

// bodyOptions returns the parameters and options that carry the request's body: the raw
// body when the host sent one, else the typed fields.
func (st *state) bodyOptions(r *provider.Request, stream bool) (oai.ChatCompletionNewParams, []option.RequestOption, error) {
	if raw := chatRawBody(r); len(raw) > 0 {
		opts, err := rawOptions(raw, stream, true)
		return oai.ChatCompletionNewParams{}, opts, err
	}
	params, err := buildParams(r, st.settings.MaxTokensField, stream)
	var opts []option.RequestOption
	if stream {
		opts = append(opts, option.WithJSONSet("stream", true))
	}
	return params, opts, err
}

// Complete sends one chat completion and maps the answer; a responses or completions body
// goes to that API instead (responses.go, completions.go).
func (p *Provider) Complete(ctx context.Context, r *provider.Request) (*provider.Response, error) {
	switch nativeKind(r) {
	case provider.EndpointResponses:
		return p.completeResponses(ctx, r)
	case provider.EndpointCompletions:
		return p.completeCompletions(ctx, r)
	}
	st, res, err := p.send(ctx, r, false)
	if err != nil {
		return nil, err
	}
	body, err := readBody(res)
	_ = res.Body.Close()
	if err != nil {
		return nil, classify(ctx, err, nil, st.secrets)
	}
	resp, err := decodeCompletion(body)
	if err != nil {
		return nil, classify(ctx, err, nil, st.secrets)
	}
	return resp, nil
}

// send makes the upstream call through openai-go and returns the raw response, whose
// body the caller decodes itself (see response.go) and must close. Errors are already
// classified.
func (p *Provider) send(ctx context.Context, r *provider.Request, stream bool) (*state, *http.Response, error) {
	st, err := p.state()
	if err != nil {
		return nil, nil, err
	}
	params, bodyOpts, err := st.bodyOptions(r, stream)
	if err != nil {
		return nil, nil, provider.NewError(provider.KindInvalidRequest, "openai: %v", err)
	}
	res, err := st.do(ctx, provider.EndpointChat, r.Model, bodyOpts, func(opts []option.RequestOption) error {
		_, err := st.chat.New(ctx, params, opts...)
		return err
	})
	return st, res, err
}

// do makes one upstream call of the kind through openai-go and returns the raw response,
// whose body the caller decodes itself (see response.go) and must close. call runs the
// service's method with the options it is given. Errors are already classified.
func (st *state) do(ctx context.Context, kind, model string, bodyOpts []option.RequestOption, call func([]option.RequestOption) error) (*http.Response, error) {
	var failed *httpFailure
	var res *http.Response
	opts := append(st.callOptions(kind, model, &failed), bodyOpts...)
	opts = append(opts, option.WithResponseBodyInto(&res))
	if err := call(opts); err != nil {
		return nil, classify(ctx, err, failed, st.secrets)
	}
	if res == nil || res.Body == nil {
		return nil, provider.NewError(provider.KindUpstreamUnavailable, "the upstream sent no answer")
	}
	return res, nil
}

// maxAnswer bounds a whole answer's body: more could not reach the host anyway.
const maxAnswer = provider.MaxMessageSize

// readBody reads a whole answer, in one allocation when its length is known.
// readJSON reads and closes an answer's body and decodes it into dst; it returns the body.
// Errors are classified.
func (st *state) readJSON(ctx context.Context, res *http.Response, dst any) ([]byte, error) {
	body, err := readBody(res)
	_ = res.Body.Close()
	if err == nil {
		err = json.Unmarshal(body, dst)
	}
	if err != nil {
		return nil, classify(ctx, err, nil, st.secrets)
	}
	return body, nil
}

func readBody(res *http.Response) ([]byte, error) {
	if n := res.ContentLength; n >= 0 && n <= maxAnswer {
		b := make([]byte, n)
		if _, err := io.ReadFull(res.Body, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	if err == nil && len(b) > maxAnswer {
		err = errAnswerTooLarge
	}
	return b, err
}

var errAnswerTooLarge = errors.New("the answer is larger than 64 MiB")

// Stream sends a streaming chat completion, forwards each chunk's deltas to out and
// returns the usage of the final usage chunk. A stream that ends without "data: [DONE]"
// before every choice finished is an upstream_unavailable error, never a clean end. A
// responses or completions body goes to that API instead (responses.go, completions.go).
func (p *Provider) Stream(ctx context.Context, r *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	switch nativeKind(r) {
	case provider.EndpointResponses:
		return p.streamResponses(ctx, r, out)
	case provider.EndpointCompletions:
		return p.streamCompletions(ctx, r, out)
	}
	// This is what ChatCompletionService.NewStreaming does, with a decoder that remembers
	// whether [DONE] came (NewStreaming ends the same way on [DONE] and on a cut
	// connection) and chunks decoded by the plugin (see response.go).
	st, res, err := p.send(ctx, r, true)
	if err != nil {
		return nil, err
	}
	dec := &doneDecoder{Decoder: ssestream.NewDecoder(res)}
	defer dec.Close()

	var usage *provider.Usage
	open := map[int64]bool{} // choices seen without a finish reason
	var c wireChunk
	for dec.Next() {
		ev := dec.Event()
		if isDone(ev.Data) {
			break
		}
		c = wireChunk{}
		if err := decodeChunk(ev, &c); err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		if c.Usage != nil {
			usage = usageFrom(c.Usage)
		}
		if len(c.Choices) == 0 {
			continue
		}
		for _, ch := range c.Choices {
			open[int64(ch.Index)] = ch.FinishReason == ""
		}
		if err := out.Send(chunkFrom(&c)); err != nil {
			return usage, provider.NewError(provider.KindCancelled, "the stream's receiver went away")
		}
	}
	if !dec.done {
		if err := dec.Err(); err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		if err := ctx.Err(); err != nil {
			return usage, classify(ctx, err, nil, st.secrets)
		}
		unfinished := len(open) == 0
		for _, o := range open {
			unfinished = unfinished || o
		}
		// A server that omits [DONE] after finishing every choice (and sending usage) has
		// still given the whole answer.
		if unfinished || usage == nil {
			return usage, provider.NewError(provider.KindUpstreamUnavailable, "the upstream's stream ended before data: [DONE]")
		}
	}
	return usage, nil
}

// decodeChunk decodes one event of a stream into c. An event with a top-level "error"
// (checked before the chunk's shape, as openai-go does) is an *ssestream.StreamError.
func decodeChunk(ev ssestream.Event, c *wireChunk) error {
	err := json.Unmarshal(ev.Data, c)
	if err != nil {
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(ev.Data, &e) == nil && e.Error != nil {
			c.Error = e.Error
		}
	}
	if c.Error != nil {
		return &ssestream.StreamError{Message: "received error while streaming: " + string(c.Error), Event: ev}
	}
	return err
}

// doneDecoder is an SSE decoder that remembers whether the stream's "[DONE]" event came.
type doneDecoder struct {
	ssestream.Decoder
	done bool
}

func (d *doneDecoder) Next() bool {
	if d.Decoder == nil {
		return false
	}
	ok := d.Decoder.Next()
	if ok && isDone(d.Decoder.Event().Data) {
		d.done = true
	}
	return ok
}

func (d *doneDecoder) Close() error {
	if d.Decoder == nil {
		return nil
	}
	return d.Decoder.Close()
}

func (d *doneDecoder) Err() error {
	if d.Decoder == nil {
		return errors.New("no stream decoder")
	}
	return d.Decoder.Err()
}

func isDone(data []byte) bool {
	return len(data) >= 6 && string(data[:6]) == "[DONE]"
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Embedder = (*Provider)(nil)
)
