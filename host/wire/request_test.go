package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeChat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		param string // want a 400 about this param ("-" for none expected)
		check func(t *testing.T, c *ChatRequest)
	}{
		{name: "minimal", body: `{"model":"m","messages":[{"role":"user","content":"hello"}]}`, check: func(t *testing.T, c *ChatRequest) {
			if c.Model != "m" || c.Messages != 1 || c.Chars != 5 || c.Provider.Messages[0].Content != "hello" || c.Stream {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "everything typed", body: `{"model":"m","messages":[{"role":"system","content":"be brief"},
			{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"42"}],
			"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],
			"tool_choice":"auto","temperature":0.5,"top_p":0.9,"max_completion_tokens":100,"stop":"END","seed":7,
			"response_format":{"type":"json_object"},"stream":true,"stream_options":{"include_usage":true},
			"user":"u1","reasoning_effort":"low","parallel_tool_calls":false,"n":1,
			"metadata":{"tier":"free","switchyard.team":"a","n":3}}`, check: func(t *testing.T, c *ChatRequest) {
			r := c.Provider
			if !c.HasTools || !c.HasImages || !c.JSONMode || !c.Stream || !r.IncludeUsage {
				t.Errorf("facts: %+v", c)
			}
			if *r.Temperature != 0.5 || *r.TopP != 0.9 || r.MaxTokens != 100 || c.MaxTokensField != "max_completion_tokens" || *r.Seed != 7 {
				t.Errorf("sampling: %+v", r)
			}
			if !reflect.DeepEqual(r.Stop, []string{"END"}) || string(r.ToolChoice) != `"auto"` || r.User != "u1" || r.ReasoningEffort != "low" || *r.ParallelToolCalls {
				t.Errorf("fields: %+v", r)
			}
			if p := r.Messages[1].Parts; len(p) != 2 || p[1].ImageURL != "data:image/png;base64,AAAA" || p[1].ImageDetail != "low" {
				t.Errorf("parts: %+v", p)
			}
			if tc := r.Messages[2].ToolCalls; len(tc) != 1 || tc[0].Name != "f" || tc[0].Arguments != `{"a":1}` {
				t.Errorf("tool calls: %+v", tc)
			}
			if r.Messages[3].ToolCallID != "c1" || !r.Tools[0].Strict || string(r.Tools[0].Parameters) != `{"type":"object"}` {
				t.Errorf("tools: %+v %+v", r.Messages[3], r.Tools)
			}
			if _, ok := r.Metadata["switchyard.team"]; ok || r.Metadata["tier"] != "free" || r.Metadata["n"] != "3" {
				t.Errorf("upstream metadata %v: Switchyard's keys must be removed, others kept", r.Metadata)
			}
			if string(c.Metadata["switchyard.team"]) != `"a"` {
				t.Errorf("rules must see every metadata key: %v", c.Metadata)
			}
		}},
		{name: "unknown fields kept", body: `{"model":"m","messages":[{"role":"user","content":"x","cache_control":{"type":"ephemeral"}}],"logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"y"}}`, check: func(t *testing.T, c *ChatRequest) {
			var extra map[string]json.RawMessage
			if err := json.Unmarshal(c.Provider.Extra, &extra); err != nil || len(extra) != 1 || string(extra["prediction"]) != `{"type":"content","content":"y"}` {
				t.Errorf("extra %s", c.Provider.Extra)
			}
			if !c.Provider.Logprobs || c.Provider.TopLogprobs == nil || *c.Provider.TopLogprobs != 2 {
				t.Errorf("logprobs %v top %v: typed since protocol v1.1", c.Provider.Logprobs, c.Provider.TopLogprobs)
			}
			if string(c.Provider.Messages[0].Extra) != `{"cache_control":{"type":"ephemeral"}}` {
				t.Errorf("message extra %s", c.Provider.Messages[0].Extra)
			}
		}},
		{name: "stop as array", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b"]}`, check: func(t *testing.T, c *ChatRequest) {
			if !reflect.DeepEqual(c.Provider.Stop, []string{"a", "b"}) {
				t.Errorf("stop %v", c.Provider.Stop)
			}
		}},
		{name: "not JSON", body: `{"model":`, param: ""},
		{name: "array body", body: `[1]`, param: ""},
		{name: "two values", body: `{"model":"m","messages":[{"role":"user","content":"x"}]} {}`, param: ""},
		{name: "duplicate field", body: `{"model":"m","model":"n","messages":[{"role":"user","content":"x"}]}`, param: "model"},
		{name: "no model", body: `{"messages":[{"role":"user","content":"x"}]}`, param: "model"},
		{name: "model not a string", body: `{"model":5,"messages":[{"role":"user","content":"x"}]}`, param: "model"},
		{name: "no messages", body: `{"model":"m"}`, param: "messages"},
		{name: "empty messages", body: `{"model":"m","messages":[]}`, param: "messages"},
		{name: "bad role", body: `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, param: "messages[0].role"},
		{name: "content a number", body: `{"model":"m","messages":[{"role":"user","content":5}]}`, param: "messages[0].content"},
		{name: "image without url", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, param: "messages[0].content[0].image_url"},
		{name: "temperature too high", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5}`, param: "temperature"},
		{name: "max_tokens zero", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, param: "max_tokens"},
		{name: "max_tokens fraction", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, param: "max_tokens"},
		{name: "bad response_format", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, param: "response_format.type"},
		{name: "tool without name", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}`, param: "tools[0].function.name"},
		{name: "metadata not an object", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"metadata":[1]}`, param: "metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeChat([]byte(tc.body))
			if tc.check != nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				tc.check(t, c)
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("want a *Error, got %v", err)
			}
			if e.Status != 400 || e.Code != CodeInvalidRequest || e.Type != "invalid_request_error" || e.Param != tc.param || e.Message == "" {
				t.Errorf("got %d %s %s param %q %q, want 400 about %q", e.Status, e.Type, e.Code, e.Param, e.Message, tc.param)
			}
		})
	}
}

