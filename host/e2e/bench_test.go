package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/host/providers"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// BenchmarkPluginRoundTrip is one Complete through a supervised mock plugin running as a
// real subprocess: gRPC, protobuf and the plugin's own work, no HTTP.
func BenchmarkPluginRoundTrip(b *testing.B) {
	s, err := providers.Start(context.Background(), providers.Spec{
		Name: "mock", Path: built(b, "plugins/switchyard-provider-mock"), Settings: []byte(`{"chunk_delay_ms":0}`),
	}, providers.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	req := &provider.Request{ID: "bench", Model: "mock-small", Messages: []provider.Message{{Role: "user", Content: strings.Repeat("word ", 200)}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Complete(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouterRequest is one whole non-streaming request through the built router
// (HTTP, parsing, the tiered Go rule with its deadline on, the plugin hop, encoding) against
// the mock plugin; BenchmarkRouterRequest/no-rule leaves the rule out.
func BenchmarkRouterRequest(b *testing.B) {
	tiered := built(b, "rules/tiered.wasm")
	for _, bc := range []struct{ name, rules string }{
		{"tiered-rule", "rules:\n  - {name: tiered, module: " + tiered + "}\n"},
		{"no-rule", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := strings.ReplaceAll(baseConfig(b, bc.rules), "chunk_delay_ms: 2", "chunk_delay_ms: 0")
			r := startRouter(b, cfg)
			body := `{"model":"default","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"` + strings.Repeat("word ", 150) + `"}]}`
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := client.Post(r.base+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
