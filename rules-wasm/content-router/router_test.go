package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// candidates: a coder model, a long-context one and a general one (unhealthy coder-b).
const candidates = `[
	{"provider":"mock","model":"coder","capabilities":["code","tools"],"healthy":true,"circuit":"closed"},
	{"provider":"mock","model":"coder-b","capabilities":["code"],"healthy":false,"circuit":"closed"},
	{"provider":"mock","model":"long","capabilities":["long-context"],"healthy":true,"circuit":"closed"},
	{"provider":"mock","model":"general","capabilities":["tools"],"healthy":true,"circuit":"closed"}]`

const testConfig = `{"routes": [
	{"name": "code", "when": {"has_code_fence": true}, "capability": "code"},
	{"name": "debug", "when": {"keywords": ["Stack Trace", "segfault"]}, "models": ["coder", "general"]},
	{"name": "sql", "when": {"regex": "(?is)\\bselect\\b.+\\bfrom\\b"}, "models": ["mock/coder"], "reason": "SQL question"},
	{"name": "long-system", "when": {"min_system_bytes": 40}, "capability": "long-context"},
	{"name": "cjk", "when": {"language": ["japanese", "han", "korean"], "has_image": false}, "models": ["long"]},
	{"name": "tools", "when": {"has_tool_results": true, "language": "latin"}, "models": ["general"]}
]}`

func input(t *testing.T, content string) *rule.Input {
	t.Helper()
	req := `{"priority":5`
	if content != "" {
		req += `,"content":` + content
	}
	var in rule.Input
	if err := rule.ReadInput([]byte(`{"abi":1,"request":`+req+`},"candidates":`+candidates+`}`), &in); err != nil {
		t.Fatal(err)
	}
	return &in
}

func content(lastUser, system string, fence, image, tools bool, hint string) string {
	b, _ := json.Marshal(map[string]any{"last_user": lastUser, "system": system, "has_code_fence": fence,
		"has_image": image, "has_tool_results": tools, "language_hint": hint})
	return string(b)
}

func TestRoute(t *testing.T) {
	c, err := parseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg = c
	for _, tc := range []struct {
		name    string
		content string
		targets string // "a,b"; "" no opinion
		tag     string
	}{
		{"code fence: every available coder", content("fix this", "", true, false, false, "latin"), "coder", "content:code"},
		{"keyword, any case", content("I get a STACK TRACE here", "", false, false, false, "latin"), "coder,general", "content:debug"},
		{"second keyword", content("it segfaults", "", false, false, false, "latin"), "coder,general", "content:debug"},
		{"regex", content("Select name\nFROM users", "", false, false, false, "latin"), "coder", "content:sql"},
		{"long system prompt", content("hello", strings.Repeat("x", 40), false, false, false, "latin"), "long", "content:long-system"},
		{"short system prompt", content("hello", strings.Repeat("x", 39), false, false, false, "latin"), "", ""},
		{"japanese", content("こんにちは", "", false, false, false, "japanese"), "long", "content:cjk"},
		{"japanese with an image: all conditions must hold", content("これは何", "", false, true, false, "japanese"), "", ""},
		{"tool results in latin", content("and now?", "", false, false, true, "latin"), "general", "content:tools"},
		{"tool results in cyrillic", content("и что?", "", false, false, true, "cyrillic"), "", ""},
		{"first match wins", content("segfault", strings.Repeat("x", 100), true, false, false, "latin"), "coder", "content:code"},
		{"nothing matches", content("hello", "", false, false, false, "latin"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d rule.Decision
			decide(input(t, tc.content), &d)
			var got []string
			for _, tg := range d.Targets {
				got = append(got, tg.Model)
			}
			if strings.Join(got, ",") != tc.targets || d.Failure() != "" {
				t.Fatalf("targets %v (failure %q), want %s", got, d.Failure(), tc.targets)
			}
			if tc.tag != "" && (len(d.Tags) != 1 || d.Tags[0] != tc.tag) {
				t.Fatalf("tags %v, want %s", d.Tags, tc.tag)
			}
		})
	}
}

