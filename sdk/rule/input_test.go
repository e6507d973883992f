package rule

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// designExample is the input example of api/rules/ABI.md.
const designExample = `{"abi":1,"now_unix_ms":1764000000000,"random_seed":8812,
 "request":{"id":"req_1","endpoint":"chat.completions","model":"auto","stream":false,
   "priority":5,"prompt_tokens_estimate":523,"max_tokens":1024,"messages":4,"chars":2100,
   "has_tools":false,"has_images":false,"json_mode":false,
   "key":"team-a","team":"research","user":"u1",
   "budget":{"usd":10,"period":"day","spent_usd":2.5,"remaining_usd":7.5,"resets_unix_ms":1764028800000},
   "limits":{"rpm":30,"rpm_remaining":12,"tpm":100000,"tpm_remaining":5000},
   "tags":["batch"],"metadata":{"tier":"free"},"headers":{"x-tenant":"acme"}},
 "candidates":[{"provider":"openai","model":"gpt-4o-mini","context_window":128000,
   "usd_per_mtok_in":0.15,"usd_per_mtok_out":0.60,"capabilities":["tools","json","vision","stream"],
   "healthy":true,"circuit":"closed","p50_ms":420,"p95_ms":1300,"error_rate":0.01,"inflight":3}],
 "previous":null}`

