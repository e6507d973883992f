package abi_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// inputWithBudget is testkit.Input for a key with a team, a budget and rate limits, as
// the pipeline fills them (its encoding is sdk/rule/testdata/router-input-budget.json).
func inputWithBudget() *abi.Input {
	in := testkit.Input()
	in.Request.Team = "research"
	in.Request.Budget = &abi.BudgetView{USD: 10, Period: abi.BudgetPeriodDay, SpentUSD: 8.5, RemainingUSD: 1.5,
		ResetsUnixMS: 1764028800000}
	in.Request.Limits = &abi.LimitsView{RPM: 30, RPMRemaining: 12, TPM: 100000, TPMRemaining: 5000}
	return in
}

// validateInput is an answer of mock/mock-small with the given content.
func validateInput(content string) *abi.ValidateInput {
	return &abi.ValidateInput{
		Request: testkit.Input().Request,
		Target:  abi.Target{Provider: "mock", Model: "mock-small"},
		Answer:  abi.Answer{Content: content, FinishReason: "stop", Usage: &abi.AnswerUsage{PromptTokens: 523, CompletionTokens: 12}},
	}
}

// TestAppendInputRoundTrip: the append-based encoder writes valid JSON that
// encoding/json decodes back to the same Input (headers filtered).
func TestAppendInputRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		input func() *abi.Input
		allow []string
	}{
		{name: "typical", input: testkit.Input, allow: []string{"x-tenant"}},
		{name: "zero", input: func() *abi.Input { return &abi.Input{} }},
		{name: "awkward strings", input: func() *abi.Input {
			in := testkit.Input()
			in.Request.ID = "q\"b\\s\n\t\x01é\u2028"
			in.Request.Tags = []string{"", "<&>"}
			in.Previous = json.RawMessage(`{"targets":[{"provider":"mock","model":"mock-small"}],"why":"timeout"}`)
			return in
		}},
		{name: "invalid metadata and previous become null", input: func() *abi.Input {
			in := testkit.Input()
			in.Request.Metadata = map[string]json.RawMessage{"bad": json.RawMessage(`{`), "ok": json.RawMessage(`[1]`)}
			in.Previous = json.RawMessage(`nope`)
			return in
		}},
		{name: "content", input: testkit.InputWithContent, allow: []string{"x-tenant"}},
		{name: "content with awkward text", input: func() *abi.Input {
			in := testkit.InputWithContent()
			in.Request.Content.LastUser = "q\"b\\s\n\t\x01é\u2028😀"
			in.Request.Content.LanguageHint = ""
			return in
		}},
		{name: "non-finite floats become 0", input: func() *abi.Input {
			in := testkit.Input()
			in.Candidates[0].P95MS = math.Inf(1)
			in.Candidates[0].ErrorRate = math.NaN()
			return in
		}},
		{name: "team, budget and limits", input: inputWithBudget, allow: []string{"x-tenant"}},
		{name: "total budget, no limits", input: func() *abi.Input {
			in := inputWithBudget()
			in.Request.Team = "q\"b\\s\n"
			in.Request.Budget = &abi.BudgetView{USD: 0.25, Period: abi.BudgetPeriodTotal, SpentUSD: 0.123456789, RemainingUSD: 0.126543211}
			in.Request.Limits = nil
			return in
		}},
		{name: "limits, no budget", input: func() *abi.Input {
			in := inputWithBudget()
			in.Request.Budget = nil
			in.Request.Limits = &abi.LimitsView{TPM: 1 << 40, TPMRemaining: 1<<40 - 1}
			return in
		}},
		{name: "negative and non-finite budget numbers become 0", input: func() *abi.Input {
			in := inputWithBudget()
			in.Request.Budget = &abi.BudgetView{USD: math.NaN(), Period: abi.BudgetPeriodWeek, SpentUSD: math.Inf(1),
				RemainingUSD: -0.5, ResetsUnixMS: -1}
			in.Request.Limits = &abi.LimitsView{RPM: -1, RPMRemaining: -2, TPM: 10, TPMRemaining: -3}
			return in
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.input()
			data := abi.AppendInput(nil, in, tt.allow)
			var back struct {
				ABI int `json:"abi"`
				abi.Input
			}
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("%v: %s", err, data)
			}
			if back.ABI != 1 {
				t.Fatalf("abi %d", back.ABI)
			}
			want := *in
			want.Request.Headers = map[string]string{}
			for _, h := range tt.allow {
				if v, ok := in.Request.Headers[h]; ok {
					want.Request.Headers[h] = v
				}
			}
			want.Request.Metadata = map[string]json.RawMessage{}
			for k, v := range in.Request.Metadata {
				if !json.Valid(v) {
					v = json.RawMessage("null")
				}
				want.Request.Metadata[k] = v
			}
			if !json.Valid(in.Previous) {
				want.Previous = json.RawMessage("null")
			}
			if b := in.Request.Budget; b != nil {
				nb := *b
				for _, f := range []*float64{&nb.USD, &nb.SpentUSD, &nb.RemainingUSD} {
					if math.IsNaN(*f) || math.IsInf(*f, 0) || *f < 0 {
						*f = 0
					}
				}
				nb.ResetsUnixMS = max(nb.ResetsUnixMS, 0)
				want.Request.Budget = &nb
			}
			if l := in.Request.Limits; l != nil {
				want.Request.Limits = &abi.LimitsView{RPM: max(l.RPM, 0), RPMRemaining: max(l.RPMRemaining, 0),
					TPM: max(l.TPM, 0), TPMRemaining: max(l.TPMRemaining, 0)}
			}
			want.Candidates = append([]abi.Candidate(nil), in.Candidates...)
			for i := range want.Candidates {
				c := &want.Candidates[i]
				for _, f := range []*float64{&c.USDPerMTokIn, &c.USDPerMTokOut, &c.P50MS, &c.P95MS, &c.ErrorRate} {
					if math.IsNaN(*f) || math.IsInf(*f, 0) {
						*f = 0
					}
				}
			}
			normalize := func(in *abi.Input) {
				if len(in.Request.Tags) == 0 {
					in.Request.Tags = nil
				}
				if len(in.Candidates) == 0 {
					in.Candidates = nil
				}
				if string(in.Previous) == "null" {
					in.Previous = nil
				}
			}
			normalize(&want)
			normalize(&back.Input)
			if !reflect.DeepEqual(back.Input, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v\njson %s", back.Input, want, data)
			}
		})
	}
}

