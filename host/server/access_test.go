package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// accessLines returns the access log lines ("request") among a test's JSON log lines.
func accessLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestAccessLog(t *testing.T) {
	const content = "the launch codes are 0000"
	e := newTestEnv(t, keysConfig, Options{})
	body := `{"model":"default","messages":[{"role":"user","content":"` + content + `"}]}`
	rec := e.do("POST", "/v1/chat/completions", body, "Authorization", "Bearer "+secretA,
		HeaderRequestID, "trace-42", "User-Agent", "client-header-value-ua", "X-Custom", "client-header-value-custom")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	logs := e.logs.String()
	lines := accessLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d access lines, want 1:\n%s", len(lines), logs)
	}
	l := lines[0]
	want := map[string]any{"level": "INFO", "request_id": "trace-42", "key": "team-a", "endpoint": "chat.completions",
		"route": "default", "rule": "default", "provider": "a", "model": "small", "status": 200.0, "code": "",
		"attempts": 1.0, "fallbacks": 0.0, "tokens_in": 1000.0, "tokens_out": 500.0, "cost_usd": 0.002}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, l[k], l[k], v)
		}
	}
	for _, k := range []string{"latency_ms", "overhead_ms"} {
		if v, ok := l[k].(float64); !ok || v < 0 {
			t.Errorf("%s = %v", k, l[k])
		}
	}
	if _, ok := l["ttft_ms"]; ok {
		t.Errorf("a whole answer has a ttft_ms: %v", l)
	}
	for _, never := range []string{secretA, secretA[:12], content, "client-header-value", "Bearer"} {
		if strings.Contains(logs, never) {
			t.Errorf("the log holds %q:\n%s", never, logs)
		}
	}
}

func TestAccessLogStream(t *testing.T) {
	e := newTestEnv(t, "", Options{})
	if rec := e.do("POST", "/v1/chat/completions", streamBody); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	lines := accessLines(t, e.logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d access lines", len(lines))
	}
	l := lines[0]
	ttft, ok := l["ttft_ms"].(float64)
	if !ok || ttft < 0 || ttft > l["latency_ms"].(float64) {
		t.Errorf("ttft_ms %v, latency_ms %v", l["ttft_ms"], l["latency_ms"])
	}
	if l["tokens_out"] != 500.0 || l["provider"] != "a" || l["status"] != 200.0 {
		t.Errorf("line %v", l)
	}
}

func TestAccessLogModes(t *testing.T) {
	inBand := func(e *testEnv) {
		e.d.stream = func(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
			if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Role: "assistant", Content: "Hel"}}}); err != nil {
				return nil, err
			}
			return nil, &provider.Error{Kind: provider.KindUpstreamUnavailable, Message: "reset", OutputStarted: true}
		}
	}
	for _, tc := range []struct {
		mode string
		// endpoints logged for: a good answer, a 404, /v1/models, a stream failing in-band, a probe.
		want []string
	}{
		{"", []string{"chat.completions", "chat.completions", "models", "chat.completions"}}, // default on
		{"on", []string{"chat.completions", "chat.completions", "models", "chat.completions"}},
		{"errors", []string{"chat.completions", "chat.completions"}},
		{"off", nil},
	} {
		t.Run("mode "+tc.mode, func(t *testing.T) {
			extra := ""
			if tc.mode != "" {
				extra = "log: {access: " + tc.mode + "}\n"
			}
			e := newTestEnv(t, extra, Options{})
			e.do("POST", "/v1/chat/completions", chatBody("default"))
			e.do("POST", "/v1/chat/completions", chatBody("nope"))
			e.do("GET", "/v1/models", "")
			inBand(e)
			e.do("POST", "/v1/chat/completions", streamBody)
			e.do("GET", "/healthz", "")
			e.do("GET", "/metrics", "")
			lines := accessLines(t, e.logs.String())
			var got []string
			for _, l := range lines {
				got = append(got, l["endpoint"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("logged %q, want %q", got, tc.want)
			}
			if len(lines) == 0 {
				return
			}
			// The stream that failed in-band is the last line: the status sent (200), the code.
			if l := lines[len(lines)-1]; l["status"] != 200.0 || l["code"] == "" || l["provider"] != "a" {
				t.Errorf("in-band error line %v", l)
			}
			for _, l := range lines {
				if l["route"] == "nope" && (l["status"] != 404.0 || l["code"] != "model_not_found") {
					t.Errorf("404 line %v", l)
				}
			}
		})
	}
}

func TestAccessLogDryRun(t *testing.T) {
	e := newTestEnv(t, keysConfig, Options{})
	e.do("POST", "/v1/switchyard/route", chatBody("default"), "Authorization", "Bearer "+secretB)
	lines := accessLines(t, e.logs.String())
	if len(lines) != 1 || lines[0]["endpoint"] != "route" || lines[0]["key"] != "team-b" || lines[0]["status"] != 403.0 {
		t.Fatalf("lines %v", lines)
	}
	if strings.Contains(e.logs.String(), secretB) {
		t.Error("the log holds a key's secret")
	}
}
