package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// parseOutputStd is the encoding/json decoder parseOutput used to have,
// kept as the reference for the hand-written one (decode.go). The one
// change: nothing but whitespace may follow the value (Decoder.More let a
// trailing "}" or "]" through).
func parseOutputStd(out []byte, in *abi.Input) (*abi.Decision, error) {
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
func sameAsStd(t *testing.T, out []byte, in *abi.Input) {
	t.Helper()
	got, err := ParseOutput(out, in)
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
	in := testkit.Input()
	for _, s := range outputSeeds {
		sameAsStd(t, []byte(s), in)
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range outputSeeds {
		f.Add([]byte(s))
	}
	in := testkit.Input()
	f.Fuzz(func(t *testing.T, out []byte) {
		sameAsStd(t, out, in)
		d, err := ParseOutput(out, in)
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

// parseVerdictStd is an encoding/json decoder of the verdict, the reference
// for parseVerdict.
func parseVerdictStd(out []byte) (string, string, bool) {
	var v rawVerdict
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || strings.TrimLeft(string(out[dec.InputOffset():]), " \t\r\n") != "" || v.Error != nil {
		return "", "", false
	}
	if v.Verdict == nil {
		return abi.VerdictAccept, v.Reason, true
	}
	switch *v.Verdict {
	case abi.VerdictAccept, abi.VerdictRetry, abi.VerdictFallback, abi.VerdictFail:
		return *v.Verdict, v.Reason, true
	}
	return "", "", false
}

var verdictSeeds = []string{`{}`, `null`, `{"verdict":"retry","reason":"r"}`, `{"verdict":"accept"}`, `{"verdict":"fail","reason":"x"}`,

	`{"verdict":"fallback"}`, `{"verdict":"maybe"}`, `{"verdict":""}`, `{"verdict":null,"reason":"x"}`, `{"Verdict":"retry"}`,
	`{"verdict":"retry","verdict":"accept"}`, `{"verdict":"retry","extra":1}`, `{"error":"boom"}`, `{"error":null}`, `[]`, ``, `{}x`,
	`{"verdict":"re\u0074ry"}`, `{"reason":5}`}

func TestParseVerdictMatchesEncodingJSON(t *testing.T) {
	for _, s := range verdictSeeds {
		sameVerdictAsStd(t, []byte(s))
	}
}

func sameVerdictAsStd(t *testing.T, out []byte) {
	t.Helper()
	verdict, reason, err := ParseVerdict(out)
	wv, wr, ok := parseVerdictStd(out)
	if (err == nil) != ok || verdict != wv || reason != wr {
		t.Fatalf("%q: %q %q %v; encoding/json: %q %q ok=%v", out, verdict, reason, err, wv, wr, ok)
	}
}

func FuzzParseVerdict(f *testing.F) {
	for _, s := range verdictSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) { sameVerdictAsStd(t, out) })
}