// TestAppendFloat: the fast path writes what strconv's shortest 'g' does.
func TestAppendFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.15, 0.6, 2.5, 10, 0.005, 0.01, 1e-4, 9.9999e-5, 0.0001234,
		123456.789012, 999999.999999, 1e6, 1e6 - 1e-6, 1234567, 0.30000000000000004, 1.0 / 3, 420.5, 1300, 0.999999, 5e-324, math.MaxFloat64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		scale := math.Pow10(rng.IntN(8))
		vals = append(vals, float64(rng.Int64N(2e12)-1e12)/scale, rng.Float64()*math.Pow10(rng.IntN(12)-5))
	}
	for _, f := range vals {
		if got, want := string(abi.AppendFloat(nil, f)), strconv.FormatFloat(f, 'g', -1, 64); got != want {
			t.Fatalf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func FuzzAppendFloat(f *testing.F) {
	f.Add(0.15)
	f.Add(1e-4)
	f.Add(999999.999999)
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if got, want := string(abi.AppendFloat(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Fatalf("appendFloat(%v) = %s, want %s", v, got, want)
		}
	})
}

// TestInputLayoutMatchesSDK: the Go SDK reads inputs in the router's exact
// layout through a fast path (sdk/rule/canonical.go) tested on copies of
// this encoder's output, without and with request.content, and for a key
// with a team, a budget and limits. If the layout changes, update those
// copies and the fast path with them, or Go rules quietly take the slower
// general reader.
func TestInputLayoutMatchesSDK(t *testing.T) {
	for _, tc := range []struct {
		file    string
		in      *abi.Input
		content int
	}{
		{"router-input.json", testkit.Input(), 0},
		{"router-input-content.json", testkit.InputWithContent(), testkit.ContentBytes},
		{"router-input-budget.json", inputWithBudget(), 0},
	} {
		want, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "sdk", "rule", "testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := abi.AppendInputFor(nil, tc.in, nil, tc.content); !bytes.Equal(got, want) {
			t.Fatalf("the encoder's layout changed:\n got %s\nwant %s\n(update sdk/rule/testdata/%s and sdk/rule/canonical.go)", got, want, tc.file)
		}
	}
}

// TestContentPerRule: a rule that did not opt in sees no content member at
// all, byte for byte what it saw before content existed; a rule that did
// sees the texts cut to its own size on a UTF-8 boundary, the facts whole.
func TestContentPerRule(t *testing.T) {
	plain := abi.AppendInputFor(nil, testkit.Input(), nil, 0)
	in := testkit.InputWithContent()
	in.Request.Content.LastUser = "añb€c"      // a, ñ (2 bytes), b, € (3 bytes), c
	in.Request.Content.System = "sys€tem text" // € at bytes 3..5
	for _, n := range []int{0, -1} {
		if got := abi.AppendInputFor(nil, in, nil, n); !bytes.Equal(got, plain) {
			t.Fatalf("content %d: a rule without content sees\n%s\nwant\n%s", n, got, plain)
		}
	}
	if got := abi.AppendInputFor(nil, testkit.Input(), nil, 100); !bytes.Equal(got, plain) {
		t.Fatalf("an input without content, for a rule with content: %s", got)
	}
	for _, tc := range []struct {
		n            int
		user, system string
	}{
		{1, "a", "s"},
		{2, "a", "sy"},
		{3, "añ", "sys"},
		{5, "añb", "sys"},
		{6, "añb", "sys€"},
		{7, "añb€", "sys€t"},
		{abi.MaxContentBytes, "añb€c", "sys€tem text"},
	} {
		data := abi.AppendInputFor(nil, in, nil, tc.n)
		var back struct {
			Request struct {
				Content *abi.Content `json:"content"`
			} `json:"request"`
		}
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		want := *in.Request.Content
		want.LastUser, want.System = tc.user, tc.system
		if c := back.Request.Content; c == nil || *c != want {
			t.Errorf("content %d: got %+v, want %+v", tc.n, c, want)
		}
		if !bytes.HasSuffix(data[:bytes.Index(data, []byte(`,"content":`))], []byte(`"headers":{}`)) {
			t.Errorf("content %d: content is not the request's last member: %s", tc.n, data)
		}
		// The sy_validate request is the sy_route one.
		v := abi.AppendValidateInputFor(nil, &abi.ValidateInput{Request: in.Request}, nil, tc.n)
		req := data[bytes.Index(data, []byte(`"request":`)):bytes.Index(data, []byte(`,"candidates":`))]
		if !bytes.Contains(v, req) {
			t.Errorf("content %d: sy_validate's request differs: %s", tc.n, v)
		}
	}
}

