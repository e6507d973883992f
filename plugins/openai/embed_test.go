package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func embedderOf(t *testing.T, p provider.Provider) provider.Embedder {
	t.Helper()
	e, ok := p.(provider.Embedder)
	if !ok {
		t.Fatalf("%T does not implement provider.Embedder", p)
	}
	return e
}

// The vectors of the embeddings fixtures, as float32 (what both encodings carry).
var (
	vector0 = []float32{0.0023064255, -0.009327292, 0.015797347, -0.0077780345}
	vector1 = []float32{-0.0069352793, 0.021527767, -0.003189013, 0.011208451}
)

func TestEmbed(t *testing.T) {
	tests := []struct {
		name, settings, fixture, wantFormat string
	}{
		{name: "base64 by default", fixture: "embeddings_base64.json", wantFormat: "base64"},
		{name: "float by setting, out of order", settings: `"embedding_encoding_format":"float"`, fixture: "embeddings_float.json", wantFormat: "float"},
		{name: "a server that ignores base64", fixture: "embeddings_float.json", wantFormat: "base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, fixture(t, tc.fixture)) })
			e := embedderOf(t, connect(t, settingsFor(up.URL, tc.settings), map[string]string{"api_key": "sk-test-123456789"}))
			resp, err := e.Embed(context.Background(), &provider.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"hello", "world"},
				Dimensions: 4, User: "u-1", Extra: json.RawMessage(`{"encoding_format":"float","x_vendor":{"a":1}}`)})
			if err != nil {
				t.Fatal(err)
			}
			want := &provider.EmbedResponse{Model: "text-embedding-3-small",
				Data:  []provider.Embedding{{Index: 0, Vector: vector0}, {Index: 1, Vector: vector1}},
				Usage: &provider.Usage{PromptTokens: 8, TotalTokens: 8}}
			if !reflect.DeepEqual(resp, want) {
				t.Errorf("got  %+v\nwant %+v", resp, want)
			}
			got := up.last(t)
			if got.Path != "/v1/embeddings" || got.Header.Get("Authorization") != "Bearer sk-test-123456789" {
				t.Errorf("upstream got %s auth %q", got.Path, got.Header.Get("Authorization"))
			}
			jsonEqual(t, "upstream body", got.Body, `{"model":"text-embedding-3-small","input":["hello","world"],"dimensions":4,"user":"u-1",
				"encoding_format":`+quote(tc.wantFormat)+`,"x_vendor":{"a":1}}`)
		})
	}
}

func TestEmbedFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		kind   provider.Kind
	}{
		{name: "429", status: 429, header: map[string]string{"retry-after": "3"}, kind: provider.KindRateLimited,
			body: `{"error":{"message":"Rate limit reached for text-embedding-3-small","type":"requests","param":null,"code":"rate_limit_exceeded"}}`},
		{name: "400 too long", status: 400, kind: provider.KindContextLengthExceeded,
			body: `{"error":{"message":"This model's maximum context length is 8192 tokens, however you requested 9000 tokens.","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "401 echoes the key", status: 401, kind: provider.KindAuthentication,
			body: `{"error":{"message":"Incorrect API key provided: ` + testKey + `","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{name: "one vector for two inputs", status: 200, kind: provider.KindUpstreamUnavailable,
			body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"m"}`},
		{name: "repeated index", status: 200, kind: provider.KindUpstreamUnavailable,
			body: `{"object":"list","data":[{"index":0,"embedding":[0.1]},{"index":0,"embedding":[0.2]}],"model":"m"}`},
		{name: "base64 that is not float32s", status: 200, kind: provider.KindUpstreamUnavailable,
			body: `{"object":"list","data":[{"index":0,"embedding":"AAA="},{"index":1,"embedding":"AAAAAA=="}],"model":"m"}`},
		{name: "not JSON", status: 200, kind: provider.KindUpstreamUnavailable, body: `<html>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, []byte(tc.body))
			})
			e := embedderOf(t, connect(t, settingsFor(up.URL, ""), map[string]string{"api_key": testKey}))
			_, err := e.Embed(context.Background(), &provider.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
			pe := asError(t, err)
			if pe.Kind != tc.kind || pe.Retryable != tc.kind.DefaultRetryable() {
				t.Errorf("got %+v, want %s", pe, tc.kind)
			}
			if tc.status >= 400 && pe.UpstreamStatus != tc.status {
				t.Errorf("upstream status %d", pe.UpstreamStatus)
			}
			if tc.name == "429" && pe.RetryAfter.Seconds() != 3 {
				t.Errorf("retry after %v", pe.RetryAfter)
			}
			if strings.Contains(pe.Message, testKey) {
				t.Errorf("the key leaked: %q", pe.Message)
			}
		})
	}
	t.Run("no input, no call", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
		_, err := embedderOf(t, connect(t, settingsFor(up.URL, ""), nil)).Embed(context.Background(), &provider.EmbedRequest{Model: "m"})
		if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest || len(up.requests()) != 0 {
			t.Errorf("got %+v after %d calls", pe, len(up.requests()))
		}
	})
	t.Run("extra not an object", func(t *testing.T) {
		_, err := embedderOf(t, connect(t, `{}`, nil)).Embed(context.Background(), &provider.EmbedRequest{Model: "m", Input: []string{"a"}, Extra: json.RawMessage(`[1]`)})
		if pe := asError(t, err); pe.Kind != provider.KindInvalidRequest {
			t.Errorf("got %+v", pe)
		}
	})
}

func TestEmbedAzure(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "embeddings_base64.json"))
	})
	settings := `{"azure":{"endpoint":` + quote(up.URL) + `,"api_version":"2024-10-21","deployments":{"text-embedding-3-small":"emb"}}}`
	_, err := embedderOf(t, connect(t, settings, map[string]string{"api_key": "azure-key-0123456789"})).Embed(context.Background(),
		&provider.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.last(t); got.Path != "/openai/deployments/emb/embeddings" || got.RawQuery != "api-version=2024-10-21" || got.Header.Get("api-key") != "azure-key-0123456789" {
		t.Errorf("upstream got %s?%s", got.Path, got.RawQuery)
	}
}

func TestEmbeddingEncodingSetting(t *testing.T) {
	if _, err := parseSettings(json.RawMessage(`{"embedding_encoding_format":"binary"}`)); err == nil || !strings.Contains(err.Error(), "embedding_encoding_format") {
		t.Errorf("err = %v", err)
	}
	if s, err := parseSettings(json.RawMessage(`{}`)); err != nil || s.EmbeddingEncodingFormat != "base64" {
		t.Errorf("default = %q, %v", s.EmbeddingEncodingFormat, err)
	}
}
