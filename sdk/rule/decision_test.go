package rule

import (
	"encoding/json"
	"fmt"
	"testing"
)

func ExampleDecision_AppendJSON() {
	var d Decision
	d.Add("openai", "gpt-4o-mini")
	d.Add("anthropic", "claude-haiku")
	d.Reason = "short prompt"
	d.Params.MaxTokens = 512
	d.Tags = append(d.Tags, "cheap")
	fmt.Println(string(d.AppendJSON(nil)))

	d.Reset()
	d.RejectWith(429, "free tier is over its budget")
	fmt.Println(string(d.AppendJSON(nil)))
	// Output:
	// {"targets":[{"provider":"openai","model":"gpt-4o-mini"},{"provider":"anthropic","model":"claude-haiku"}],"params":{"max_tokens":512},"reason":"short prompt","tags":["cheap"]}
	// {"reject":{"status":429,"message":"free tier is over its budget"}}
}

func TestAppendJSON(t *testing.T) {
	temp, topP := 0.2, 1.0
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{name: "empty", want: `{}`},
		{name: "all params", d: Decision{Targets: []Target{{"p", "m"}}, Params: Params{MaxTokens: 7, Temperature: &temp, TopP: &topP, Stop: []string{"\n\n"}, ReasoningEffort: "low"}},
			want: `{"targets":[{"provider":"p","model":"m"}],"params":{"max_tokens":7,"temperature":0.2,"top_p":1,"stop":["\n\n"],"reasoning_effort":"low"}}`},
		{name: "reject wins over targets", d: Decision{Targets: []Target{{"p", "m"}}, Reject: Reject{Status: 503, Message: "down"}, Reason: "r"},
			want: `{"reject":{"status":503,"message":"down"},"reason":"r"}`},
		{name: "escaping", d: Decision{Targets: []Target{{"p\"", "m\\"}}, Reason: "tab\there \x01 \xff é"},
			want: `{"targets":[{"provider":"p\"","model":"m\\"}],"reason":"tab\there \u0001 \ufffd é"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.d.AppendJSON(nil))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\x7f", "é\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		want, _ := json.Marshal(s) // encoding/json also maps invalid UTF-8 to U+FFFD
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: round trip %q, want %q", s, back, wantBack)
		}
	})
}
