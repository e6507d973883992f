package anthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func anthropicError(typ, msg string) string {
	return `{"type":"error","error":{"type":"` + typ + `","message":` + quote(msg) + `},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`
}

func TestErrorClassification(t *testing.T) {
	reset := time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       provider.Kind
		retryAfter time.Duration // 0: none; otherwise the minimum expected
		msg        string
	}{
		{"rate limited with retry-after", 429, map[string]string{"retry-after": "12"},
			anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
			provider.KindRateLimited, 12 * time.Second, "per-minute rate limit"},
		{"rate limited with reset header only", 429, map[string]string{
			"anthropic-ratelimit-tokens-reset": reset, "anthropic-ratelimit-tokens-remaining": "0",
			"anthropic-ratelimit-requests-reset": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339), "anthropic-ratelimit-requests-remaining": "10"},
			anthropicError("rate_limit_error", "rate limited"), provider.KindRateLimited, 25 * time.Second, "rate limited"},
		{"overloaded 529", 529, nil, anthropicError("overloaded_error", "Overloaded"), provider.KindUpstreamUnavailable, 0, "Overloaded"},
		{"api_error 500", 500, nil, anthropicError("api_error", "Internal server error"), provider.KindUpstreamUnavailable, 0, "Internal server error"},
		{"gateway 502 without body", 502, nil, "", provider.KindUpstreamUnavailable, 0, "502"},
		{"timeout 504", 504, nil, anthropicError("timeout_error", "Request timed out"), provider.KindUpstreamTimeout, 0, "timed out"},
		{"prompt too long", 400, nil, anthropicError("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
			provider.KindContextLengthExceeded, 0, "prompt is too long"},
		{"invalid request", 400, nil, anthropicError("invalid_request_error", "max_tokens: Field required"), provider.KindInvalidRequest, 0, "max_tokens"},
		{"credit balance", 400, nil, anthropicError("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."),
			provider.KindQuotaExhausted, 0, "credit balance"},
		{"billing_error 402", 402, nil, anthropicError("billing_error", "billing issue"), provider.KindQuotaExhausted, 0, "billing"},
		{"authentication 401", 401, nil, anthropicError("authentication_error", "invalid x-api-key"), provider.KindAuthentication, 0, "invalid x-api-key"},
		{"permission 403", 403, nil, anthropicError("permission_error", "Your API key does not have permission to use the specified resource."), provider.KindPermissionDenied, 0, "permission"},
		{"not found 404", 404, nil, anthropicError("not_found_error", "model: claude-nope"), provider.KindNotFound, 0, "claude-nope"},
		{"request too large 413", 413, nil, anthropicError("request_too_large", "Request exceeds the maximum allowed number of bytes."), provider.KindInvalidRequest, 0, "maximum allowed"},
		{"key echoed by the upstream", 401, nil, anthropicError("authentication_error", "invalid x-api-key: "+testKey), provider.KindAuthentication, 0, "invalid x-api-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.status, tt.body)
			})
			p := connect(t, up.URL, "")
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = p.Stream(ctxT(t), userReq("claude-test", "hi"), &sink{})
				} else {
					_, err = p.Complete(ctxT(t), userReq("claude-test", "hi"))
				}
				pe := asError(t, err)
				if pe.Kind != tt.kind || pe.UpstreamStatus != tt.status || !strings.Contains(pe.Message, tt.msg) {
					t.Errorf("stream=%v: got %s (%d) %q; want %s (%d) containing %q", stream, pe.Kind, pe.UpstreamStatus, pe.Message, tt.kind, tt.status, tt.msg)
				}
				if pe.Retryable != tt.kind.DefaultRetryable() {
					t.Errorf("stream=%v: retryable = %v", stream, pe.Retryable)
				}
				if tt.retryAfter == 0 && pe.RetryAfter != 0 || tt.retryAfter > 0 && (pe.RetryAfter < tt.retryAfter || pe.RetryAfter > tt.retryAfter+10*time.Second) {
					t.Errorf("stream=%v: retry after = %v, want about %v", stream, pe.RetryAfter, tt.retryAfter)
				}
				if strings.Contains(pe.Error(), testKey) {
					t.Errorf("stream=%v: the API key leaks in %q", stream, pe.Error())
				}
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	up := newUpstream(t, nil)
	url := up.URL
	up.Close()
	p := connect(t, url, "")
	_, err := p.Complete(ctxT(t), userReq("claude-test", "hi"))
	pe := asError(t, err)
	if pe.Kind != provider.KindUpstreamUnavailable || !pe.Retryable || strings.Contains(pe.Message, testKey) {
		t.Errorf("got %s retryable=%v %q", pe.Kind, pe.Retryable, pe.Message)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		secrets  map[string]string
		want     string // "" means success
	}{
		{"defaults", `{}`, map[string]string{"api_key": "k"}, ""},
		{"every key", `{"base_url":"https://api.anthropic.com","anthropic_version":"2023-06-01","beta":["prompt-caching-2024-07-31"],"headers":{"x-a":"b"},"default_max_tokens":4096,"timeout_ms":600000,"max_idle_conns_per_host":256}`,
			map[string]string{"api_key": "k"}, ""},
		{"unknown key", `{"base_url":"https://api.anthropic.com","max_tokens":5}`, map[string]string{"api_key": "k"}, `unknown field "max_tokens"`},
		{"missing api key", `{}`, nil, "api_key is required"},
		{"unknown secret", `{}`, map[string]string{"api_key": "k", "token": "t"}, "unknown secret(s) token"},
		{"bad base_url", `{"base_url":"api.anthropic.com"}`, map[string]string{"api_key": "k"}, "base_url"},
		{"negative max tokens", `{"default_max_tokens":-1}`, map[string]string{"api_key": "k"}, "default_max_tokens"},
		{"reserved header", `{"headers":{"X-Api-Key":"other"}}`, map[string]string{"api_key": "k"}, "cannot be overridden"},
		{"wrong type", `{"timeout_ms":"10s"}`, map[string]string{"api_key": "k"}, "timeout_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New().Configure(context.Background(), provider.Config{Instance: "anthropic", Settings: json.RawMessage(tt.settings), Secrets: tt.secrets})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Configure: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Configure: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestInfoAndHealth(t *testing.T) {
	a := New()
	if err := a.CheckHealth(context.Background()); err == nil {
		t.Error("CheckHealth before Configure: ok, want an error")
	}
	up := newUpstream(t, func(http.ResponseWriter, *http.Request, map[string]any) { t.Error("CheckHealth called the upstream") })
	p := connect(t, up.URL, "")
	info, err := p.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "anthropic" || info.OpenAINative || strings.Join(info.Capabilities, ",") != "stream,tools,vision" {
		t.Errorf("info = %+v", info)
	}
	if err := p.CheckHealth(context.Background()); err != nil {
		t.Errorf("CheckHealth: %v", err)
	}
}
