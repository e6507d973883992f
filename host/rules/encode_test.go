package rules

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// TestAppendInputRoundTrip: the append-based encoder writes valid JSON that
// encoding/json decodes back to the same Input (headers filtered).
func TestAppendInputRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		input func() *Input
		allow []string
	}{
		{name: "typical", input: testInput, allow: []string{"x-tenant"}},
		{name: "zero", input: func() *Input { return &Input{} }},
		{name: "awkward strings", input: func() *Input {
			in := testInput()
			in.Request.ID = "q\"b\\s\n\t\x01é\u2028"
			in.Request.Tags = []string{"", "<&>"}
			in.Previous = json.RawMessage(`{"targets":[{"provider":"mock","model":"mock-small"}],"why":"timeout"}`)
			return in
		}},
		{name: "invalid metadata and previous become null", input: func() *Input {
			in := testInput()
			in.Request.Metadata = map[string]json.RawMessage{"bad": json.RawMessage(`{`), "ok": json.RawMessage(`[1]`)}
			in.Previous = json.RawMessage(`nope`)
			return in
		}},
		{name: "non-finite floats become 0", input: func() *Input {
			in := testInput()
			in.Candidates[0].P95MS = math.Inf(1)
			in.Candidates[0].ErrorRate = math.NaN()
			return in
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.input()
			data := appendInput(nil, in, tt.allow)
			var back struct {
				ABI int `json:"abi"`
				Input
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
			want.Candidates = append([]Candidate(nil), in.Candidates...)
			for i := range want.Candidates {
				c := &want.Candidates[i]
				for _, f := range []*float64{&c.USDPerMTokIn, &c.USDPerMTokOut, &c.P50MS, &c.P95MS, &c.ErrorRate} {
					if math.IsNaN(*f) || math.IsInf(*f, 0) {
						*f = 0
					}
				}
			}
			normalize := func(in *Input) {
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

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{`{}`, `{"targets":[]}`, `{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":5}}`,
		`{"reject":{"status":429,"message":"x"}}`, `{"error":"boom"}`, `{"targets":[{"provider":"x","model":"y"}]}`, `[]`, `null`, `{"reject":null}`} {
		f.Add([]byte(s))
	}
	in := testInput()
	f.Fuzz(func(t *testing.T, out []byte) {
		d, err := parseOutput(out, in)
		if err != nil {
			if d != nil {
				t.Fatal("decision with an error")
			}
			return
		}
		if d == nil {
			return
		}
		if d.Reject != nil {
			if len(d.Targets) > 0 {
				t.Fatal("reject with targets")
			}
			switch d.Reject.Status {
			case 400, 403, 429, 503:
			default:
				t.Fatalf("status %d accepted", d.Reject.Status)
			}
			return
		}
		if len(d.Targets) == 0 {
			t.Fatal("decision without targets or reject")
		}
		for _, tg := range d.Targets {
			if !hasCandidate(in.Candidates, tg) {
				t.Fatalf("target %v not a candidate", tg)
			}
		}
	})
}