func TestReadInput(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, in *Input)
	}{
		{name: "design example", input: designExample, check: func(t *testing.T, in *Input) {
			want := Input{ABI: 1, NowUnixMS: 1764000000000, RandomSeed: 8812,
				Request: Request{ID: "req_1", Endpoint: "chat.completions", Model: "auto", Priority: 5,
					PromptTokensEstimate: 523, MaxTokens: 1024, Messages: 4, Chars: 2100, Key: "team-a", Team: "research", User: "u1",
					Budget: &Budget{USD: 10, Period: BudgetPeriodDay, SpentUSD: 2.5, RemainingUSD: 7.5, ResetsUnixMS: 1764028800000},
					Limits: &Limits{RPM: 30, RPMRemaining: 12, TPM: 100000, TPMRemaining: 5000},
					Tags:   []string{"batch"}, Metadata: map[string]string{"tier": "free"}, Headers: map[string]string{"x-tenant": "acme"}},
				Candidates: []Candidate{{Provider: "openai", Model: "gpt-4o-mini", ContextWindow: 128000,
					USDPerMTokIn: 0.15, USDPerMTokOut: 0.60, Capabilities: []string{"tools", "json", "vision", "stream"},
					Healthy: true, Circuit: "closed", P50MS: 420, P95MS: 1300, ErrorRate: 0.01, Inflight: 3}}}
			if !sameInput(*in, want) {
				t.Fatalf("got  %+v\nwant %+v", *in, want)
			}
		}},
		{name: "unknown fields are skipped", input: `{"future":{"a":[1,{"b":null}]},"request":{"priority":7,"new":"x"},"candidates":[{"model":"m","extra":[true]}]}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.Priority != 7 || len(in.Candidates) != 1 || in.Candidates[0].Model != "m" {
					t.Fatalf("%+v", in)
				}
			}},
		{name: "escapes", input: `{"request":{"id":"a\"b\\c\u00e9\ud83d\ude00\n","user":"\/x"}}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.ID != "a\"b\\c\u00e9\U0001F600\n" || in.Request.User != "/x" {
					t.Fatalf("%q %q", in.Request.ID, in.Request.User)
				}
			}},
		{name: "escaped member name", input: `{"request":{"pri\u006frity":9}}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.Priority != 9 {
					t.Fatalf("priority %d", in.Request.Priority)
				}
			}},
		{name: "metadata keeps non-string values as JSON", input: `{"request":{"metadata":{"n":12.5,"o":{"a":[1,2]},"s":"x","z":null}}}`,
			check: func(t *testing.T, in *Input) {
				want := map[string]string{"n": "12.5", "o": `{"a":[1,2]}`, "s": "x", "z": "null"}
				if !reflect.DeepEqual(in.Request.Metadata, want) {
					t.Fatalf("%v", in.Request.Metadata)
				}
			}},
		{name: "nulls read as zero values", input: `{"request":{"id":null,"priority":null,"stream":null,"tags":null},"candidates":null,"previous":null}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.ID != "" || in.Request.Priority != 0 || in.Request.Tags != nil || in.Candidates != nil || in.Previous != "" {
					t.Fatalf("%+v", in)
				}
			}},
		{name: "numbers", input: `{"random_seed":18446744073709551615,"request":{"max_tokens":1e3,"chars":-5.9},"candidates":[{"usd_per_mtok_in":2.5e-1,"p95_ms":12345678901234567890,"error_rate":0.000001}]}`,
			check: func(t *testing.T, in *Input) {
				c := in.Candidates[0]
				if in.RandomSeed != 18446744073709551615 || in.Request.MaxTokens != 1000 || in.Request.Chars != -5 ||
					c.USDPerMTokIn != 0.25 || c.P95MS != 12345678901234567890 || c.ErrorRate != 0.000001 {
					t.Fatalf("%+v", in)
				}
			}},
		{name: "content", input: `{"request":{"priority":5,"headers":{},"content":{"last_user":"Why?\n` + "```go\\nx\\n```" + `","system":"Be \"brief\".","has_code_fence":true,"has_image":false,"has_tool_results":true,"language_hint":"latin","future":[1]}}}`,
			check: func(t *testing.T, in *Input) {
				want := Content{LastUser: "Why?\n```go\nx\n```", System: `Be "brief".`, HasCodeFence: true, HasToolResults: true, LanguageHint: "latin"}
				if c := in.Request.Content; c == nil || *c != want {
					t.Fatalf("content %+v, want %+v", c, want)
				}
			}},
		{name: "content without escapes", input: `{"request":{"content":{"last_user":"plain text","system":"","language_hint":""}}}`,
			check: func(t *testing.T, in *Input) {
				if c := in.Request.Content; c == nil || c.LastUser != "plain text" || c.System != "" {
					t.Fatalf("content %+v", c)
				}
			}},
		{name: "no content for a rule that did not opt in", input: designExample,
			check: func(t *testing.T, in *Input) {
				if in.Request.Content != nil {
					t.Fatalf("content %+v", in.Request.Content)
				}
			}},
		{name: "null content, and a repeated one replaces", input: `{"request":{"content":{"last_user":"a","has_image":true},"content":{"system":"b"}},"x":{"content":null}}`,
			check: func(t *testing.T, in *Input) {
				if c := in.Request.Content; c == nil || *c != (Content{System: "b"}) {
					t.Fatalf("content %+v", c)
				}
			}},
		{name: "content null", input: `{"request":{"content":{"last_user":"a"},"content":null}}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.Content != nil {
					t.Fatalf("content %+v", in.Request.Content)
				}
			}},
		{name: "budget and limits", input: `{"request":{"key":"k","team":"t\u00e9","user":"u","budget":{"usd":0.25,"period":"total","spent_usd":1e-3,"remaining_usd":0.249,"resets_unix_ms":0,"future":{"a":1}},"limits":{"rpm":0,"rpm_remaining":0,"tpm":2000000,"tpm_remaining":1999999}}}`,
			check: func(t *testing.T, in *Input) {
				r := &in.Request
				if r.Team != "t\u00e9" || r.Budget == nil || *r.Budget != (Budget{USD: 0.25, Period: BudgetPeriodTotal, SpentUSD: 0.001, RemainingUSD: 0.249}) ||
					r.Limits == nil || *r.Limits != (Limits{TPM: 2000000, TPMRemaining: 1999999}) {
					t.Fatalf("team %q budget %+v limits %+v", r.Team, r.Budget, r.Limits)
				}
			}},
		{name: "no budget or limits for a key without them", input: `{"request":{"key":"k","team":"","user":"u","tags":[]}}`,
			check: func(t *testing.T, in *Input) {
				if in.Request.Budget != nil || in.Request.Limits != nil || in.Request.Team != "" {
					t.Fatalf("%+v", in.Request)
				}
			}},
		{name: "null budget and limits, and a repeated one replaces", input: `{"request":{"budget":{"usd":5,"period":"day"},"budget":{"spent_usd":1},"limits":{"rpm":3},"limits":null},"x":{"budget":null}}`,
			check: func(t *testing.T, in *Input) {
				if b := in.Request.Budget; b == nil || *b != (Budget{SpentUSD: 1}) || in.Request.Limits != nil {
					t.Fatalf("budget %+v limits %+v", b, in.Request.Limits)
				}
			}},
		{name: "white space everywhere", input: " {\n\t\"request\" : { \"priority\" : 3 , \"tags\" : [ \"a\" , \"b\" ] } ,\r\n \"previous\" : { \"x\" : 1 } } ",
			check: func(t *testing.T, in *Input) {
				if in.Request.Priority != 3 || len(in.Request.Tags) != 2 || in.Previous != `{ "x" : 1 }` {
					t.Fatalf("%+v", in)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in Input
			if err := ReadInput([]byte(tt.input), &in); err != nil {
				t.Fatalf("ReadInput: %v", err)
			}
			tt.check(t, &in)
			var ref Input
			if err := readInputRef(tt.input, &ref); err != nil || !sameInput(in, ref) {
				t.Fatalf("reference reader differs (err %v):\n%+v\n%+v", err, in, ref)
			}
		})
	}
}

func TestReadInputErrors(t *testing.T) {
	tests := []struct{ name, input, errHas string }{
		{"empty", ``, "expected object"},
		{"null", `null`, "input is null"},
		{"not json", `hello`, "expected object"},
		{"trailing comma in object", `{"abi":1,}`, "trailing comma"},
		{"trailing comma in array", `{"request":{"tags":["a",]}}`, "trailing comma"},
		{"missing colon", `{"abi" 1}`, "expected ':'"},
		{"unterminated string", `{"request":{"id":"abc`, "unterminated"},
		{"control character", "{\"request\":{\"id\":\"a\x01\"}}", "control character"},
		{"wrong type", `{"request":{"priority":"high"}}`, "expected number"},
		{"leading zero", `{"now_unix_ms":0123}`, "leading zero"},
		{"data after value", `{} {}`, "data after"},
		{"unsupported abi", `{"abi":2}`, "unsupported abi 2"},
		{"negative seed", `{"random_seed":-1}`, "unsigned"},
		{"unclosed", `{"request":{"tags":["a"]`, "unexpected end"},
		{"content not an object", `{"request":{"content":"text"}}`, "expected object"},
		{"content text not a string", `{"request":{"content":{"last_user":1}}}`, "expected string"},
		{"content fact not a boolean", `{"request":{"content":{"has_image":"yes"}}}`, "expected boolean"},
		{"control character in content", "{\"request\":{\"content\":{\"system\":\"a\x01\"}}}", "control character"},
		{"budget not an object", `{"request":{"budget":10}}`, "expected object"},
		{"limits not an object", `{"request":{"limits":[30]}}`, "expected object"},
		{"budget amount not a number", `{"request":{"budget":{"remaining_usd":"7.5"}}}`, "expected number"},
		{"budget period not a string", `{"request":{"budget":{"period":1}}}`, "expected string"},
		{"limit not a number", `{"request":{"limits":{"rpm_remaining":true}}}`, "expected number"},
		{"unclosed budget", `{"request":{"budget":{"usd":1`, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in Input
			err := ReadInput([]byte(tt.input), &in)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want %q", err, tt.errHas)
			}
			if refErr := readInputRef(tt.input, &Input{}); refErr == nil {
				t.Fatalf("reference reader accepts it")
			}
		})
	}
}

