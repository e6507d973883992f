package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientDisconnectCancelsUpstream streams from a fake OpenAI upstream through the real
// OpenAI-compatible plugin; when the client goes away after the first chunk, the upstream
// request is cancelled: the plugin's work stops instead of running to the end.
//
// The upstream would stream for a minute, its chunks come far more often than stream_idle,
// and timeouts.total is set longer still, so an upstream that sees its request cancelled
// within patience (30 s) can only have been cancelled because the client left. How soon
// that happened is logged, not judged.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for i := 0; i < 600; i++ { // a minute of words, unless cancelled
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	defer upstream.Close()

	plugin := built(t, "plugins/switchyard-provider-openai")
	r := startRouter(t, fmt.Sprintf(`
providers:
  - name: up
    plugin: %s
    settings: {base_url: %s/v1}
    secrets: {api_key: sk-test-not-real}
models:
  - {name: up-model, provider: up, model: up, context_window: 8192}
timeouts: {total: 5m}
`, plugin, upstream.URL))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/chat/completions",
		strings.NewReader(`{"model":"up-model","stream":true,"messages":[{"role":"user","content":"talk"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: {") {
			break // the first chunk arrived: now leave
		}
	}
	left := time.Now()
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
		t.Logf("the upstream saw the cancellation %s after the client left", time.Since(left))
	case <-time.After(patience):
		t.Fatalf("the upstream request was not cancelled within %s of the client going away", patience)
	}
	waitFor(t, "the cancellation counted", patience, func() bool {
		v, _ := r.metric(`switchyard_provider_requests_total{model="up-model",outcome="cancelled",provider="up"}`)
		return v == 1
	})
}
