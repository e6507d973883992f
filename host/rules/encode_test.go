package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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

// parseOutputStd is the encoding/json decoder parseOutput used to have,
// kept as the reference for the hand-written one (decode.go). The one
// change: nothing but whitespace may follow the value (Decoder.More let a
// trailing "}" or "]" through).
func parseOutputStd(out []byte, in *Input) (*Decision, error) {
	var o rawOutput
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("output is not a valid decision: %w", err)
	}
	if len(bytes.TrimLeft(out[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("output is not a valid decision: data after the JSON value")
	}
	return o.decision(in)
}

// sameAsStd checks parseOutput against the encoding/json reference: the
// same acceptance and the same Decision (nil and empty slices told apart).
func sameAsStd(t *testing.T, out []byte, in *Input) {
	t.Helper()
	got, err := parseOutput(out, in)
	want, wantErr := parseOutputStd(out, in)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, encoding/json: %v", out, err, wantErr)
	}
	if err != nil && got != nil {
		t.Fatalf("%q: a decision with an error", out)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%q: decision %s (%#v), encoding/json %s (%#v)", out, g, got, w, want)
	}
}

// outputSeeds are outputs worth comparing with encoding/json: the decoder's
// corner cases, each also a fuzzing seed.
var outputSeeds = []string{
	`{}`, `{"targets":[]}`, `null`, ` {} `, `[]`, `"x"`, `1`, `true`, ``, ` `, `{}}`, `{}]`, `{} x`, `{"reject":null}`,
	`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":5}}`,
	`{"targets":[{"provider":"mock","model":"mock-small"},{"provider":"mock","model":"mock-large"}],"reason":"r","tags":["a","b"]}`,
	`{"reject":{"status":429,"message":"x"}}`, `{"error":"boom"}`, `{"error":null}`, `{"error":"x","error":null}`,
	`{"targets":[{"provider":"x","model":"y"}]}`, `{"target":[]}`, `{"targets":[null]}`, `{"targets":{}}`,
	`{"Targets":[{"PROVIDER":"mock","Model":"mock-small"}]}`, `{"\u0074argets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"reject":{"\u017ftatus":429}}`, `{"reject":{"STATUS":429}}`, `{"targets":[{"prov\u0130der":"mock","model":"mock-small"}]}`,
	`{"targets":[{"provider":"mock","model":"mock-small"}],"params":{"max_tokens":5,"\u212a":1}}`,
	`{"targets":[{"provider":"mock","model":"mock-small"}],"targets":[{"model":"mock-large"}]}`,
	`{"tags":["a","b","c"],"tags":["x"],"tags":[null,null,null,null],"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"tags":["a"],"tags":[],"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"tags":null,"reason":null,"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"max_tokens":5},"params":{"temperature":0.5},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"max_tokens":5},"params":{"max_tokens":null},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"temperature":1e400},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"temperature":1e-400,"top_p":-0.0},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"max_tokens":5.0},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"max_tokens":99999999999999999999},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"params":{"stop":["\n",null,"x"],"reasoning_effort":"low"},"targets":[{"provider":"mock","model":"mock-small"}]}`,
	`{"reject":{"status":429},"reject":{"message":"m"}}`, `{"reject":{"status":429.0}}`, `{"reject":{"status":-0}}`,
	`{"reject":{"status":"429"}}`, `{"reject":{}}`, `{"reject":{"status":429},"targets":[]}`,
	`{"reject":{"status":429},"params":{"max_tokens":-1}}`,
	`{"targets":[{"provider":"mock","model":"mock-small"}],"reason":"\ud83d\ude00 \ud83d x \udc00 \u00e9\/\b\f\n\r\t"}`,
	"{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"bad \xff\xfe utf8 \xed\xa0\x80\"}",
	"{\"reason\":\"ctl \x01\"}", `{"reason":"\x"}`, `{"reason":"\u12"}`, `{"reason":"abc`, `{"reason":01}`, `{"reason":-}`,
	`{"targets":[{"provider":"mock","model":"mock-small"},]}`, `{"targets":[{"provider":"mock","model":"mock-small"}],}`,
	`{,}`, `{"a"}`, `{"reason" "x"}`, `{"reason":nul}`, `{"reason":nullx}`, "\t{\n}\r\n",
}

func TestParseOutputMatchesEncodingJSON(t *testing.T) {
	in := testInput()
	for _, s := range outputSeeds {
		sameAsStd(t, []byte(s), in)
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range outputSeeds {
		f.Add([]byte(s))
	}
	in := testInput()
	f.Fuzz(func(t *testing.T, out []byte) {
		sameAsStd(t, out, in)
		d, err := parseOutput(out, in)
		if err != nil {
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
		if got, want := string(appendFloat(nil, f)), strconv.FormatFloat(f, 'g', -1, 64); got != want {
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
		if got, want := string(appendFloat(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Fatalf("appendFloat(%v) = %s, want %s", v, got, want)
		}
	})
}

// TestInputLayoutMatchesSDK: the Go SDK reads inputs in the router's exact
// layout through a fast path (sdk/rule/canonical.go) tested on a copy of
// this encoder's output. If the layout changes, update that copy and the
// fast path with it, or Go rules quietly take the slower general reader.
func TestInputLayoutMatchesSDK(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(repoRoot(t), "sdk", "rule", "testdata", "router-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := appendInput(nil, testInput(), nil); !bytes.Equal(got, want) {
		t.Fatalf("the encoder's layout changed:\n got %s\nwant %s\n(update sdk/rule/testdata/router-input.json and sdk/rule/canonical.go)", got, want)
	}
}