// TestReadInputReuse checks that a reused Input holds nothing of the
// previous call.
func TestReadInputReuse(t *testing.T) {
	var in Input
	withContent := strings.Replace(designExample, `"headers":{"x-tenant":"acme"}`,
		`"headers":{"x-tenant":"acme"},"content":{"last_user":"hi","has_image":true}`, 1)
	if err := ReadInput([]byte(withContent), &in); err != nil || in.Request.Content == nil ||
		in.Request.Budget == nil || in.Request.Limits == nil || in.Request.Team == "" {
		t.Fatal(err, in.Request)
	}
	small := `{"request":{"priority":2},"candidates":[{"model":"x"}]}`
	if err := ReadInput([]byte(small), &in); err != nil {
		t.Fatal(err)
	}
	var fresh Input
	if err := ReadInput([]byte(small), &fresh); err != nil {
		t.Fatal(err)
	}
	// Reused maps stay allocated but empty, and reused slices keep capacity.
	if len(in.Request.Tags) != 0 || len(in.Request.Metadata) != 0 || len(in.Request.Headers) != 0 ||
		len(in.Candidates[0].Capabilities) != 0 || in.Request.Content != nil || in.Request.Budget != nil ||
		in.Request.Limits != nil || in.Request.Team != "" {
		t.Fatalf("leftovers: %+v", in)
	}
	in.Request.Tags, in.Request.Metadata, in.Request.Headers, in.Candidates[0].Capabilities = nil, nil, nil, nil
	if !sameInput(in, fresh) {
		t.Fatalf("reused %+v\nfresh  %+v", in, fresh)
	}
}

