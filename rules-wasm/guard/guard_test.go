package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

// candidates: two local models (one unhealthy), a private-capable one and a public one.
const candidates = `[
	{"provider":"local","model":"llama","capabilities":["private"],"healthy":true,"circuit":"closed"},
	{"provider":"local","model":"llama-b","capabilities":["private"],"healthy":false,"circuit":"closed"},
	{"provider":"vault","model":"secure","capabilities":["private","pii"],"healthy":true,"circuit":"closed"},
	{"provider":"cloud","model":"big","capabilities":["tools"],"healthy":true,"circuit":"closed"}]`

const testConfig = `{"detectors": [
	{"detector": "email", "action": "route", "models": ["llama", "llama-b", "secure"]},
	{"detector": "card_number"},
	{"detector": "api_key", "status": 403},
	{"name": "codename", "words": ["Project Zeus"], "status": 403, "message": "this project may not be discussed"},
	{"name": "employee-id", "regex": "EMP-[0-9]{6}\\b", "action": "route", "capability": "pii"}
]}`

func input(t *testing.T, lastUser, system string) []byte {
	t.Helper()
	c, _ := json.Marshal(map[string]any{"last_user": lastUser, "system": system, "has_code_fence": false,
		"has_image": false, "has_tool_results": false, "language_hint": "latin"})
	return []byte(`{"abi":1,"request":{"priority":5,"content":` + string(c) + `},"candidates":` + candidates + `}`)
}

func use(t *testing.T, config string) {
	t.Helper()
	c, err := parseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	cfg = c
}

