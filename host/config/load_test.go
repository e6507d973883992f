package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
providers:
  - name: mock
    plugin: ./plugin
models:
  - {name: small, provider: mock, model: mock-small, context_window: 8192}
routes:
  - {name: default, targets: [small]}
`

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		vars    map[string]string
		wantErr string // "" = must load
		check   func(t *testing.T, f *File)
	}{
		{name: "defaults", text: minimal, check: func(t *testing.T, f *File) {
			if f.Listen != "127.0.0.1:8080" || f.Retry.MaxAttempts != 3 || f.Timeouts.Total.D() != 120*time.Second ||
				!*f.Validation.NonEmpty || f.Limits.MaxBodyBytes != 8<<20 || f.Plugins.StartTimeout.D() != 10*time.Second {
				t.Errorf("defaults: %+v", f)
			}
			if f.Models[0].Model != "mock-small" || !f.Providers[0].IsEnabled() {
				t.Errorf("model/provider: %+v %+v", f.Models[0], f.Providers[0])
			}
		}},
		{name: "cache defaults", text: strings.Replace(minimal, "targets: [small]}", "targets: [small], cache: {ttl: 10m}}", 1), check: func(t *testing.T, f *File) {
			if c := f.Routes[0].Cache; c == nil || c.TTL.D() != 10*time.Minute || c.MaxBytes != DefaultCacheMaxBytes || f.RouteCache("default") != c || f.RouteCache("small") != nil {
				t.Errorf("cache: %+v", c)
			}
		}},
		{name: "rule defaults", text: minimal + "rules:\n  - {name: r, module: r.wasm, headers: [X-Tenant]}\n", check: func(t *testing.T, f *File) {
			r := f.Rules[0]
			if r.Mode != "active" || r.OnError != "skip" || r.Deadline.D() != 5*time.Millisecond || r.Memory != 16 || r.Pool != 4 || r.Headers[0] != "x-tenant" {
				t.Errorf("rule defaults: %+v", r)
			}
			if string(r.ConfigJSON()) != "{}" {
				t.Errorf("config json %s", r.ConfigJSON())
			}
		}},
		{name: "variables", text: minimal + "admin:\n  key: ${ADMIN_KEY}\nlisten: ${LISTEN:-0.0.0.0:9}\n", vars: map[string]string{"ADMIN_KEY": "s3cret-admin"}, check: func(t *testing.T, f *File) {
			if f.Admin.Key != "s3cret-admin" || f.Listen != "0.0.0.0:9" {
				t.Errorf("expansion: %q %q", f.Admin.Key, f.Listen)
			}
		}},
		{name: "variable makes a bool", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    enabled: ${MOCK_ON:-false}\n  - {name: other, plugin: ./other}", 1), check: func(t *testing.T, f *File) {
			if f.Providers[0].IsEnabled() {
				t.Error("enabled: ${MOCK_ON:-false} should disable the provider")
			}
		}},
		{name: "variable in a comment is ignored", text: "# uses ${NOT_SET}\n" + minimal},
		{name: "unset variable", text: minimal + "admin:\n  key: ${NOPE}\n", wantErr: "line 10: environment variable NOPE is not set"},
		{name: "unknown key", text: minimal + "surprise: 1\n", wantErr: `unknown key "surprise"`},
		{name: "unknown nested key", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    colour: red", 1), wantErr: `unknown key "colour"`},
		{name: "bad duration", text: minimal + "timeouts: {total: 5 minutes}\n", wantErr: `bad duration "5 minutes"`},
		{name: "wrong type", text: minimal + "retry: {max_attempts: many}\n", wantErr: `line 9: retry.max_attempts: cannot use str "many" as int`},
		{name: "wrong type names the key path", text: minimal + "limits:\n  read_timeout: 5s\n  max_inflight: [1]\n", wantErr: `line 11: limits.max_inflight: cannot unmarshal`},
		{name: "wrong type in a list", text: strings.Replace(minimal, "context_window: 8192", "context_window: big", 1), wantErr: `models[0]`},
		{name: "bad duration names the key path", text: minimal + "timeouts:\n  total: soon\n", wantErr: `line 10: timeouts.total: bad duration "soon"`},
		{name: "zero duration", text: minimal + "timeouts:\n  attempt: 0s\n", wantErr: `timeouts.attempt: duration "0s" must be positive`},
		{name: "negative duration", text: minimal + "retry:\n  backoff_max: -1s\n", wantErr: `retry.backoff_max: duration "-1s" must be positive`},
		{name: "zero shutdown delay", text: minimal + "limits:\n  shutdown_delay: 0s\n", check: func(t *testing.T, f *File) {
			if f.Limits.ShutdownDelay != 0 {
				t.Errorf("shutdown_delay %v", f.Limits.ShutdownDelay)
			}
		}},
		{name: "negative shutdown delay", text: minimal + "limits:\n  shutdown_delay: -5s\n", wantErr: `limits.shutdown_delay: negative duration`},
		{name: "new defaults", text: minimal, check: func(t *testing.T, f *File) {
			if f.Timeouts.ClientWrite.D() != 10*time.Second || f.Log.Access != "on" || f.Limits.ShutdownDelay != 0 {
				t.Errorf("client_write %v, log.access %q, shutdown_delay %v", f.Timeouts.ClientWrite, f.Log.Access, f.Limits.ShutdownDelay)
			}
		}},
		{name: "bad access log", text: minimal + "log: {access: verbose}\n", wantErr: `log: access "verbose": want on, off or errors`},
		{name: "rule content", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content:\n      max_bytes: 4096\n  - {name: s, module: s.wasm}\n",
			check: func(t *testing.T, f *File) {
				if f.Rules[0].ContentBytes() != 4096 || f.Rules[1].Content != nil || f.Rules[1].ContentBytes() != 0 {
					t.Errorf("content: %+v %+v", f.Rules[0].Content, f.Rules[1].Content)
				}
			}},
		{name: "rule content from a variable", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content:\n      max_bytes: ${N:-512}\n",
			check: func(t *testing.T, f *File) {
				if f.Rules[0].ContentBytes() != 512 {
					t.Errorf("content: %+v", f.Rules[0].Content)
				}
			}},
		{name: "rule content null is off", text: minimal + "rules:\n  - {name: r, module: r.wasm, content: null}\n",
			check: func(t *testing.T, f *File) {
				if f.Rules[0].Content != nil {
					t.Errorf("content: %+v", f.Rules[0].Content)
				}
			}},
		{name: "rule content zero", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content:\n      max_bytes: 0\n",
			wantErr: `line 13: rules[0].content.max_bytes: 0 is out of range: want 1..65536`},
		{name: "rule content too large", text: minimal + "rules:\n  - {name: r, module: r.wasm, content: {max_bytes: 65537}}\n",
			wantErr: `line 10: rules[0]: 65537 is out of range: want 1..65536`},
		{name: "rule content without max_bytes", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content: {}\n",
			wantErr: `line 12: rules[0].content: content: max_bytes is required, 1..65536`},
		{name: "rule content not a mapping", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content: 4096\n",
			wantErr: `line 12: rules[0].content: content: want {max_bytes: N}`},
		{name: "rule content wrong type", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content:\n      max_bytes: lots\n",
			wantErr: `line 13: rules[0].content.max_bytes: cannot use str "lots" as int`},
		{name: "rule content unknown key", text: minimal + "rules:\n  - name: r\n    module: r.wasm\n    content:\n      max_bytes: 10\n      min_bytes: 1\n",
			wantErr: `line 14: rules[0].content.min_bytes: unknown key "min_bytes"`},
		{name: "rule content problem and an unknown key elsewhere", text: minimal + "rules:\n  - {name: r, module: r.wasm, content: {max_bytes: 0}}\nsurprise: 1\n",
			wantErr: `unknown key "surprise"`},
		{name: "credential header for a rule", text: minimal + "rules:\n  - {name: r, module: r.wasm, headers: [X-Tenant, Authorization]}\n", wantErr: `rules[0] (r): headers: "authorization" carries the client's credentials`},
		{name: "every credential header refused", text: minimal + "rules:\n  - {name: r, module: r.wasm, headers: [proxy-authorization, cookie, x-api-key, api-key]}\n", wantErr: `"api-key" carries`},
		{name: "plugin env", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    env: [HTTPS_PROXY, SSL_CERT_FILE]", 1), check: func(t *testing.T, f *File) {
			if len(f.Providers[0].Env) != 2 || f.Providers[0].Env[0] != "HTTPS_PROXY" {
				t.Errorf("env %v", f.Providers[0].Env)
			}
		}},
		{name: "bad plugin env name", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    env: [\"A=B\"]", 1), wantErr: `env: "A=B" is not an environment variable name`},
		{name: "no enabled provider", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    enabled: false", 1), wantErr: "every provider is disabled"},
		{name: "no provider", text: "models: []\n", wantErr: "at least one provider is required"},
		{name: "bad yaml", text: "providers: [\n", wantErr: "line"},
		{name: "empty", text: "", wantErr: "empty file"},
		{name: "duplicate provider", text: strings.Replace(minimal, "models:", "  - {name: mock, plugin: ./other}\nmodels:", 1), wantErr: `providers[1]: duplicate provider name "mock"`},
		{name: "dangling provider", text: strings.Replace(minimal, "provider: mock,", "provider: ghost,", 1), wantErr: `models[0] (small): provider "ghost" is not configured`},
		{name: "dangling target", text: strings.Replace(minimal, "targets: [small]", "targets: [small, ghost]", 1), wantErr: `routes[0] (default): target "ghost" is not a model in the catalogue`},
		{name: "cache without ttl", text: strings.Replace(minimal, "targets: [small]}", "targets: [small], cache: {max_bytes: 10}}", 1), wantErr: `routes[0] (default): cache.ttl must be a positive duration`},
		{name: "cache with negative size", text: strings.Replace(minimal, "targets: [small]}", "targets: [small], cache: {ttl: 1m, max_bytes: -1}}", 1), wantErr: `routes[0] (default): cache.max_bytes must not be negative`},
		{name: "cache with an unknown key", text: strings.Replace(minimal, "targets: [small]}", "targets: [small], cache: {ttl: 1m, size: 3}}", 1), wantErr: `size`},
		{name: "route named like a model", text: strings.Replace(minimal, "name: default,", "name: small,", 1), wantErr: `already a route or a catalogue model`},
		{name: "reserved auto", text: strings.Replace(minimal, "name: default,", "name: auto,", 1), wantErr: `"auto" is reserved`},
		{name: "bad provider name", text: strings.Replace(minimal, "name: mock\n", "name: Mock Provider\n", 1), wantErr: `name "Mock Provider"`},
		{name: "bad sha256", text: strings.Replace(minimal, "plugin: ./plugin", "plugin: ./plugin\n    sha256: abc", 1), wantErr: "sha256: want 64 hex digits"},
		{name: "bad rule mode", text: minimal + "rules:\n  - {name: r, module: r.wasm, mode: loud}\n", wantErr: `mode "loud": want active or shadow`},
		{name: "bad on_error", text: minimal + "rules:\n  - {name: r, module: r.wasm, on_error: panic}\n", wantErr: `on_error "panic"`},
		{name: "short key", text: minimal + "keys:\n  - {name: a, key: short}\n", wantErr: "at least 8 characters"},
		{name: "key for unknown model", text: minimal + "keys:\n  - {name: a, key: long-enough-key, models: [nope]}\n", wantErr: `"nope" is neither a route nor a catalogue model`},
		{name: "several problems at once", text: strings.Replace(strings.Replace(minimal, "provider: mock,", "provider: ghost,", 1), "targets: [small]", "targets: []", 1), wantErr: "is not configured\nroutes[0] (default): targets: at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.text), env(tc.vars))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, f)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "conf.yaml")
	if err := os.WriteFile(cfg, []byte(minimal+"rules:\n  - {name: r, module: rules/r.wasm}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(cfg)
	if err == nil || !strings.Contains(err.Error(), cfg) || !strings.Contains(err.Error(), filepath.Join(dir, "rules/r.wasm")) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("want an error naming the file and the missing module, got %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules/r.wasm"), []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f.Providers[0].Plugin != plugin || f.Rules[0].Module != filepath.Join(dir, "rules/r.wasm") || f.Path != cfg {
		t.Errorf("paths not resolved against the config's folder: %q %q", f.Providers[0].Plugin, f.Rules[0].Module)
	}
	// A plugin that is not executable is refused.
	if err := os.Chmod(plugin, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Errorf("want a refusal of a non-executable plugin, got %v", err)
	}
}

func TestDefaultConfigLoads(t *testing.T) {
	f, err := Parse(mustRead(t, "default.yaml"), env(nil))
	if err != nil {
		t.Fatalf("default.yaml: %v", err)
	}
	if len(f.Keys) != 0 || f.Listen != "127.0.0.1:8080" {
		t.Errorf("the default config must need no key and listen on 127.0.0.1:8080")
	}
	for _, p := range f.Providers {
		if len(p.Secrets) > 0 {
			t.Errorf("the default config's provider %s needs secrets", p.Name)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "rules:\n  - {name: r, module: r.wasm, deadline: 1ms}\nkeys:\n  - {name: a, key: ${K:-abcdefghij}}\n"))
	f.Add([]byte("providers: [{name: x}]\n"))
	f.Add([]byte("listen: ${A:-${B}}\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		cfg, err := Parse(text, env(map[string]string{"K": "0123456789"}))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// What loads is consistent: every route target is a model of a configured provider.
		providers := map[string]bool{}
		for _, p := range cfg.Providers {
			providers[p.Name] = true
		}
		models := map[string]bool{}
		for _, m := range cfg.Models {
			if !providers[m.Provider] {
				t.Fatalf("model %s of unknown provider %s loaded", m.Name, m.Provider)
			}
			models[m.Name] = true
		}
		for _, r := range cfg.Routes {
			for _, tg := range r.Targets {
				if !models[tg] {
					t.Fatalf("route %s has unknown target %s", r.Name, tg)
				}
			}
		}
	})
}
