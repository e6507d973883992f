package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

func TestConfigureRefuses(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		secrets  map[string]string
		wantErr  string
	}{
		{name: "unknown key", settings: `{"base_url":"http://x/v1","temprature":1}`, wantErr: `unknown field "temprature"`},
		{name: "unknown azure key", settings: `{"azure":{"endpoint":"https://x","api_version":"v","deployment":{}}}`, wantErr: `unknown field "deployment"`},
		{name: "not an object", settings: `[1]`, wantErr: "settings"},
		{name: "relative base_url", settings: `{"base_url":"localhost:11434/v1"}`, wantErr: "base_url must be an absolute http(s) URL"},
		{name: "base_url with query", settings: `{"base_url":"http://x/v1?a=b"}`, wantErr: "use \"query\""},
		{name: "base_url and azure", settings: `{"base_url":"http://x/v1","azure":{"endpoint":"https://x","api_version":"v"}}`, wantErr: "exclusive"},
		{name: "azure without api_version", settings: `{"azure":{"endpoint":"https://x.openai.azure.com"}}`, wantErr: "azure.api_version is required"},
		{name: "azure without endpoint", settings: `{"azure":{"api_version":"2024-10-21"}}`, wantErr: "azure.endpoint is required"},
		{name: "negative timeout", settings: `{"timeout_ms":-1}`, wantErr: "timeout_ms"},
		{name: "bad health_check", settings: `{"health_check":"ping"}`, wantErr: "health_check"},
		{name: "bad max_tokens_field", settings: `{"max_tokens_field":"tokens"}`, wantErr: "max_tokens_field"},
		{name: "unknown secret", settings: `{}`, secrets: map[string]string{"apikey": "sk-abc"}, wantErr: `unknown secret "apikey"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, stop, err := providertest.Connect(New())
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			err = p.Configure(context.Background(), provider.Config{Instance: "openai", Settings: json.RawMessage(tc.settings), Secrets: tc.secrets})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Configure error = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "sk-abc") {
				t.Errorf("error holds the secret: %v", err)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	s, err := parseSettings(json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.BaseURL != DefaultBaseURL || s.TimeoutMS != 600000 || s.MaxIdleConnsPerHost != 256 ||
		s.HealthCheck != "none" || s.MaxTokensField != "max_completion_tokens" {
		t.Errorf("defaults = %+v", s)
	}
	s, err = parseSettings(json.RawMessage(`{"base_url":"http://localhost:11434/v1/","max_idle_conns_per_host":32}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.BaseURL != "http://localhost:11434/v1" || s.MaxTokensField != "max_tokens" {
		t.Errorf("ollama settings = %+v", s)
	}
	tr := newTransport(s)
	if tr.MaxIdleConnsPerHost != 32 || tr.MaxIdleConns != 128 || tr.IdleConnTimeout != 90*time.Second || !tr.ForceAttemptHTTP2 {
		t.Errorf("transport: per host %d, total %d, idle %v, h2 %v", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tr.IdleConnTimeout, tr.ForceAttemptHTTP2)
	}
}

// TestEnvironmentIgnored checks that OPENAI_* variables of the plugin's environment (it
// inherits the host's) never reach the upstream: only settings and secrets count.
func TestEnvironmentIgnored(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-env-0123456789")
	t.Setenv("OPENAI_ORG_ID", "org-env")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Env: yes")
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, fixture(t, "completion.json"))
	})
	p := connect(t, settingsFor(up.URL, ""), nil)
	if _, err := p.Complete(context.Background(), &provider.Request{Model: "m", Messages: []provider.Message{{Role: "user", Content: "x"}}}); err != nil {
		t.Fatal(err)
	}
	h := up.last(t).Header
	for _, k := range []string{"Authorization", "OpenAI-Organization", "X-Env"} {
		if v := h.Get(k); v != "" {
			t.Errorf("%s = %q came from the environment", k, v)
		}
	}
}

func TestCheckHealth(t *testing.T) {
	models := `{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}`
	tests := []struct {
		name      string
		settings  string
		status    int
		wantCalls int
		wantErr   bool
	}{
		{name: "none makes no call", settings: "", wantCalls: 0},
		{name: "models ok", settings: `"health_check":"models"`, status: 200, wantCalls: 1},
		{name: "models refused", settings: `"health_check":"models"`, status: 401, wantCalls: 1, wantErr: true},
		{name: "models down", settings: `"health_check":"models"`, status: 503, wantCalls: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.status != 200 {
					// Some servers echo the key they were given.
					writeJSON(w, tc.status, []byte(`{"error":{"message":"no, not with `+r.Header.Get("Authorization")+`","type":"x","param":null,"code":null}}`))
					return
				}
				writeJSON(w, 200, []byte(models))
			})
			p := connect(t, settingsFor(up.URL, tc.settings), map[string]string{"api_key": "sk-test-123456789"})
			err := p.CheckHealth(context.Background())
			if (err != nil) != tc.wantErr {
				t.Errorf("CheckHealth = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				// "Not ok" travels in-band, which the host reads as an unhealthy plugin
				// that is alive, never as a broken one.
				pe := asError(t, err)
				if !strings.Contains(pe.Message, "health probe GET /models: ") || strings.Contains(pe.Message, "sk-test-123456789") {
					t.Errorf("message %q, want the probe named and the key redacted", pe.Message)
				}
			}
			got := up.requests()
			if len(got) != tc.wantCalls {
				t.Fatalf("upstream got %d calls, want %d", len(got), tc.wantCalls)
			}
			if tc.wantCalls == 1 && (got[0].Method != http.MethodGet || got[0].Path != "/v1/models" || got[0].Header.Get("Authorization") != "Bearer sk-test-123456789") {
				t.Errorf("upstream got %s %s auth %q", got[0].Method, got[0].Path, got[0].Header.Get("Authorization"))
			}
		})
	}
}

func TestNotConfigured(t *testing.T) {
	p, stop, err := providertest.Connect(New())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, err = p.Complete(context.Background(), &provider.Request{Model: "m"})
	if pe := asError(t, err); pe.Kind != provider.KindUnsupported {
		t.Errorf("kind = %s", pe.Kind)
	}
}

// TestCheckHealthSlowUpstream: a probe of an upstream that does not answer ends before the
// host's deadline and reports "not ok" in-band, so the plugin is not taken for a hung one.
func TestCheckHealthSlowUpstream(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		<-r.Context().Done()
	})
	p := connect(t, settingsFor(up.URL, `"health_check":"models"`), map[string]string{"api_key": "sk-test-123456789"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := p.CheckHealth(ctx)
	pe := asError(t, err)
	if !strings.Contains(pe.Message, "health probe GET /models: ") {
		t.Fatalf("CheckHealth = %v, want the probe's own in-band answer before the deadline", err)
	}
	if ctx.Err() != nil {
		t.Errorf("answered only after the caller's deadline: %v", err)
	}
}

func TestProbeTimeout(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		left time.Duration // until the caller's deadline; 0 for none
		want time.Duration
	}{
		{name: "no deadline", want: healthTimeout},
		{name: "far deadline", left: time.Minute, want: healthTimeout},
		{name: "host default of 2s", left: 2 * time.Second, want: 1500 * time.Millisecond},
		{name: "short deadline", left: 300 * time.Millisecond, want: 225 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tc.left))
				defer cancel()
			}
			if got := probeTimeout(ctx, now); got != tc.want {
				t.Errorf("probeTimeout = %s, want %s", got, tc.want)
			}
		})
	}
}
