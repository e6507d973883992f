package openai

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func TestAzure(t *testing.T) {
	tests := []struct {
		name     string
		model    string
		stream   bool
		raw      string
		wantPath string
	}{
		{name: "mapped deployment", model: "gpt-4o", wantPath: "/openai/deployments/my-gpt4o-deployment/chat/completions"},
		{name: "unmapped model is the deployment", model: "gpt-4o-mini", wantPath: "/openai/deployments/gpt-4o-mini/chat/completions"},
		{name: "stream", model: "gpt-4o", stream: true, wantPath: "/openai/deployments/my-gpt4o-deployment/chat/completions"},
		{name: "raw body", model: "gpt-4o", raw: `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`, wantPath: "/openai/deployments/my-gpt4o-deployment/chat/completions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.stream {
					writeSSE(w, fixture(t, "stream_text.sse"))
				} else {
					writeJSON(w, 200, fixture(t, "completion.json"))
				}
			})
			settings := `{"azure":{"endpoint":` + quote(up.URL+"/") + `,"api_version":"2024-10-21","deployments":{"gpt-4o":"my-gpt4o-deployment"}},"headers":{"X-Extra":"v"}}`
			p := connect(t, settings, map[string]string{"api_key": "azure-key-0123456789"})
			req := &provider.Request{Model: tc.model, Stream: tc.stream, Messages: []provider.Message{{Role: "user", Content: "Hi"}}, RawBody: []byte(tc.raw)}
			var err error
			if tc.stream {
				_, err = p.Stream(context.Background(), req, &sink{})
			} else {
				_, err = p.Complete(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := up.last(t)
			if got.Method != http.MethodPost || got.Path != tc.wantPath || got.RawQuery != "api-version=2024-10-21" {
				t.Errorf("upstream got %s %s?%s, want POST %s?api-version=2024-10-21", got.Method, got.Path, got.RawQuery, tc.wantPath)
			}
			if k := got.Header.Get("api-key"); k != "azure-key-0123456789" {
				t.Errorf("api-key = %q", k)
			}
			if a := got.Header.Get("Authorization"); a != "" {
				t.Errorf("Authorization = %q, want none", a)
			}
			if x := got.Header.Get("X-Extra"); x != "v" {
				t.Errorf("X-Extra = %q", x)
			}
			if tc.raw != "" && string(got.Body) != tc.raw {
				t.Errorf("body = %s, want %s", got.Body, tc.raw)
			}
			if tc.raw == "" && !tc.stream {
				jsonEqual(t, "body", got.Body, `{"model":`+quote(tc.model)+`,"messages":[{"role":"user","content":"Hi"}]}`)
			}
		})
	}
}