// TestBudgetAndLimits: the key's budget and limits are written only when it has
// them, after "user" and before the client's tags, metadata and headers, for
// every rule (with or without content) and in the sy_validate request too.
func TestBudgetAndLimits(t *testing.T) {
	plain := string(abi.AppendInput(nil, testkit.Input(), nil))
	if !strings.Contains(plain, `"key":"team-a","team":"","user":"u1","tags":`) {
		t.Fatalf("a key without team, budget and limits: %s", plain)
	}
	in := inputWithBudget()
	const want = `"key":"team-a","team":"research","user":"u1",` +
		`"budget":{"usd":10,"period":"day","spent_usd":8.5,"remaining_usd":1.5,"resets_unix_ms":1764028800000},` +
		`"limits":{"rpm":30,"rpm_remaining":12,"tpm":100000,"tpm_remaining":5000},"tags":["batch"]`
	for _, n := range []int{0, 100} {
		withContent := testkit.InputWithContent()
		withContent.Request.Team, withContent.Request.Budget, withContent.Request.Limits = in.Request.Team, in.Request.Budget, in.Request.Limits
		data := string(abi.AppendInputFor(nil, withContent, nil, n))
		if !strings.Contains(data, want) {
			t.Fatalf("content %d:\n%s\nwant it to hold\n%s", n, data, want)
		}
		v := string(abi.AppendValidateInputFor(nil, &abi.ValidateInput{Request: withContent.Request}, nil, n))
		req := data[strings.Index(data, `"request":`):strings.Index(data, `,"candidates":`)]
		if !strings.Contains(v, req) {
			t.Errorf("content %d: sy_validate's request differs: %s", n, v)
		}
	}
	// A budget in the client's metadata comes after the key's.
	in.Request.Metadata = map[string]json.RawMessage{"budget": json.RawMessage(`{"usd":1e9}`)}
	data := string(abi.AppendInput(nil, in, nil))
	if i, j := strings.Index(data, `"budget":`), strings.Index(data, `"metadata":`); i < 0 || j < i {
		t.Fatalf("the key's budget is not written before the metadata: %s", data)
	}
}

// BenchmarkAppendInput measures the encoding of the ~1 KB test input for one
// rule: "without" a rule that opted in (no request.content; the pipeline
// computes none), "content-off" an input with content for a rule that did not
// opt in, and "content" for one that did (4 KiB), on a reused buffer as the
// engine encodes.
func BenchmarkAppendInput(b *testing.B) {
	for _, tc := range []struct {
		name    string
		in      *abi.Input
		content int
	}{
		{"without", testkit.Input(), 0},
		{"content-off", testkit.InputWithContent(), 0},
		{"content", testkit.InputWithContent(), testkit.ContentBytes},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf = abi.AppendInputFor(buf[:0], tc.in, []string{"x-tenant"}, tc.content)
			}
			b.ReportMetric(float64(len(buf)), "bytes")
		})
	}
}

func TestAppendValidateInputRoundTrip(t *testing.T) {
	in := validateInput("a \"quoted\"\nanswer é \u2028")
	in.Answer.ToolCalls = []abi.AnswerToolCall{{ID: "c1", Name: "f", Arguments: `{"a":[1,2]}`}, {ID: "c2"}}
	data := abi.AppendValidateInput(nil, in, []string{"x-tenant"})
	var back struct {
		ABI int `json:"abi"`
		abi.ValidateInput
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	want := *in
	want.Request.Headers = map[string]string{"x-tenant": "acme"}
	if back.ABI != 1 || !reflect.DeepEqual(back.ValidateInput, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\njson %s", back.ValidateInput, want, data)
	}
	if empty := string(abi.AppendValidateInput(nil, &abi.ValidateInput{}, nil)); !strings.HasSuffix(empty,
		`"target":{"provider":"","model":""},"answer":{"content":"","tool_calls":[],"finish_reason":"","usage":null}}`) {
		t.Fatalf("zero input: %s", empty)
	}
}