func TestDecide(t *testing.T) {
	use(t, testConfig)
	for _, tc := range []struct {
		name, lastUser, system string
		want                   string // the output JSON, "" for no opinion
	}{
		{"clean", "What is the capital of France?", "Be brief.", ""},
		{"card: 400 naming the detector", "my card is 4111 1111 1111 1111", "",
			`{"reject":{"status":400,"message":"the prompt contains a payment card number (guard detector card_number)"},"tags":["guard:card_number"]}`},
		{"key in the system prompt: 403", "hi", "use key " + openAIKey, `{"reject":{"status":403,"message":"the prompt contains an API key (guard detector api_key)"},"tags":["guard:api_key"]}`},
		{"deny words, any case, own message", "what about PROJECT zeus?", "",
			`{"reject":{"status":403,"message":"this project may not be discussed"},"tags":["guard:codename"]}`},
		{"email routes to the allowed models that are up", "write to jane@example.com", "",
			`{"targets":[{"provider":"local","model":"llama"},{"provider":"vault","model":"secure"}],"reason":"guard: email found; only models allowed to see it","tags":["guard:email"]}`},
		{"two routes: only models both allow", "jane@example.com is EMP-123456", "",
			`{"targets":[{"provider":"vault","model":"secure"}],"reason":"guard: email, employee-id found; only models allowed to see it","tags":["guard:email","guard:employee-id"]}`},
		{"a reject wins over an earlier route", "jane@example.com, card 4111111111111111", "",
			`{"reject":{"status":400,"message":"the prompt contains a payment card number (guard detector card_number)"},"tags":["guard:card_number"]}`},
		{"regex alone routes by capability", "ticket for EMP-654321", "",
			`{"targets":[{"provider":"vault","model":"secure"}],"reason":"guard: employee-id found; only models allowed to see it","tags":["guard:employee-id"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r rule.Runner
			out := string(r.Route(decide, input(t, tc.lastUser, tc.system)))
			if out != tc.want {
				t.Fatalf("got  %s\nwant %s", out, tc.want)
			}
			for _, secret := range []string{"4111", openAIKey, "jane@", "EMP-", "zeus"} {
				if strings.Contains(out, secret) {
					t.Fatalf("the output echoes %q: %s", secret, out)
				}
			}
		})
	}
}

// TestNoAllowedModel: when no model allowed to see the text is available, the guard
// rejects (503) rather than leave the request to a default route that could send it
// anywhere.
func TestNoAllowedModel(t *testing.T) {
	use(t, `{"detectors": [{"detector": "email", "action": "route", "models": ["llama-b"]}]}`)
	var r rule.Runner
	out := string(r.Route(decide, input(t, "jane@example.com", "")))
	want := `{"reject":{"status":503,"message":"no model allowed to see what the prompt contains is available (guard email)"},"tags":["guard:email"]}`
	if out != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	use(t, `{"detectors": [{"detector": "email", "action": "route", "models": ["llama-b"]}], "skip_unavailable": false}`)
	if out := string(r.Route(decide, input(t, "jane@example.com", ""))); !strings.Contains(out, `"model":"llama-b"`) {
		t.Fatalf("skip_unavailable false: %s", out)
	}
}

// TestScan: with scan: [last_user], the system prompt is not checked.
func TestScan(t *testing.T) {
	use(t, `{"detectors": [{"detector": "card_number"}], "scan": ["last_user"]}`)
	var r rule.Runner
	if out := r.Route(decide, input(t, "hi", "card 4111111111111111")); out != nil {
		t.Fatalf("the system prompt was scanned: %s", out)
	}
	if out := r.Route(decide, input(t, "card 4111111111111111", "")); out == nil {
		t.Fatal("last_user was not scanned")
	}
}

func TestNoContent(t *testing.T) {
	use(t, testConfig)
	var r rule.Runner
	out := string(r.Route(decide, []byte(`{"abi":1,"request":{"priority":5},"candidates":`+candidates+`}`)))
	if !strings.Contains(out, `"error":"guard: the input has no request.content`) || !strings.Contains(out, "content: {max_bytes: N}") {
		t.Fatalf("output %s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	d := func(s string) string { return `{"detectors": [` + s + `]}` }
	for _, tc := range []struct{ name, config, want string }{
		{"no detectors", `{}`, `"detectors" must be a non-empty array`},
		{"unknown key", `{"detectors": [{"detector": "email"}], "scans": []}`, `unknown config key "scans"`},
		{"unknown detector key", d(`{"detector": "email", "actions": "reject"}`), `unknown config key "detectors[0].actions"`},
		{"no kind", d(`{"name": "x"}`), `needs exactly one of "detector" (card_number, api_key, email), "words" or "regex"`},
		{"two kinds", d(`{"detector": "email", "regex": "x"}`), `needs exactly one of`},
		{"unknown builtin", d(`{"detector": "ssn"}`), `"detector" must be card_number, api_key or email`},
		{"words without name", d(`{"words": ["x"]}`), `"name" is required for "words" and "regex"`},
		{"empty word", d(`{"name": "w", "words": ["x", ""]}`), `"words" must be a non-empty array of non-empty strings`},
		{"bad regex", d(`{"name": "r", "regex": "("}`), `detectors[0]: "regex": error parsing regexp`},
		{"bad action", d(`{"detector": "email", "action": "drop"}`), `"action" must be "reject" or "route"`},
		{"bad status", d(`{"detector": "email", "status": 429}`), `"status" must be 400 or 403`},
		{"empty message", d(`{"detector": "email", "message": ""}`), `"message" must be a non-empty string`},
		{"models on a reject", d(`{"detector": "email", "models": ["a"]}`), `"models" and "capability" are for "action": "route"`},
		{"route without target", d(`{"detector": "email", "action": "route"}`), `"action": "route" needs "models" or "capability"`},
		{"route with status", d(`{"detector": "email", "action": "route", "models": ["a"], "status": 403}`), `"status" and "message" are for "action": "reject"`},
		{"route with both", d(`{"detector": "email", "action": "route", "models": ["a"], "capability": "x"}`), `has both "models" and "capability"`},
		{"name twice", d(`{"detector": "email"}, {"detector": "email"}`), `detectors[1]: the name "email" is used twice`},
		{"bad scan", `{"detectors": [{"detector": "email"}], "scan": ["history"]}`, `"scan" must be a non-empty array of "last_user" and "system"`},
		{"empty scan", `{"detectors": [{"detector": "email"}], "scan": []}`, `"scan" must be a non-empty array`},
		{"skip_unavailable", `{"detectors": [{"detector": "email"}], "skip_unavailable": "no"}`, `"skip_unavailable" must be true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "guard: ") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