func TestRawBody(t *testing.T) {
	body := `{ "model" : "route-a", "messages":[{"role":"user","content":"x"}],
	  "metadata":{"switchyard.k":"v","keep":"me"}, "logprobs":true }`
	c, err := DecodeChat([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	got := c.RawBody("gpt-4o-mini", map[string]json.RawMessage{"max_tokens": json.RawMessage("64"), "logprobs": json.RawMessage("false")})
	want := `{"max_tokens":64, "model" : "gpt-4o-mini", "messages":[{"role":"user","content":"x"}],
	  "metadata":{"keep":"me"}, "logprobs":false }`
	if string(got) != want {
		t.Errorf("raw body\n got %s\nwant %s", got, want)
	}
	plain, _ := DecodeChat([]byte(`{"messages":[{"role":"user","content":"x"}],"model":"a"}`))
	if got := string(plain.RawBody("b", nil)); got != `{"messages":[{"role":"user","content":"x"}],"model":"b"}` {
		t.Errorf("only the model may change: %s", got)
	}
}

func TestErrorEnvelope(t *testing.T) {
	e := BadRequest("temperature", "temperature must be between %g and %g", 0.0, 2.0)
	e.Provider, e.Attempts = "mock", 2
	want := `{"error":{"message":"temperature must be between 0 and 2","type":"invalid_request_error","param":"temperature","code":"invalid_request","provider":"mock","attempts":2}}`
	if got := string(e.JSON()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(NewError(503, CodeNoRoute, "x").JSON()); !strings.Contains(got, `"param":null`) || !strings.Contains(got, `"type":"api_error"`) {
		t.Errorf("got %s", got)
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}}]}],"tools":[{"type":"function","function":{"name":"f"}}],"stop":["x"],"metadata":{"switchyard.a":1}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"{}"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":`, `[]`, `null`, `{}`, `{"model":"m","messages":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeChat(body)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != 400 {
				t.Fatalf("error is not a 400 *Error: %v", err)
			}
			return
		}
		if c.Model == "" || len(c.Provider.Messages) == 0 {
			t.Fatalf("accepted a request without model or messages: %s", body)
		}
		raw := c.RawBody("replaced", map[string]json.RawMessage{"temperature": json.RawMessage("1")})
		var back map[string]json.RawMessage
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("RawBody produced invalid JSON %s from %s: %v", raw, body, err)
		}
		if string(back["model"]) != `"replaced"` || string(back["temperature"]) != "1" {
			t.Fatalf("RawBody lost the model or an override: %s", raw)
		}
	})
}
