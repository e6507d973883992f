package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestKeys runs the router with client keys whose secrets come from its environment
// (${VAR}): requests need a valid key, a key may be limited to some models, rules and the
// dry run see the key's name, and the secret shows up nowhere: not in the log (at debug
// level), not in any answer, not in /metrics.
func TestKeys(t *testing.T) {
	const (
		secretA = "sk-team-a-0f9e8d7c6b5a4f3e2d1c"
		secretB = "sk-team-b-a1b2c3d4e5f6a7b8c9d0"
		wrong   = "sk-not-a-key-5e4d3c2b1a0f9e8d"
	)
	// A rule makes the dry run show the input rules see.
	cfg := baseConfig(t, `
rules:
  - name: tiered
    module: `+built(t, "rules/tiered.wasm")+`
    deadline: 1s # roomy: the test is about keys, not the rule's speed
keys:
  - {name: team-a, key: "${SY_E2E_KEY_A}"}
  - {name: team-b, key: "${SY_E2E_KEY_B}", models: [mock-small]}
`)
	p := launch(t, cfg, []string{"SY_E2E_KEY_A=" + secretA, "SY_E2E_KEY_B=" + secretB}, "--log-level", "debug")

	var bodies []string // every answer the router gave, searched for secrets at the end
	call := func(method, path, body, key string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var hdr strings.Builder
		_ = resp.Header.Write(&hdr)
		bodies = append(bodies, hdr.String()+string(b))
		return resp.StatusCode, b
	}
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hello"}]}`
	}

	for _, tc := range []struct {
		name, method, path, body, key string
		status                        int
		typ, code                     string
	}{
		{"no key", "POST", "/v1/chat/completions", chat("default"), "", 401, "authentication_error", "invalid_api_key"},
		{"no key, models", "GET", "/v1/models", "", "", 401, "authentication_error", "invalid_api_key"},
		{"no key, dry run", "POST", "/v1/switchyard/route", chat("default"), "", 401, "authentication_error", "invalid_api_key"},
		{"wrong key", "POST", "/v1/chat/completions", chat("default"), wrong, 401, "authentication_error", "invalid_api_key"},
		{"wrong key, models", "GET", "/v1/models", "", wrong, 401, "authentication_error", "invalid_api_key"},
		{"model not allowed", "POST", "/v1/chat/completions", chat("default"), secretB, 403, "permission_error", "model_not_allowed"},
		{"model not allowed, stream", "POST", "/v1/chat/completions", `{"model":"mock-large","stream":true,"messages":[{"role":"user","content":"x"}]}`, secretB, 403, "permission_error", "model_not_allowed"},
		{"good key", "POST", "/v1/chat/completions", chat("default"), secretA, 200, "", ""},
		{"good key, allowed model", "POST", "/v1/chat/completions", chat("mock-small"), secretB, 200, "", ""},
		{"good key, models", "GET", "/v1/models", "", secretB, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(tc.method, tc.path, tc.body, tc.key)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code == "" {
				return
			}
			var env struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    string  `json:"code"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Error.Type != tc.typ || env.Error.Code != tc.code || env.Error.Message == "" {
				t.Fatalf("body %s, want the OpenAI envelope with %s %s", body, tc.typ, tc.code)
			}
		})
	}

	t.Run("dry run sees the key's name", func(t *testing.T) {
		status, body := call("POST", "/v1/switchyard/route", chat("default"), secretA)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var d struct {
			Input struct {
				Request struct {
					Key string `json:"key"`
				} `json:"request"`
			} `json:"input"`
		}
		if err := json.Unmarshal(body, &d); err != nil || d.Input.Request.Key != "team-a" {
			t.Fatalf("input.request.key = %q, want team-a: %s", d.Input.Request.Key, body)
		}
	})

	t.Run("the secrets appear nowhere", func(t *testing.T) {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Stop the router so the log holds everything it will ever write.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.wait(patience); err != nil {
			t.Fatalf("exit: %v", err)
		}
		if !strings.Contains(p.log.String(), "level=DEBUG") {
			t.Fatalf("the router did not log at debug level:\n%s", p.log.String())
		}
		for _, secret := range []string{secretA, secretB, wrong} {
			for where, text := range map[string]string{"log": p.log.String(), "/metrics": string(m), "answers": strings.Join(bodies, "\n")} {
				// A prefix long enough to be unmistakable catches a secret cut short, too.
				if strings.Contains(text, secret[:16]) {
					t.Errorf("a key's secret (%s…) appears in the %s", secret[:8], where)
				}
			}
		}
	})
}
