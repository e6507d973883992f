package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/metrics"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// benchProvider answers at once: a 1 KB answer, or a stream of chunks deltas. It speaks
// OpenAI natively, like the openai plugin, so the pipeline builds the raw body too.
type benchProvider struct {
	content string
	chunks  int
}

func (f *benchProvider) Complete(_ context.Context, req *provider.Request) (*provider.Response, error) {
	return &provider.Response{ID: "chatcmpl-bench", Model: req.Model, Created: 1700000000,
		Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: f.content}, FinishReason: "stop"}},
		Usage:   &provider.Usage{PromptTokens: 260, CompletionTokens: 256}}, nil
}

func (f *benchProvider) Stream(_ context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	piece := f.content[:len(f.content)/f.chunks]
	for i := 0; i < f.chunks; i++ {
		c := &provider.Chunk{ID: "chatcmpl-bench", Model: req.Model, Choices: []provider.Delta{{Content: piece}}}
		if i == 0 {
			c.Choices[0].Role = "assistant"
		}
		if err := out.Send(c); err != nil {
			return nil, err
		}
	}
	if err := out.Send(&provider.Chunk{ID: "chatcmpl-bench", Model: req.Model, Choices: []provider.Delta{{FinishReason: "stop"}}}); err != nil {
		return nil, err
	}
	return &provider.Usage{PromptTokens: 260, CompletionTokens: 256}, nil
}

// Embed answers every input with the same 256-dimension vector.
func (f *benchProvider) Embed(_ context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	vec := make([]float32, 256)
	for i := range vec {
		vec[i] = float32(i) / 256
	}
	out := &provider.EmbedResponse{Model: req.Model, Usage: &provider.Usage{PromptTokens: 260}}
	for i := range req.Input {
		out.Data = append(out.Data, provider.Embedding{Index: i, Vector: vec})
	}
	return out, nil
}

func (f *benchProvider) Info() provider.Info {
	return provider.Info{OpenAINative: true, Endpoints: []string{provider.EndpointChat, provider.EndpointResponses,
		provider.EndpointMessages, provider.EndpointCompletions, provider.EndpointEmbeddings}}
}

// benchRules has no opinion, so the model's route is taken, after building the rule input.
type benchRules struct{}

func (benchRules) Evaluate(context.Context, *abi.Input) *abi.Result { return &abi.Result{} }

const benchConfig = `
providers:
  - {name: openai, plugin: /bin/true}
models:
  - {name: bench-small, provider: openai, model: gpt-bench, context_window: 128000, usd_per_mtok_in: 0.15, usd_per_mtok_out: 0.6}
routes:
  - {name: bench, targets: [bench-small]}
`

func benchServer(b *testing.B, extra string) *Server {
	b.Helper()
	cfg, err := config.Parse([]byte(benchConfig+extra), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	cat := pipeline.NewCatalogue(cfg)
	m.Prime(metrics.Labels{Models: cat.Names(), ProviderModels: [][2]string{{"openai", "bench-small"}}, Plugins: []string{"openai"}})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := pipeline.New(pipeline.Options{Policy: pipeline.PolicyFromConfig(cfg), Catalogue: cat, Metrics: m, Logger: log, Rules: benchRules{},
		Dispatchers: map[string]pipeline.Dispatcher{"openai": &benchProvider{content: strings.Repeat("lorem ipsum ", 85), chunks: 20}}})
	return New(NewState(cfg, p), Options{Metrics: m, Gatherer: reg, Logger: log})
}

// benchBody is a chat request of about 1 KB like the load test's.
func benchBody(stream bool) []byte {
	head := `{"model":"bench","max_tokens":256,`
	if stream {
		head += `"stream":true,"stream_options":{"include_usage":true},`
	}
	head += `"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`
	tail := `"}],"temperature":0.2,"user":"bench"}`
	return []byte(head + strings.Repeat("lorem ipsum ", (1024-len(head)-len(tail))/12) + tail)
}

// discardWriter is a ResponseWriter and Flusher that keeps nothing, so the benchmark
// measures the handler, not a recorder's buffer.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) Flush()                      {}

// SetWriteDeadline takes the client-write deadline, as net/http's writer does.
func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }

func benchHandler(b *testing.B, stream bool, extra string) {
	end := ""
	if stream {
		end = "data: [DONE]\n\n"
	}
	benchRoute(b, "/v1/chat/completions", benchBody(stream), end, extra)
}

// benchRoute measures one route's handler with body; the first answer must end with end.
func benchRoute(b *testing.B, path string, body []byte, end, extra string) {
	s := benchServer(b, extra)
	h := s.Handler()
	// Check once that the answer is what a client expects.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	if rec.Code != http.StatusOK || !strings.HasSuffix(rec.Body.String(), end) {
		b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Header.Set("Content-Type", "application/json")
	rd := bytes.NewReader(body)
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		clear(w.h)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkChatCompletion is the whole non-streaming handler: parse, rules input, the
// pipeline with a native dispatcher that answers at once, the encoded 1 KB answer, and the
// access log line (formatted by the text handler the router uses, written to io.Discard).
// The access-log-off case is the same handler without it: the difference is the log's cost.
func BenchmarkChatCompletion(b *testing.B) {
	b.Run("access-log-on", func(b *testing.B) { benchHandler(b, false, "") })
	b.Run("access-log-off", func(b *testing.B) { benchHandler(b, false, "log: {access: off}\n") })
}

// BenchmarkChatStream is a streamed answer of 20 content chunks, a finish and a usage chunk.
func BenchmarkChatStream(b *testing.B) { benchHandler(b, true, "") }

// BenchmarkEndpoints is a request of each API through the handler, whole and streamed,
// with bodies of about 1 KB like chat's: the other APIs' decoding into chat, and their
// answers' encoding, against chat's own path in the same run.
func BenchmarkEndpoints(b *testing.B) {
	text := strings.Repeat("lorem ipsum ", 80)
	bodies := []struct {
		name, path, body, end string
	}{
		{"chat", "/v1/chat/completions", string(benchBody(false)), "}"},
		{"responses", "/v1/responses", `{"model":"bench","max_output_tokens":256,"instructions":"You are terse.","input":"` + text + `","temperature":0.2}`, "}"},
		{"messages", "/v1/messages", `{"model":"bench","max_tokens":256,"system":"You are terse.","messages":[{"role":"user","content":"` + text + `"}],"temperature":0.2}`, "}"},
		{"completions", "/v1/completions", `{"model":"bench","max_tokens":256,"prompt":"` + text + `","temperature":0.2}`, "}"},
		{"embeddings", "/v1/embeddings", `{"model":"bench","input":["` + text + `"]}`, "}"},
		{"chat-stream", "/v1/chat/completions", string(benchBody(true)), "data: [DONE]\n\n"},
		{"responses-stream", "/v1/responses", `{"model":"bench","stream":true,"max_output_tokens":256,"input":"` + text + `"}`, "\n\n"},
		{"messages-stream", "/v1/messages", `{"model":"bench","stream":true,"max_tokens":256,"messages":[{"role":"user","content":"` + text + `"}]}`, "\n\n"},
		{"completions-stream", "/v1/completions", `{"model":"bench","stream":true,"max_tokens":256,"prompt":"` + text + `"}`, "data: [DONE]\n\n"},
	}
	for _, c := range bodies {
		b.Run(c.name, func(b *testing.B) { benchRoute(b, c.path, []byte(c.body), c.end, "log: {access: off}\n") })
	}
}
