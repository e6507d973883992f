package mock

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// embedder is the host side of the in-memory connection, which serves Embed too.
func embedder(t *testing.T, p provider.Provider) provider.Embedder {
	t.Helper()
	e, ok := p.(provider.Embedder)
	if !ok {
		t.Fatalf("%T does not implement provider.Embedder", p)
	}
	return e
}

func embedReq(model string, input ...string) *provider.EmbedRequest {
	return &provider.EmbedRequest{ID: "req_1", Model: model, Input: input}
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestInfoEndpoints(t *testing.T) {
	p := connect(t, "mock", "")
	info, err := p.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{provider.EndpointChat, provider.EndpointResponses, provider.EndpointMessages, provider.EndpointCompletions, provider.EndpointEmbeddings} {
		if !slices.Contains(info.Endpoints, k) {
			t.Errorf("Endpoints %v lack %q", info.Endpoints, k)
		}
		if k != provider.EndpointChat && info.Native(k) {
			t.Errorf("native for %q: the mock relies on the host's translation", k)
		}
	}
	var embed *provider.ModelInfo
	for i := range info.Models {
		if info.Models[i].ID == "mock-embed" {
			embed = &info.Models[i]
		}
	}
	if embed == nil || !slices.Equal(embed.Endpoints, []string{provider.EndpointEmbeddings}) {
		t.Errorf("mock-embed = %+v, want a model serving only embeddings", embed)
	}
}

func TestEmbed(t *testing.T) {
	p := connect(t, "mock", "")
	e := embedder(t, p)
	ctx := context.Background()
	texts := []string{"the cat sat on the mat", "a cat on a mat", "quarterly revenue grew", "", "the cat sat on the mat"}
	resp, err := e.Embed(ctx, embedReq("mock-embed", texts...))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "mock-embed" || len(resp.Data) != len(texts) {
		t.Fatalf("got model %q with %d vectors", resp.Model, len(resp.Data))
	}
	for i, d := range resp.Data {
		if d.Index != i || len(d.Vector) != defaultEmbeddingDimensions {
			t.Fatalf("data[%d]: index %d, %d dimensions", i, d.Index, len(d.Vector))
		}
		if n := norm(d.Vector); math.Abs(n-1) > 1e-5 {
			t.Errorf("data[%d]: norm %v, want 1", i, n)
		}
	}
	v := func(i int) []float32 { return resp.Data[i].Vector }
	if !slices.Equal(v(0), v(4)) {
		t.Error("the same text got two vectors")
	}
	if related, unrelated := cosine(v(0), v(1)), cosine(v(0), v(2)); related <= unrelated {
		t.Errorf("cosine with a text sharing words %v <= with an unrelated one %v", related, unrelated)
	}
	// Usage: ⌈len/4⌉ per input, at least 1.
	want := int64(6 + 4 + 6 + 1 + 6)
	if u := resp.Usage; u == nil || u.PromptTokens != want || u.TotalTokens != want || u.CompletionTokens != 0 {
		t.Errorf("usage = %+v, want %d prompt tokens", resp.Usage, want)
	}

	again, err := e.Embed(ctx, embedReq("mock-embed", texts[0]))
	if err != nil || !slices.Equal(again.Data[0].Vector, v(0)) {
		t.Fatalf("not a pure function of the text: %v", err)
	}
	other, err := e.Embed(ctx, embedReq("mock-small", texts[0]))
	if err != nil {
		t.Fatalf("a chat model serves embeddings too: %v", err)
	}
	if slices.Equal(other.Data[0].Vector, v(0)) {
		t.Error("two models gave the same vector")
	}
}

func TestEmbedDimensions(t *testing.T) {
	ctx := context.Background()
	e := embedder(t, connect(t, "mock", `{"embedding_dimensions":16}`))
	resp, err := e.Embed(ctx, embedReq("mock-embed", "hello world"))
	if err != nil || len(resp.Data[0].Vector) != 16 {
		t.Fatalf("setting: %v, %+v", err, resp)
	}
	long := resp.Data[0].Vector
	req := embedReq("mock-embed", "hello world")
	req.Dimensions = 4
	resp, err = e.Embed(ctx, req)
	if err != nil || len(resp.Data[0].Vector) != 4 {
		t.Fatalf("request: %v, %+v", err, resp)
	}
	// The short vector is the long one cut and renormalized.
	cut := long[:4]
	n := norm(cut)
	for i, x := range resp.Data[0].Vector {
		if math.Abs(float64(x)-float64(cut[i])/n) > 1e-5 {
			t.Fatalf("dimensions 4 = %v, want %v renormalized", resp.Data[0].Vector, cut)
		}
	}
	req.Extra = json.RawMessage(`{"metadata":{"mock.embedding_dimensions":"8"}}`)
	req.Dimensions = 0
	if resp, err = e.Embed(ctx, req); err != nil || len(resp.Data[0].Vector) != 8 {
		t.Fatalf("knob: %v, %+v", err, resp)
	}
}

func TestEmbedFailures(t *testing.T) {
	ctx := context.Background()
	e := embedder(t, connect(t, "mock-a", ""))
	withMD := func(md string, input ...string) *provider.EmbedRequest {
		r := embedReq("mock-embed", input...)
		r.Extra = json.RawMessage(`{"metadata":` + md + `}`)
		return r
	}
	tests := []struct {
		name   string
		req    *provider.EmbedRequest
		kind   provider.Kind
		status int
	}{
		{name: "no input", req: embedReq("mock-embed"), kind: provider.KindInvalidRequest, status: 400},
		{name: "too many inputs", req: embedReq("mock-embed", make([]string, maxEmbeddingInputs+1)...), kind: provider.KindInvalidRequest, status: 400},
		{name: "too many dimensions", req: &provider.EmbedRequest{Model: "mock-embed", Input: []string{"x"}, Dimensions: maxEmbeddingDimensions + 1}, kind: provider.KindInvalidRequest, status: 400},
		{name: "unknown model", req: embedReq("text-embedding-3-small", "x"), kind: provider.KindNotFound, status: 404},
		{name: "input over the window", req: embedReq("mock-embed", "x", string(make([]byte, 4*8193))), kind: provider.KindContextLengthExceeded, status: 400},
		{name: "injected kind", req: withMD(`{"mock.fail":"rate_limited","mock.retry_after_ms":250}`, "x"), kind: provider.KindRateLimited, status: 429},
		{name: "injected for this instance", req: withMD(`{"mock.fail":"upstream_timeout","mock.fail_instances":"mock-a"}`, "x"), kind: provider.KindUpstreamTimeout, status: 504},
		{name: "mid_stream fails at once", req: withMD(`{"mock.fail":"mid_stream"}`, "x"), kind: provider.KindUpstreamUnavailable, status: 503},
		{name: "bad knob", req: withMD(`{"mock.embedding_dimensions":"0"}`, "x"), kind: provider.KindInvalidRequest},
		{name: "metadata not an object", req: &provider.EmbedRequest{Model: "mock-embed", Input: []string{"x"}, Extra: json.RawMessage(`{"metadata":[1]}`)}, kind: provider.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Embed(ctx, tt.req)
			pe := asError(t, err)
			if pe.Kind != tt.kind || (tt.status != 0 && pe.UpstreamStatus != tt.status) {
				t.Fatalf("got %+v, want %s (%d)", pe, tt.kind, tt.status)
			}
		})
	}
	t.Run("other instance is spared", func(t *testing.T) {
		if _, err := e.Embed(ctx, withMD(`{"mock.fail":"rate_limited","mock.fail_instances":"mock-b"}`, "x")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		resp, err := e.Embed(ctx, withMD(`{"mock.fail":"empty"}`, "x", "y"))
		if err != nil || len(resp.Data) != 0 {
			t.Fatalf("got %+v, %v; want an answer without vectors", resp, err)
		}
	})
	t.Run("hang until cancelled", func(t *testing.T) {
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := e.Embed(hctx, withMD(`{"mock.fail":"hang"}`, "x"))
			done <- err
		}()
		cancel()
		if pe := asError(t, <-done); pe.Kind != provider.KindCancelled {
			t.Fatalf("got %+v", pe)
		}
	})
	t.Run("chat on the embeddings model", func(t *testing.T) {
		_, err := connect(t, "mock", "").Complete(ctx, userReq("mock-embed", "hi", nil))
		if pe := asError(t, err); pe.Kind != provider.KindNotFound {
			t.Fatalf("got %+v", pe)
		}
	})
}

