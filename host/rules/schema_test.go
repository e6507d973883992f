package rules

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/codec"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// withBudget is testkit's input for a key with a team, a budget and rate limits, as the
// pipeline fills them.
func withBudget() *Input {
	in := testkit.Input()
	in.Request.Team = "research"
	in.Request.Budget = &abi.BudgetView{USD: 10, Period: abi.BudgetPeriodDay, SpentUSD: 8.5, RemainingUSD: 1.5,
		ResetsUnixMS: 1764028800000}
	in.Request.Limits = &abi.LimitsView{RPM: 30, RPMRemaining: 12, TPM: 100000, TPMRemaining: 5000}
	return in
}

// The ABI's JSON Schemas (api/rules) are the rule author's reference; these tests hold the
// engine to them, so the documentation cannot drift from what rules actually receive and
// what the engine actually accepts.

func loadSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "api", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	// Every schema is known by its $id, so that one can refer to another
	// (validate-input's request is input's) without a network loader.
	c := jsonschema.NewCompiler()
	files, _ := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("schema %s: %v", f, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			t.Fatalf("schema %s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("schema %s: %v", f, err)
		}
	}
	s, err := c.Compile("https://github.com/switchyard-llm/switchyard/api/rules/" + name)
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return s
}

func validJSON(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return s.Validate(v)
}

func TestInputMatchesSchema(t *testing.T) {
	s := loadSchema(t, "input.schema.json")
	for _, tc := range []struct {
		name  string
		in    Input
		allow []string
	}{
		{name: "empty", in: Input{Request: RequestView{Priority: 5, Endpoint: "chat.completions"}}},
		{name: "responses", in: Input{Request: RequestView{Priority: 5, Endpoint: abi.EndpointResponses}}},
		{name: "messages", in: Input{Request: RequestView{Priority: 5, Endpoint: abi.EndpointMessages}}},
		{name: "embeddings", in: Input{Request: RequestView{Priority: 5, Endpoint: abi.EndpointEmbeddings}}},
		{name: "completions", in: Input{Request: RequestView{Priority: 5, Endpoint: abi.EndpointCompletions}}},
		{name: "content", in: *testkit.InputWithContent()},
		{name: "empty content", in: Input{Request: RequestView{Priority: 5, Endpoint: "chat.completions", Content: &Content{}}}},
		{name: "team, budget and limits", in: *withBudget()},
		{name: "empty budget and limits", in: Input{Request: RequestView{Priority: 5, Endpoint: "chat.completions",
			Budget: &abi.BudgetView{Period: abi.BudgetPeriodTotal}, Limits: &abi.LimitsView{}}}},
		{name: "negative and non-finite budget numbers", in: Input{Request: RequestView{Priority: 5, Endpoint: "chat.completions",
			Budget: &abi.BudgetView{USD: math.Inf(1), Period: abi.BudgetPeriodMonth, SpentUSD: math.NaN(), RemainingUSD: -3, ResetsUnixMS: -1},
			Limits: &abi.LimitsView{RPM: -1, RPMRemaining: -1, TPM: -1, TPMRemaining: -1}}}},
		{name: "budget, limits and content", in: func() Input {
			in := *testkit.InputWithContent()
			b := withBudget()
			in.Request.Team, in.Request.Budget, in.Request.Limits = b.Request.Team, b.Request.Budget, b.Request.Limits
			return in
		}()},
		{name: "full", in: Input{NowUnixMS: 1764000000000, RandomSeed: 1<<53 - 1, Previous: json.RawMessage(`{"targets":[]}`),
			Request: RequestView{ID: "req_1", Endpoint: "chat.completions", Model: "auto", Stream: true, Priority: 10,
				PromptTokensEstimate: 523, MaxTokens: 1024, Messages: 4, Chars: 2100, HasTools: true, HasImages: true, JSONMode: true,
				Key: "team-a", Team: "r&d \"x\"", User: "u\"1\n\u2028", Tags: []string{"batch", "é"},
				Budget:   &abi.BudgetView{USD: 1e7, Period: abi.BudgetPeriodWeek, SpentUSD: 1234.5678, RemainingUSD: 9998765.4322, ResetsUnixMS: 1764547200000},
				Limits:   &abi.LimitsView{RPM: 1, TPM: 1 << 50, TPMRemaining: 1<<50 - 1},
				Metadata: map[string]json.RawMessage{"tier": json.RawMessage(`"free"`), "n": json.RawMessage(`3`), "bad": json.RawMessage(`{`)},
				Headers:  map[string]string{"x-tenant": "acme", "x-hidden": "secret"}},
			Candidates: []Candidate{{Provider: "openai", Model: "gpt-4o-mini", ContextWindow: 128000, USDPerMTokIn: 0.15, USDPerMTokOut: 0.6,
				Capabilities: []string{"tools"}, Healthy: true, Circuit: "half_open", P50MS: 420.5, P95MS: 1300, ErrorRate: 0.01, Inflight: 3},
				{Provider: "mock", Model: "m", Circuit: "open"}}},
			allow: []string{"x-tenant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := abi.AppendInput(nil, &tc.in, tc.allow)
			if err := validJSON(t, s, b); err != nil {
				t.Errorf("encoded input does not match api/rules/input.schema.json: %v\n%s", err, b)
			}
			if bytes.Contains(b, []byte("secret")) {
				t.Errorf("a header the rule did not ask for reached it: %s", b)
			}
		})
	}
}