// FuzzReadInput checks the fast reader against the reference reader: same
// acceptance, same result, also when the Input is reused.
func FuzzReadInput(f *testing.F) {
	for _, s := range []string{designExample, `{}`, `{"abi":1}`, `{"request":{"metadata":{"a":[1,{"b":"c"}]}}}`,
		`{"candidates":[{"provider":"p","model":"m","usd_per_mtok_in":1e-7,"inflight":-3}],"previous":{"targets":[]}}`,
		`{"request":{"id":"\u00e9\ud800x","tags":["a","b"],"tags":null}}`, `{"now_unix_ms":-0.5e+2,"random_seed":1.5}`} {
		f.Add(s)
	}
	if data, err := os.ReadFile("testdata/router-input-content.json"); err == nil {
		f.Add(string(data))
		for _, v := range [][2]string{{`"language_hint":"latin"`, `"language_hint":null`}, {`"has_image":false`, `"has_image":null`},
			{`"last_user":"Why`, `"last_user":null,"x":"Why`}, {`\n`, "\\u000a"}} {
			f.Add(strings.Replace(string(data), v[0], v[1], 1))
		}
	}
	if data, err := os.ReadFile("testdata/router-input-budget.json"); err == nil {
		f.Add(string(data))
		for _, v := range [][2]string{{`"usd":10`, `"usd":1e1`}, {`"period":"day"`, `"period":null`},
			{`"limits":{`, `"limits":null,"x":{`}, {`"team":"research"`, `"team":"r\u0065search"`},
			{`,"team":"research"`, ``}, {`"tpm_remaining":5000`, `"tpm_remaining":-5000.5`}} {
			f.Add(strings.Replace(string(data), v[0], v[1], 1))
		}
	}
	if data, err := os.ReadFile("testdata/router-input.json"); err == nil {
		f.Add(string(data))
		// Variants the fast paths of canonical.go must hand over.
		for _, v := range [][2]string{{`0.005`, `5e-3`}, {`"mock-small"`, `"mock\u002dsmall"`}, {`8192`, `81920000`},
			{`"provider":"mock"`, `"provider":"mock","extra":1`}, {`"chars":2100`, `"chars":-21.5`}, {`true`, `null`}} {
			f.Add(strings.Replace(string(data), v[0], v[1], 1))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast, ref Input
		data := []byte(s)
		errFast := ReadInput(data, &fast)
		errRef := readInputRef(s, &ref)
		if (errFast == nil) != (errRef == nil) {
			t.Fatalf("fast error %v, reference error %v", errFast, errRef)
		}
		if errFast != nil {
			return
		}
		// No string may alias the input: the host overwrites it with the
		// next one.
		for i := range data {
			data[i] = 'x'
		}
		if !sameInput(fast, ref) {
			t.Fatalf("fast %+v\nref  %+v", fast, ref)
		}
		var reused Input
		if err := ReadInput([]byte(designExample), &reused); err != nil {
			t.Fatal(err)
		}
		if err := ReadInput([]byte(s), &reused); err != nil {
			t.Fatalf("second read: %v", err)
		}
		normalize := func(in *Input) {
			if len(in.Request.Tags) == 0 {
				in.Request.Tags = nil
			}
			if len(in.Request.Metadata) == 0 {
				in.Request.Metadata = nil
			}
			if len(in.Request.Headers) == 0 {
				in.Request.Headers = nil
			}
			if len(in.Candidates) == 0 {
				in.Candidates = nil
			}
			for i := range in.Candidates {
				if len(in.Candidates[i].Capabilities) == 0 {
					in.Candidates[i].Capabilities = nil
				}
			}
		}
		normalize(&reused)
		normalize(&fast)
		if !sameInput(reused, fast) {
			t.Fatalf("reused %+v\nfresh  %+v", reused, fast)
		}
	})
}

// TestRouterLayout: the inputs the router writes, for a rule without and
// with request.content and for a key with a team, a budget and limits
// (copies in testdata, which host/rules checks against its encoder), are
// read by the fast paths of canonical.go, and give what the reference reader
// gives.
func TestRouterLayout(t *testing.T) {
	for _, file := range []string{"router-input.json", "router-input-content.json", "router-input-budget.json"} {
		t.Run(file, func(t *testing.T) { testRouterLayout(t, file) })
	}
}