func TestEmbedCrash(t *testing.T) {
	m := New()
	code := -1
	m.exit = func(c int) { code = c }
	req := embedReq("mock-embed", "x")
	req.Extra = json.RawMessage(`{"metadata":{"mock.fail":"crash"}}`)
	if _, err := m.Embed(context.Background(), req); err == nil || code != 2 {
		t.Fatalf("err %v, exit code %d; want a crash with status 2", err, code)
	}
}

func TestEmbeddingSettings(t *testing.T) {
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, s := range []string{`{"embedding_dimensions":0}`, `{"embedding_dimensions":4097}`, `{"embedding_dimensions":"64"}`} {
		if err := p.Configure(context.Background(), provider.Config{Settings: json.RawMessage(s)}); err == nil {
			t.Errorf("settings %s accepted", s)
		}
	}
}

type lpEntry struct {
	Token       string  `json:"token"`
	Logprob     float64 `json:"logprob"`
	Bytes       []int   `json:"bytes"`
	TopLogprobs []struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
	} `json:"top_logprobs"`
}

func decodeLogprobs(t *testing.T, raw json.RawMessage) []lpEntry {
	t.Helper()
	var obj struct {
		Content []lpEntry        `json:"content"`
		Refusal *json.RawMessage `json:"refusal"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		t.Fatalf("logprobs %s: %v", raw, err)
	}
	return obj.Content
}

func TestLogprobsAndFingerprint(t *testing.T) {
	p := connect(t, "mock", `{"chunk_delay_ms":0}`)
	ctx := context.Background()
	top := int32(3)
	req := userReq("mock-small", "tell me something", nil)
	req.Logprobs, req.TopLogprobs = true, &top

	resp, err := p.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.SystemFingerprint == "" || resp.SystemFingerprint != fingerprint("mock-small") {
		t.Errorf("system_fingerprint = %q", resp.SystemFingerprint)
	}
	entries := decodeLogprobs(t, resp.Choices[0].Logprobs)
	var text string
	for _, e := range entries {
		text += e.Token
		if len(e.TopLogprobs) != 3 || e.TopLogprobs[0].Token != e.Token || e.Logprob > 0 || string(rune(e.Bytes[0])) != e.Token[:1] {
			t.Fatalf("entry %+v", e)
		}
		for i := 1; i < len(e.TopLogprobs); i++ {
			if e.TopLogprobs[i].Logprob >= e.TopLogprobs[i-1].Logprob || e.TopLogprobs[i].Token == e.Token {
				t.Fatalf("top_logprobs not decreasing or repeating the token: %+v", e.TopLogprobs)
			}
		}
	}
	if text != resp.Choices[0].Message.Content {
		t.Errorf("logprob tokens spell %q, the answer is %q", text, resp.Choices[0].Message.Content)
	}
	again, err := p.Complete(ctx, req)
	if err != nil || string(again.Choices[0].Logprobs) != string(resp.Choices[0].Logprobs) {
		t.Errorf("logprobs not deterministic: %v", err)
	}

	// The stream's logprobs, delta by delta, are the whole answer's.
	var chunks []*provider.Chunk
	if _, err := p.Stream(ctx, req, senderFunc(func(c *provider.Chunk) error { chunks = append(chunks, c); return nil })); err != nil {
		t.Fatal(err)
	}
	var streamed []lpEntry
	for _, c := range chunks {
		if c.SystemFingerprint != resp.SystemFingerprint {
			t.Errorf("chunk system_fingerprint = %q, want %q", c.SystemFingerprint, resp.SystemFingerprint)
		}
		for _, d := range c.Choices {
			if d.Content == "" {
				if d.Logprobs != nil {
					t.Errorf("delta without content has logprobs %s", d.Logprobs)
				}
				continue
			}
			streamed = append(streamed, decodeLogprobs(t, d.Logprobs)...)
		}
	}
	gb, _ := json.Marshal(streamed)
	wb, _ := json.Marshal(entries)
	if string(gb) != string(wb) {
		t.Errorf("stream logprobs:\n got %s\nwant %s", gb, wb)
	}

	req.Logprobs = false
	if resp, err := p.Complete(ctx, req); err != nil || resp.Choices[0].Logprobs != nil {
		t.Errorf("logprobs without asking: %v %s", err, resp.Choices[0].Logprobs)
	}
	req.Logprobs, top = true, 21
	_, err = p.Complete(ctx, req)
	if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest {
		t.Errorf("top_logprobs 21: got %+v", pe)
	}
}

type senderFunc func(*provider.Chunk) error

func (f senderFunc) Send(c *provider.Chunk) error { return f(c) }
