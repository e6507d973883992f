package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/host/wire/embeddings"
	"github.com/switchyard-llm/switchyard/host/wire/responses"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// kinds is a fake provider that says which endpoints it serves, and embeds.
type kinds struct {
	*fakeProvider
	info  provider.Info
	dims  int // vectors answered per input; 0 answers one vector fewer than inputs
	count int64
	embed []*provider.EmbedRequest
}

func (k *kinds) Info() provider.Info { return k.info }

func (k *kinds) Embed(_ context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	k.embed = append(k.embed, req)
	out := &provider.EmbedResponse{Model: req.Model, Usage: &provider.Usage{PromptTokens: 7}}
	n := len(req.Input)
	if k.dims == 0 {
		n--
	}
	for i := 0; i < n; i++ {
		out.Data = append(out.Data, provider.Embedding{Index: i, Vector: make([]float32, max(k.dims, 1))})
	}
	return out, nil
}

func (k *kinds) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req.Endpoint == provider.EndpointCountTokens {
		k.fakeProvider.next(req)
		return &provider.Response{Usage: &provider.Usage{PromptTokens: k.count}}, nil
	}
	return k.fakeProvider.Complete(ctx, req)
}

func kindsEnv(t *testing.T, a, b *kinds) *Pipeline {
	t.Helper()
	cfg, err := config.Parse([]byte(testConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	return New(Options{Policy: PolicyFromConfig(cfg), Clock: newFakeClock(), Catalogue: NewCatalogue(cfg),
		Dispatchers: map[string]Dispatcher{"a": a, "b": b}, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

var (
	chatOnly   = provider.Info{}
	allKinds   = provider.Info{Endpoints: []string{provider.EndpointChat, provider.EndpointEmbeddings}}
	nativeResp = provider.Info{OpenAINative: true, Endpoints: []string{provider.EndpointChat, provider.EndpointResponses},
		NativeEndpoints: []string{provider.EndpointResponses}}
)

func embedCall(t *testing.T, body string) *Call {
	t.Helper()
	r, err := embeddings.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return &Call{ID: "req_1", Chat: r.Chat(), Priority: 5, Deadline: time.Now().Add(10 * time.Second),
		Embed: &provider.EmbedRequest{Input: r.Input, Dimensions: r.Dimensions}}
}

func wantCode(t *testing.T, werr *wire.Error, status int, code, param string) {
	t.Helper()
	if werr == nil || werr.Status != status || werr.Code != code || werr.Param != param {
		t.Fatalf("error %+v, want %d %s param %q", werr, status, code, param)
	}
}

// TestEmbedOnlyToTargetsThatServeIt: an embeddings call skips the targets whose plugin does
// not serve embeddings, falls back past an answer with a vector missing, and is refused
// when no target serves it.
func TestEmbedOnlyToTargetsThatServeIt(t *testing.T) {
	a, b := &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}, &kinds{fakeProvider: &fakeProvider{}, info: allKinds, dims: 3}
	p := kindsEnv(t, a, b)
	out, werr := p.Embed(context.Background(), embedCall(t, `{"model":"r","input":["x","y"]}`))
	if werr != nil || out.Target.Provider != "b" || len(out.Embedding.Data) != 2 || out.Fallbacks != 0 || out.CostUSD != 0 {
		t.Fatalf("%+v %v", out, werr)
	}
	if len(b.embed) != 1 || b.embed[0].Model != "up-small" || b.embed[0].ID != "req_1" {
		t.Errorf("b got %+v", b.embed)
	}

	short := &kinds{fakeProvider: &fakeProvider{}, info: allKinds}
	p = kindsEnv(t, short, b)
	out, werr = p.Embed(context.Background(), embedCall(t, `{"model":"r","input":["x","y"]}`))
	if werr != nil || out.Target.Provider != "b" || out.Fallbacks != 1 {
		t.Fatalf("an answer missing a vector must fall back: %+v %v", out, werr)
	}

	p = kindsEnv(t, a, &kinds{fakeProvider: &fakeProvider{}, info: chatOnly})
	_, werr = p.Embed(context.Background(), embedCall(t, `{"model":"r","input":"x"}`))
	wantCode(t, werr, http.StatusBadRequest, wire.CodeUnsupportedEndpointForModel, "model")
}

// TestNativeOnly: a Responses request that needs server-side state goes only to a target
// that serves Responses natively, with the client's bytes; with none it is a 400 naming
// the field, never a silent loss of the state.
func TestNativeOnly(t *testing.T) {
	cr, err := responses.Decode([]byte(`{"model":"r","input":"and then?","previous_response_id":"resp_1"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := &Call{ID: "req_1", Chat: cr, Priority: 5, Deadline: time.Now().Add(10 * time.Second)}
	a, b := &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}, &kinds{fakeProvider: &fakeProvider{}, info: nativeResp}
	out, werr := kindsEnv(t, a, b).Complete(context.Background(), c)
	if werr != nil || out.Target.Provider != "b" || !out.Native || a.callCount() != 0 {
		t.Fatalf("%+v %v", out, werr)
	}
	if got := b.lastCall(); got.Endpoint != provider.EndpointResponses || string(got.RawBody) != `{"model":"up-small","input":"and then?","previous_response_id":"resp_1"}` {
		t.Errorf("b got endpoint %q body %s", got.Endpoint, got.RawBody)
	}
	_, werr = kindsEnv(t, a, &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}).Complete(context.Background(), c)
	wantCode(t, werr, http.StatusBadRequest, wire.CodeUnsupportedEndpointForModel, "previous_response_id")

	// Without state to keep, the translating target serves it, with no raw body.
	cr, _ = responses.Decode([]byte(`{"model":"r","input":"hi"}`))
	out, werr = kindsEnv(t, a, b).Complete(context.Background(), &Call{ID: "req_2", Chat: cr, Deadline: time.Now().Add(10 * time.Second)})
	if werr != nil || out.Target.Provider != "a" || out.Native || a.lastCall().RawBody != nil || a.lastCall().Endpoint != provider.EndpointResponses {
		t.Fatalf("%+v %v", out, werr)
	}
}

// TestModelEndpoints: a model its plugin lists for embeddings only is no chat target.
func TestModelEndpoints(t *testing.T) {
	info := allKinds
	info.Models = []provider.ModelInfo{{ID: "up-small", Endpoints: []string{provider.EndpointEmbeddings}}}
	a, b := &kinds{fakeProvider: &fakeProvider{}, info: info}, &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}
	out, werr := kindsEnv(t, a, b).Complete(context.Background(), call(t, simple))
	if werr != nil || out.Target.Provider != "b" || a.callCount() != 0 || out.Fallbacks != 0 {
		t.Fatalf("%+v %v", out, werr)
	}
	if got := kindsEnv(t, a, b).ServesEndpoint(&Target{Provider: "a", Upstream: "up-small"}); len(got) != 1 || got[0] != "embeddings" {
		t.Errorf("ServesEndpoint = %v", got)
	}
}

// TestCountTokens asks the first target that counts natively, and reports none otherwise.
func TestCountTokens(t *testing.T) {
	counter := provider.Info{Endpoints: []string{provider.EndpointChat, provider.EndpointMessages, provider.EndpointCountTokens},
		NativeEndpoints: []string{provider.EndpointMessages, provider.EndpointCountTokens}}
	a, b := &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}, &kinds{fakeProvider: &fakeProvider{}, info: counter, count: 42}
	cr, err := wire.KeepBody([]byte(`{"model":"r","messages":[{"role":"user","content":"hi"}]}`), provider.EndpointMessages)
	if err != nil {
		t.Fatal(err)
	}
	cr.Model = "r"
	c := &Call{ID: "req_1", Chat: cr, Deadline: time.Now().Add(10 * time.Second)}
	n, tg, ok := kindsEnv(t, a, b).CountTokens(context.Background(), c)
	if !ok || n != 42 || tg.Provider != "b" || b.lastCall().Endpoint != provider.EndpointCountTokens || a.callCount() != 0 {
		t.Fatalf("%d %v %v", n, tg, ok)
	}
	if _, _, ok := kindsEnv(t, a, &kinds{fakeProvider: &fakeProvider{}, info: chatOnly}).CountTokens(context.Background(), c); ok {
		t.Error("no target counts natively: want the caller's estimate")
	}
}