// TestRouteUnavailable: a route whose class of model cannot serve has no opinion (the
// next rule or the default route decides); with skip_unavailable false, unhealthy
// candidates stay.
func TestRouteUnavailable(t *testing.T) {
	c, err := parseConfig([]byte(`{"routes": [{"when": {}, "models": ["coder-b"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg = c
	var d rule.Decision
	if decide(input(t, content("x", "", false, false, false, "latin")), &d); !d.NoOpinion() {
		t.Fatalf("decided %+v", d)
	}
	if cfg, err = parseConfig([]byte(`{"routes": [{"when": {}, "capability": "code"}], "skip_unavailable": false}`)); err != nil {
		t.Fatal(err)
	}
	d = rule.Decision{}
	if decide(input(t, content("x", "", false, false, false, "latin")), &d); len(d.Targets) != 2 || d.Tags[0] != "content:0" || d.Reason != "route 0 matched" {
		t.Fatalf("decision %+v", d)
	}
}

// TestNoContent: without request.content the rule fails, saying what its entry lacks.
func TestNoContent(t *testing.T) {
	c, err := parseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg = c
	var r rule.Runner
	out := string(r.Route(decide, []byte(`{"abi":1,"request":{"priority":5},"candidates":`+candidates+`}`)))
	if !strings.Contains(out, `"error":"content-router: the input has no request.content`) || !strings.Contains(out, "content: {max_bytes: N}") {
		t.Fatalf("output %s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	r := func(s string) string { return `{"routes": [` + s + `]}` }
	for _, tc := range []struct{ name, config, want string }{
		{"no routes", `{}`, `"routes" must be a non-empty array`},
		{"unknown key", `{"routes": [], "route": 1}`, `unknown config key "route"`},
		{"unknown route key", r(`{"when": {}, "models": ["a"], "model": "a"}`), `unknown config key "routes[0].model"`},
		{"no when", r(`{"models": ["a"]}`), `routes[0]: "when" is required`},
		{"no target", r(`{"when": {}}`), `routes[0]: needs "models" or "capability"`},
		{"both targets", r(`{"when": {}, "models": ["a"], "capability": "code"}`), `has both "models" and "capability"`},
		{"empty models", r(`{"when": {}, "models": []}`), `"models" must be a non-empty array`},
		{"empty capability", r(`{"when": {}, "capability": ""}`), `"capability" must be a non-empty string`},
		{"unknown condition", r(`{"when": {"keyword": ["a"]}, "models": ["a"]}`), `unknown config key "routes[0].when.keyword"`},
		{"keywords not a list", r(`{"when": {"keywords": "a"}, "models": ["a"]}`), `"keywords" must be a non-empty array`},
		{"empty keyword", r(`{"when": {"keywords": ["a", ""]}, "models": ["a"]}`), `"keywords" must be a non-empty array of non-empty strings`},
		{"bad regex", r(`{"when": {"regex": "("}, "models": ["a"]}`), `routes[0].when: "regex": error parsing regexp`},
		{"fact not a boolean", r(`{"when": {"has_image": 1}, "models": ["a"]}`), `"has_image" must be true or false`},
		{"unknown language", r(`{"when": {"language": "english"}, "models": ["a"]}`), `"language": "english" is not a language hint`},
		{"language list", r(`{"when": {"language": []}, "models": ["a"]}`), `"language" must be a language hint or a non-empty array`},
		{"min_system_bytes", r(`{"when": {"min_system_bytes": 0}, "models": ["a"]}`), `"min_system_bytes" must be an integer 1..65536`},
		{"min_system_bytes fraction", r(`{"when": {"min_system_bytes": 1.5}, "models": ["a"]}`), `"min_system_bytes" must be an integer`},
		{"skip_unavailable", `{"routes": [{"when": {}, "models": ["a"]}], "skip_unavailable": 1}`, `"skip_unavailable" must be true or false`},
		{"empty name", r(`{"when": {}, "models": ["a"], "name": ""}`), `"name" must be a non-empty string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "content-router: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