func testRouterLayout(t *testing.T, file string) {
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	recent := new(recentStrings)
	var r Request
	reqAt := strings.Index(src, `"request":`) + len(`"request":`)
	end, ok := readRequestHead(data, src, reqAt, &r, recent)
	if !ok {
		t.Fatal("readRequestHead refused the router's layout")
	}
	if !strings.HasPrefix(src[end:], `,"tags":`) && !strings.HasPrefix(src[end:], `,"budget":`) || r.Key == "" || r.User == "" {
		t.Fatalf("readRequestHead stopped at %.20q (key %q, user %q)", src[end:], r.Key, r.User)
	}
	at := strings.Index(src, `"candidates":[`) + len(`"candidates":[`)
	for n := 0; src[at] == '{'; n++ {
		var c Candidate
		end, ok := readCandidate(data, src, at, &c, recent)
		if !ok {
			t.Fatalf("readCandidate refused candidate %d of the router's layout", n)
		}
		if src[end] == ',' {
			end++
		}
		at = end
	}
	var in, ref Input
	if err := ReadInput(data, &in); err != nil {
		t.Fatal(err)
	}
	if err := readInputRef(src, &ref); err != nil || !sameInput(in, ref) {
		t.Fatalf("reference reader differs (err %v):\n%+v\n%+v", err, in, ref)
	}
	if hasContent := strings.Contains(src, `"content":{`); (in.Request.Content != nil) != hasContent ||
		hasContent && (in.Request.Content.LastUser == "" || !in.Request.Content.HasCodeFence) {
		t.Fatalf("content %+v", in.Request.Content)
	}
	wantBudget := Budget{USD: 10, Period: BudgetPeriodDay, SpentUSD: 8.5, RemainingUSD: 1.5, ResetsUnixMS: 1764028800000}
	wantLimits := Limits{RPM: 30, RPMRemaining: 12, TPM: 100000, TPMRemaining: 5000}
	if strings.Contains(src, `"team":"research"`) {
		if b, l := in.Request.Budget, in.Request.Limits; b == nil || *b != wantBudget || l == nil || *l != wantLimits ||
			in.Request.Team != "research" || r.Team != "research" {
			t.Fatalf("team %q (fast path %q), budget %+v, limits %+v", in.Request.Team, r.Team, b, l)
		}
	} else if in.Request.Budget != nil || in.Request.Limits != nil || in.Request.Team != "" {
		t.Fatalf("team %q, budget %+v, limits %+v", in.Request.Team, in.Request.Budget, in.Request.Limits)
	}
}

// sameInput compares two Inputs field by field, leaving out the table of
// recent strings and the storage Request.Content, Budget and Limits point to
// (compared through the pointers).
func sameInput(a, b Input) bool {
	a.recent, b.recent = nil, nil
	a.content, b.content = Content{}, Content{}
	a.budget, b.budget = Budget{}, Budget{}
	a.limits, b.limits = Limits{}, Limits{}
	return reflect.DeepEqual(a, b)
}

func TestFractions(t *testing.T) {
	for _, tc := range []struct {
		b    Budget
		want float64
	}{
		{Budget{USD: 10, RemainingUSD: 7.5}, 0.75},
		{Budget{USD: 10, RemainingUSD: 0}, 0},
		{Budget{USD: 0, RemainingUSD: 0}, 0},
		{Budget{USD: 10, RemainingUSD: 12}, 1},
		{Budget{USD: 10, RemainingUSD: -1}, 0},
	} {
		if got := tc.b.RemainingFraction(); got != tc.want {
			t.Errorf("%+v: RemainingFraction %v, want %v", tc.b, got, tc.want)
		}
	}
	l := Limits{RPM: 30, RPMRemaining: 3, TPM: 0, TPMRemaining: 0}
	if l.RPMFraction() != 0.1 || l.TPMFraction() != 1 {
		t.Errorf("%+v: RPMFraction %v, TPMFraction %v", l, l.RPMFraction(), l.TPMFraction())
	}
	l = Limits{RPM: 30, RPMRemaining: 40, TPM: 1000, TPMRemaining: -5}
	if l.RPMFraction() != 1 || l.TPMFraction() != 0 {
		t.Errorf("%+v: RPMFraction %v, TPMFraction %v", l, l.RPMFraction(), l.TPMFraction())
	}
}
