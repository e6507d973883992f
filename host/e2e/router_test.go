package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

func userMessage(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "default",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

// TestOpenAIClient drives the router with the official openai-go client: a plain
// completion, a streamed one that accumulates to the same text, and the models list.
func TestOpenAIClient(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	c := r.client()

	var plain *openai.ChatCompletion
	t.Run("completion", func(t *testing.T) {
		var resp *http.Response
		var err error
		plain, err = c.Chat.Completions.New(ctx(t), userMessage("say hi to the router"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if len(plain.Choices) != 1 || strings.TrimSpace(plain.Choices[0].Message.Content) == "" {
			t.Fatalf("want one non-empty choice, got %+v", plain.Choices)
		}
		if plain.Choices[0].FinishReason != "stop" {
			t.Errorf("finish_reason = %q, want stop", plain.Choices[0].FinishReason)
		}
		if plain.Model != "mock-small" {
			t.Errorf("model = %q, want the model that answered, mock-small", plain.Model)
		}
		if plain.Usage.TotalTokens == 0 || plain.Usage.TotalTokens != plain.Usage.PromptTokens+plain.Usage.CompletionTokens {
			t.Errorf("usage = %+v", plain.Usage)
		}
		want := map[string]string{"x-switchyard-provider": "mock", "x-switchyard-model": "mock-small",
			"x-switchyard-rule": "default", "x-switchyard-attempts": "1", "x-switchyard-fallbacks": "0"}
		for h, v := range want {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
		for _, h := range []string{"x-request-id", "x-switchyard-overhead-ms", "x-switchyard-cost-usd"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
		cost, _ := strconv.ParseFloat(resp.Header.Get("x-switchyard-cost-usd"), 64)
		wantCost := (float64(plain.Usage.PromptTokens)*1 + float64(plain.Usage.CompletionTokens)*2) / 1e6
		if diff := cost - wantCost; diff > 1e-8 || diff < -1e-8 {
			t.Errorf("cost %v, want %v from the catalogue prices", cost, wantCost)
		}
	})

	t.Run("stream", func(t *testing.T) {
		params := userMessage("say hi to the router")
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Chat.Completions.NewStreaming(ctx(t), params)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 3 {
			t.Fatalf("got %d chunks, want a token-by-token stream", chunks)
		}
		if plain == nil {
			t.Skip("needs the completion subtest")
		}
		if got, want := acc.Choices[0].Message.Content, plain.Choices[0].Message.Content; got != want {
			t.Errorf("streamed text %q, want the same as the completion %q", got, want)
		}
		if acc.Usage.CompletionTokens == 0 || acc.Usage.TotalTokens != plain.Usage.TotalTokens {
			t.Errorf("stream usage %+v, want the completion's %+v", acc.Usage, plain.Usage)
		}
	})

	t.Run("stream-without-usage", func(t *testing.T) {
		status, _, body := r.post("/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		s := string(body)
		if strings.Contains(s, `"usage"`) {
			t.Errorf("usage sent without stream_options.include_usage")
		}
		if !strings.HasSuffix(s, "data: [DONE]\n\n") || !strings.Contains(s, "\n: switchyard {") {
			t.Errorf("stream does not end with the summary comment and [DONE]:\n%s", s)
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		want := "default,chain,mock-small,mock-large,backup-small,auto"
		if got := strings.Join(ids, ","); got != want {
			t.Errorf("models %s, want routes, then catalogue models, then auto: %s", got, want)
		}
	})

	t.Run("model lookup", func(t *testing.T) {
		m, err := c.Models.Get(ctx(t), "mock-small")
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != "mock-small" || m.OwnedBy != "mock" || string(m.Object) != "model" {
			t.Errorf("model %+v, want mock-small owned by mock", m)
		}
		_, err = c.Models.Get(ctx(t), "no-such-model")
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
			t.Fatalf("unknown model: got %v, want 404 model_not_found", err)
		}
	})
}

// TestFallback makes the first target's plugin fail and checks that the second answers.
func TestFallback(t *testing.T) {
	// Each case fails mock on purpose: keep its circuit closed so every case reaches it.
	r := startRouter(t, baseConfig(t, "circuit: {failure_threshold: 100}\n"))
	c := r.client()
	for _, tc := range []struct {
		name         string
		fail         string
		wantAttempts string
	}{
		// Not retryable: straight to the next target.
		{"authentication", "authentication", "2"},
		// Retryable: retried once on the same target (max_attempts 2), then the next target.
		{"upstream_unavailable", "upstream_unavailable", "3"},
		// The answer came back empty: validation refuses it, the next target answers.
		{"empty answer", "empty", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := userMessage("hello")
			params.Metadata = shared.Metadata{"mock.fail": tc.fail, "mock.fail_instances": "mock"}
			var resp *http.Response
			got, err := c.Chat.Completions.New(ctx(t), params, option.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if got.Choices[0].Message.Content == "" {
				t.Fatal("empty answer")
			}
			if p := resp.Header.Get("x-switchyard-provider"); p != "backup" {
				t.Errorf("answered by %q, want the second target's provider backup", p)
			}
			if a := resp.Header.Get("x-switchyard-attempts"); a != tc.wantAttempts {
				t.Errorf("x-switchyard-attempts = %s, want %s", a, tc.wantAttempts)
			}
			if f := resp.Header.Get("x-switchyard-fallbacks"); f != "1" {
				t.Errorf("x-switchyard-fallbacks = %s, want 1", f)
			}
		})
	}
	t.Run("stream before first byte", func(t *testing.T) {
		params := userMessage("hello")
		params.Metadata = shared.Metadata{"mock.fail": "upstream_unavailable", "mock.fail_instances": "mock"}
		var resp *http.Response
		stream := c.Chat.Completions.NewStreaming(ctx(t), params, option.WithResponseInto(&resp))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].Message.Content == "" || resp.Header.Get("x-switchyard-provider") != "backup" {
			t.Errorf("want one clean stream from backup, got %q from %q", acc.Choices[0].Message.Content, resp.Header.Get("x-switchyard-provider"))
		}
	})
	t.Run("stream after first byte", func(t *testing.T) {
		body := `{"model":"default","stream":true,"messages":[{"role":"user","content":"hello there"}],
			"metadata":{"mock.fail":"mid_stream","mock.fail_after_chunks":"2"}}`
		status, _, raw := r.post("/v1/chat/completions", body)
		s := string(raw)
		if status != 200 {
			t.Fatalf("status %d: %s", status, s)
		}
		if strings.Contains(s, "[DONE]") {
			t.Errorf("a stream that failed midway ends with [DONE]:\n%s", s)
		}
		if !strings.Contains(s, `data: {"error":{`) {
			t.Errorf("no in-band error event:\n%s", s)
		}
	})
	t.Run("every target fails", func(t *testing.T) {
		params := userMessage("hello")
		params.Metadata = shared.Metadata{"mock.fail": "authentication"}
		_, err := c.Chat.Completions.New(ctx(t), params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("want an API error, got %v", err)
		}
		if apiErr.StatusCode != 502 || apiErr.Code != "all_targets_failed" || apiErr.Type != "api_error" {
			t.Errorf("got %d %s %s, want 502 api_error all_targets_failed", apiErr.StatusCode, apiErr.Type, apiErr.Code)
		}
		var env struct { // openai-go hands over the object inside "error"
			Attempts int    `json:"attempts"`
			Provider string `json:"provider"`
		}
		if err := json.Unmarshal([]byte(apiErr.RawJSON()), &env); err != nil || env.Attempts != 2 || env.Provider != "backup" {
			t.Errorf("envelope %s: want attempts 2 and provider backup", apiErr.RawJSON())
		}
	})
	if v, _ := r.metric(`switchyard_fallbacks_total{provider="mock",reason="authentication"}`); v < 1 {
		t.Errorf("switchyard_fallbacks_total{provider=mock,reason=authentication} = %v, want >= 1", v)
	}
}

// TestPluginRestart kills a plugin with SIGKILL and checks it is restarted and serves.
func TestPluginRestart(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	c := r.client()
	pids := r.pluginPIDs()
	if len(pids) != 2 {
		t.Fatalf("want 2 plugin processes, got %v", pids)
	}
	// Find the process serving provider "mock": kill both, the lesson is the same.
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "plugins restarted", patience, func() bool {
		now := r.pluginPIDs()
		if len(now) != 2 {
			return false
		}
		for _, p := range now {
			for _, old := range pids {
				if p == old {
					return false
				}
			}
		}
		v, _ := r.metric(`switchyard_plugin_up{plugin="mock"}`)
		return v == 1
	})
	got, err := c.Chat.Completions.New(ctx(t), userMessage("are you back?"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Message.Content == "" {
		t.Fatal("empty answer after restart")
	}
	if v, _ := r.metric(`switchyard_plugin_restarts_total{plugin="mock"}`); v < 1 {
		t.Errorf("switchyard_plugin_restarts_total{plugin=mock} = %v, want >= 1", v)
	}
}

// TestCrashFallsBack crashes the first target's plugin in the middle of a request: the
// request falls back, the plugin comes back.
func TestCrashFallsBack(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	params := userMessage("crash please")
	params.Metadata = shared.Metadata{"mock.fail": "crash", "mock.fail_instances": "mock"}
	var resp *http.Response
	got, err := r.client().Chat.Completions.New(ctx(t), params, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("x-switchyard-provider") != "backup" || got.Choices[0].Message.Content == "" {
		t.Errorf("want an answer from backup, got %q from %q", got.Choices[0].Message.Content, resp.Header.Get("x-switchyard-provider"))
	}
	waitFor(t, "mock restarted", patience, func() bool {
		v, _ := r.metric(`switchyard_plugin_up{plugin="mock"}`)
		return v == 1
	})
}

// wat2wasm compiles a WAT fixture; a missing wabt fails the test.
func wat2wasm(t *testing.T, src string) string {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found: install wabt (`make toolchains` or apt-get install wabt)")
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
	if b, err := exec.Command(tool, src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
	}
	return out
}

// TestLoopingRule runs a rule that never returns (the fixture loops when its input holds
// "loop-forever", here as a tag): it is stopped at its deadline, the request takes the
// default route, the timeout is counted, and the rule still serves the next request.
//
// The loop never ends by itself and each request's context allows 30 s, so an answer at
// all proves the rule was stopped; the timeout counter says it was the deadline that did
// it. The deadline is roomy enough for the rule's ordinary evaluation (the last request)
// to finish on a loaded machine.
func TestLoopingRule(t *testing.T) {
	loop := wat2wasm(t, filepath.Join(root(t), "host/rules/testdata/loop.wat"))
	const deadline = 250 * time.Millisecond
	r := startRouter(t, baseConfig(t, fmt.Sprintf(`
rules:
  - name: loop
    module: %s
    deadline: %s
    pool: 2
`, loop, deadline)))
	for i := 0; i < 3; i++ {
		start := time.Now()
		var resp *http.Response
		got, err := r.client().Chat.Completions.New(ctx(t), userMessage("route me"), option.WithResponseInto(&resp),
			option.WithHeader("x-switchyard-tags", "loop-forever"))
		if err != nil {
			t.Fatalf("request %d with a looping rule: %v", i, err)
		}
		t.Logf("request %d answered after %s with a %s rule deadline", i, time.Since(start), deadline)
		if got.Choices[0].Message.Content == "" {
			t.Fatal("empty answer")
		}
		if rule := resp.Header.Get("x-switchyard-rule"); rule != "default" {
			t.Errorf("x-switchyard-rule = %q, want default (the looping rule decided nothing)", rule)
		}
	}
	if v, _ := r.metric(`switchyard_rule_evaluations_total{outcome="timeout",rule="loop"}`); v != 3 {
		t.Errorf(`switchyard_rule_evaluations_total{rule="loop",outcome="timeout"} = %v, want 3`, v)
	}
	var resp *http.Response
	if _, err := r.client().Chat.Completions.New(ctx(t), userMessage("route me"), option.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	if rule := resp.Header.Get("x-switchyard-rule"); !strings.HasPrefix(rule, "loop@") {
		t.Errorf("after the timeouts the rule did not decide: x-switchyard-rule = %q", rule)
	}
}

// TestErrors checks the status, type and code of the errors a client can cause, in the
// envelope every OpenAI SDK parses.
func TestErrors(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	for _, tc := range []struct {
		name, path, body string
		header           []string
		status           int
		typ, code        string
	}{
		{"malformed JSON", "/v1/chat/completions", `{"model":`, nil, 400, "invalid_request_error", "invalid_request"},
		{"not an object", "/v1/chat/completions", `[1,2]`, nil, 400, "invalid_request_error", "invalid_request"},
		{"no messages", "/v1/chat/completions", `{"model":"default"}`, nil, 400, "invalid_request_error", "invalid_request"},
		{"bad role", "/v1/chat/completions", `{"model":"default","messages":[{"role":"robot","content":"x"}]}`, nil, 400, "invalid_request_error", "invalid_request"},
		{"bad temperature", "/v1/chat/completions", `{"model":"default","temperature":7,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "invalid_request"},
		{"unknown model", "/v1/chat/completions", `{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}`, nil, 404, "invalid_request_error", "model_not_found"},
		{"priority out of range", "/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"x"}]}`, []string{"x-switchyard-priority", "11"}, 400, "invalid_request_error", "invalid_request"},
		{"unsupported endpoint", "/v1/audio/speech", `{"model":"default","input":"x"}`, nil, 404, "invalid_request_error", "unsupported_endpoint"},
		{"upstream invalid request", "/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.fail":"invalid_request"}}`, nil, 400, "invalid_request_error", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := r.post(tc.path, tc.body, tc.header...)
			var env struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    string  `json:"code"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("body is not JSON: %s", body)
			}
			if status != tc.status || env.Error.Type != tc.typ || env.Error.Code != tc.code || env.Error.Message == "" {
				t.Errorf("got %d %s %s %q, want %d %s %s", status, env.Error.Type, env.Error.Code, env.Error.Message, tc.status, tc.typ, tc.code)
			}
		})
	}
	t.Run("openai-go parses the envelope", func(t *testing.T) {
		p := userMessage("x")
		p.Model = "no-such-model"
		_, err := r.client().Chat.Completions.New(ctx(t), p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
			t.Fatalf("got %v", err)
		}
	})
}

// TestDryRun asks for a decision without calling a provider.
func TestDryRun(t *testing.T) {
	tiered := built(t, "rules/tiered.wasm")
	r := startRouter(t, baseConfig(t, fmt.Sprintf(`
rules:
  - name: tiered
    module: %s
    deadline: 1s # roomy: the test is about the decision, not the rule's speed
`, tiered)))
	status, _, body := r.post("/v1/switchyard/route", `{"model":"chain","messages":[{"role":"user","content":"x"}]}`, "x-switchyard-priority", "9")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var d struct {
		Rule    string `json:"rule"`
		Targets []struct {
			Provider, Model string
		} `json:"targets"`
		Trace []struct {
			Rule, SHA256, Outcome string
			InputSHA256           string `json:"input_sha256"`
		} `json:"trace"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Rule, "tiered@") || len(d.Targets) == 0 || len(d.Trace) != 1 || d.Trace[0].Outcome != "decided" || len(d.Trace[0].SHA256) != 64 || len(d.Trace[0].InputSHA256) != 64 {
		t.Fatalf("unexpected dry run: %s", body)
	}
	// Priority 9 is high: the most capable (largest context) candidate comes first.
	if d.Targets[0].Model != "mock-large" {
		t.Errorf("first target %s, want mock-large for a high-priority request: %s", d.Targets[0].Model, body)
	}
	if v, _ := r.metric(`switchyard_provider_requests_total{model="mock-large",outcome="ok",provider="mock"}`); v != 0 {
		t.Errorf("the dry run called a provider")
	}
}

// TestMetrics checks the per-plugin series after traffic, and that the series exist at zero
// before it.
func TestMetrics(t *testing.T) {
	r := startRouter(t, baseConfig(t, ""))
	for _, s := range []string{
		`switchyard_plugin_up{plugin="mock"}`,
		`switchyard_plugin_up{plugin="backup"}`,
		`switchyard_plugin_restarts_total{plugin="backup"}`,
		`switchyard_provider_requests_total{model="backup-small",outcome="ok",provider="backup"}`,
		`switchyard_fallbacks_total{provider="mock",reason="upstream_unavailable"}`,
		`switchyard_requests_total{model="default",status="200"}`,
		`switchyard_active_requests`,
	} {
		if _, ok := r.metric(s); !ok {
			t.Errorf("series %s absent before traffic", s)
		}
	}
	if _, err := r.client().Chat.Completions.New(ctx(t), userMessage("count me")); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]float64{
		`switchyard_plugin_up{plugin="mock"}`:                                                    1,
		`switchyard_provider_requests_total{model="mock-small",outcome="ok",provider="mock"}`:    1,
		`switchyard_requests_total{model="default",status="200"}`:                                1,
		`switchyard_provider_request_duration_seconds_count{model="mock-small",provider="mock"}`: 1,
		`switchyard_request_duration_seconds_count{model="default"}`:                             1,
		`switchyard_overhead_seconds_count`:                                                      1,
	} {
		if v, ok := r.metric(s); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", s, v, ok, want)
		}
	}
	// Tokens and cost from the reported usage; time to first token from a stream.
	if _, _, b := r.post("/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"stream me"}]}`); !strings.Contains(string(b), "[DONE]") {
		t.Fatalf("stream: %s", b)
	}
	for _, s := range []string{
		`switchyard_provider_tokens_total{direction="completion",model="mock-small",provider="mock"}`,
		`switchyard_provider_tokens_total{direction="prompt",model="mock-small",provider="mock"}`,
		`switchyard_provider_cost_usd_total{model="mock-small",provider="mock"}`,
		`switchyard_provider_time_to_first_token_seconds_count{model="mock-small",provider="mock"}`,
	} {
		if v, ok := r.metric(s); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0 after traffic", s, v, ok)
		}
	}
	// A model name no config holds must not become a label value.
	r.post("/v1/chat/completions", `{"model":"made-up-model","messages":[{"role":"user","content":"x"}]}`)
	if v, _ := r.metric(`switchyard_requests_total{model="_unknown",status="404"}`); v != 1 {
		t.Errorf("unknown model not counted under _unknown")
	}
}

// TestCommands checks validate and --version.
func TestCommands(t *testing.T) {
	bin := built(t, "switchyard")
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "switchyard ") {
		t.Errorf("--version: %v %s", err, out)
	}
	// The shipped configs load, start their plugins and compile their rules, with no key set.
	examples, _ := filepath.Glob(filepath.Join(root(t), "host/config/examples/*.yaml"))
	for _, cfg := range append(examples, filepath.Join(root(t), "host/config/default.yaml")) {
		cmd := exec.Command(bin, "validate", "--config", cfg)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("validate %s: %v\n%s", cfg, err, out)
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(baseConfig(t, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", "--config", good).CombinedOutput(); err != nil {
		t.Errorf("validate refused a good config: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, cfg, want string }{
		{"unknown key", baseConfig(t, "") + "\nnot_a_key: 1\n", `unknown key "not_a_key"`},
		{"bad duration", baseConfig(t, "") + "\ntimeouts: {total: soon}\n", `bad duration "soon"`},
		{"missing plugin", strings.Replace(baseConfig(t, ""), "plugins/switchyard-provider-mock", "plugins/nope", 1), "plugins/nope"},
		{"missing rule", baseConfig(t, "rules:\n  - {name: gone, module: /nonexistent/gone.wasm}\n"), "gone.wasm"},
		{"dangling target", strings.Replace(baseConfig(t, ""), "targets: [mock-small, backup-small]", "targets: [mock-small, ghost]", 1), `target "ghost"`},
		{"unset variable", baseConfig(t, "") + "\nadmin:\n  key: ${SWITCHYARD_TEST_UNSET_VAR}\n", "SWITCHYARD_TEST_UNSET_VAR"},
		{"not a wasm module", baseConfig(t, "rules:\n  - {name: junk, module: "+good+"}\n"), "junk"},
		{"golden case fails", baseConfig(t, "rules:\n  - {name: tiered, module: "+built(t, "rules/tiered.wasm")+", golden: "+failingGolden(t)+"}\n"), "golden case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(tc.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "validate", "--config", p).CombinedOutput()
			if err == nil {
				t.Fatalf("validate accepted it:\n%s", out)
			}
			if !strings.Contains(string(out), p) || !strings.Contains(string(out), tc.want) {
				t.Errorf("message does not name the file and %q:\n%s", tc.want, out)
			}
		})
	}
}

// failingGolden writes a golden case the tiered rule cannot pass (it expects a reject).
func failingGolden(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root(t), "rules-wasm/tiered/testdata/golden/*.json"))
	if len(files) == 0 {
		t.Fatal("no tiered golden cases")
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["expect"] = json.RawMessage(`{"reject":{"status":403}}`)
	b, _ = json.Marshal(c)
	p := filepath.Join(t.TempDir(), "never.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDefaultConfig serves host/config/default.yaml, as `make run` does, and asks every
// model it lists for an answer: each must be servable with no API key.
func TestDefaultConfig(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root(t), "host/config/default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths resolve against the config's folder: point them at this checkout.
	cfg := strings.ReplaceAll(string(text), "../../bin/", filepath.Join(root(t), "bin")+"/")
	r := startRouter(t, cfg)
	c := r.client()
	page, err := c.Models.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) < 3 {
		t.Fatalf("default config lists %d models", len(page.Data))
	}
	for _, m := range page.Data {
		t.Run(m.ID, func(t *testing.T) {
			p := userMessage("hello " + m.ID)
			p.Model = m.ID
			got, err := c.Chat.Completions.New(ctx(t), p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(got.Choices[0].Message.Content) == "" {
				t.Fatal("empty answer")
			}
		})
	}
}