// TestInputSchemaRefuses: the schema is not so loose that it would pass anything: an
// endpoint, a language hint or a budget period the router never writes, a content,
// budget or limits without its members, a negative remainder, or no team.
func TestInputSchemaRefuses(t *testing.T) {
	s := loadSchema(t, "input.schema.json")
	in := testkit.InputWithContent()
	b := withBudget()
	in.Request.Team, in.Request.Budget, in.Request.Limits = b.Request.Team, b.Request.Budget, b.Request.Limits
	good := string(abi.AppendInput(nil, in, nil))
	if err := validJSON(t, s, []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{
		{`"endpoint":"chat.completions"`, `"endpoint":"chat"`},
		{`"language_hint":"latin"`, `"language_hint":"english"`},
		{`"has_image":false,`, ``},
		{`"last_user":"`, `"last_user":1,"x":"`},
		{`"period":"day"`, `"period":"daily"`},
		{`"remaining_usd":1.5,`, ``},
		{`"remaining_usd":1.5`, `"remaining_usd":-1.5`},
		{`"resets_unix_ms":1764028800000`, `"resets_unix_ms":1.5`},
		{`"rpm_remaining":12,`, ``},
		{`"tpm":100000`, `"tpm":-1`},
		{`"limits":{"rpm":30`, `"limits":{"rpm":"30"`},
		{`"team":"research",`, ``},
	} {
		in := strings.Replace(good, bad[0], bad[1], 1)
		if in == good {
			t.Fatalf("%s is not in the input", bad[0])
		}
		if validJSON(t, s, []byte(in)) == nil {
			t.Errorf("the schema accepts %s", bad[1])
		}
	}
}

func TestOutputSchemaAgreesWithEngine(t *testing.T) {
	s := loadSchema(t, "output.schema.json")
	in := &Input{Request: RequestView{MaxTokens: 1000}, Candidates: []Candidate{{Provider: "p", Model: "m"}}}
	for _, tc := range []struct {
		name string
		out  string
		ok   bool
	}{
		{"targets", `{"targets":[{"provider":"p","model":"m"}],"reason":"r","tags":["a"]}`, true},
		{"params", `{"targets":[{"provider":"p","model":"m"}],"params":{"max_tokens":10,"temperature":0.5,"top_p":1,"stop":["x"],"reasoning_effort":"low"}}`, true},
		{"reject", `{"reject":{"status":429,"message":"over budget"}}`, true},
		{"no opinion", `{}`, true},
		{"empty targets", `{"targets":[]}`, true},
		{"error report", `{"error":"cannot read input"}`, true},
		{"unknown field", `{"target":[{"provider":"p","model":"m"}]}`, false},
		{"unknown param", `{"targets":[{"provider":"p","model":"m"}],"params":{"model":"x"}}`, false},
		{"bad status", `{"reject":{"status":500}}`, false},
		{"targets and reject", `{"targets":[{"provider":"p","model":"m"}],"reject":{"status":429}}`, false},
		{"zero max_tokens", `{"targets":[{"provider":"p","model":"m"}],"params":{"max_tokens":0}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schemaErr := validJSON(t, s, []byte(tc.out))
			_, engineErr := codec.ParseOutput([]byte(tc.out), in)
			if tc.name == "error report" {
				// Schema-valid, but the engine counts it as the rule's failure.
				engineErr = nil
			}
			if (schemaErr == nil) != tc.ok || (engineErr == nil) != tc.ok {
				t.Errorf("want ok=%v; schema: %v; engine: %v", tc.ok, schemaErr, engineErr)
			}
		})
	}
}

func TestGoldenCasesMatchSchemas(t *testing.T) {
	inSchema := loadSchema(t, "input.schema.json")
	files, _ := filepath.Glob(filepath.Join("..", "..", "rules-wasm", "*", "testdata", "golden", "*.json"))
	if len(files) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Input json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Golden inputs are re-encoded by the engine, as in production.
		var in Input
		if err := json.Unmarshal(c.Input, &in); err != nil {
			t.Fatalf("%s: input: %v", f, err)
		}
		if err := validJSON(t, inSchema, abi.AppendInput(nil, &in, nil)); err != nil {
			t.Errorf("%s: input does not match the schema: %v", f, err)
		}
	}
}

func TestValidateInputMatchesSchema(t *testing.T) {
	s := loadSchema(t, "validate-input.schema.json")
	full := validateInput("an \"answer\"\n")
	full.Request.Metadata = map[string]json.RawMessage{"tier": json.RawMessage(`"free"`), "bad": json.RawMessage(`{`)}
	full.Answer.FinishReason = "tool_calls"
	full.Answer.ToolCalls = []AnswerToolCall{{ID: "c1", Name: "lookup", Arguments: `{"q":`}}
	for _, tc := range []struct {
		name  string
		in    *ValidateInput
		allow []string
	}{
		{name: "empty", in: &ValidateInput{Request: RequestView{Priority: 5, Endpoint: "chat.completions"}}},
		{name: "full", in: full, allow: []string{"x-tenant"}},
		{name: "content", in: &ValidateInput{Request: testkit.InputWithContent().Request}},
		{name: "team, budget and limits", in: &ValidateInput{Request: withBudget().Request}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := abi.AppendValidateInput(nil, tc.in, tc.allow)
			if err := validJSON(t, s, b); err != nil {
				t.Errorf("encoded input does not match api/rules/validate-input.schema.json: %v\n%s", err, b)
			}
			if bytes.Contains(b, []byte("nope")) {
				t.Errorf("a header the rule did not ask for reached it: %s", b)
			}
		})
	}
	// The request object is the one sy_route sees.
	in := testInput()
	route, validate := abi.AppendInput(nil, in, []string{"x-tenant"}), abi.AppendValidateInput(nil, &ValidateInput{Request: in.Request}, []string{"x-tenant"})
	var r, v struct{ Request json.RawMessage } // the exact bytes of each
	if err := json.Unmarshal(route, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(validate, &v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Request, v.Request) || !bytes.HasPrefix(validate, []byte(`{"abi":1,"request":{`)) {
		t.Errorf("request objects differ:\n%s\n%s", route, validate)
	}
}

func TestValidateOutputSchemaAgreesWithEngine(t *testing.T) {
	s := loadSchema(t, "validate-output.schema.json")
	for _, tc := range []struct {
		name string
		out  string
		ok   bool
	}{
		{"accept", `{"verdict":"accept"}`, true},
		{"retry with reason", `{"verdict":"retry","reason":"truncated"}`, true},
		{"fallback", `{"verdict":"fallback","reason":"refused"}`, true},
		{"fail", `{"verdict":"fail"}`, true},
		{"empty is accept", `{}`, true},
		{"error report", `{"error":"cannot read input"}`, true},
		{"unknown verdict", `{"verdict":"maybe"}`, false},
		{"empty verdict", `{"verdict":""}`, false},
		{"unknown field", `{"verdict":"retry","why":"x"}`, false},
		{"reason not a string", `{"verdict":"retry","reason":1}`, false},
		{"not an object", `["retry"]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schemaErr := validJSON(t, s, []byte(tc.out))
			_, _, engineErr := codec.ParseVerdict([]byte(tc.out))
			if tc.name == "error report" {
				// Schema-valid, but the engine counts it as the rule's failure.
				if engineErr == nil {
					t.Fatal("an error report accepted")
				}
				engineErr = nil
			}
			if (schemaErr == nil) != tc.ok || (engineErr == nil) != tc.ok {
				t.Errorf("want ok=%v; schema: %v; engine: %v", tc.ok, schemaErr, engineErr)
			}
		})
	}
}
