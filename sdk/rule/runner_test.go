package rule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRunnerRoute(t *testing.T) {
	tests := []struct {
		name  string
		fn    RouteFunc
		input string
		want  string // "" = no opinion; "error:" prefix = error output containing the rest
	}{
		{name: "no route function", fn: nil, input: designExample},
		{name: "no opinion", fn: func(*Input, *Decision) {}, input: designExample},
		{name: "first candidate", fn: func(in *Input, d *Decision) {
			d.Add(in.Candidates[0].Provider, in.Candidates[0].Model)
			d.Reason = "p" + string(rune('0'+in.Request.Priority))
		}, input: designExample, want: `{"targets":[{"provider":"openai","model":"gpt-4o-mini"}],"reason":"p5"}`},
		{name: "reject", fn: func(in *Input, d *Decision) { d.RejectWith(403, "no") }, input: designExample,
			want: `{"reject":{"status":403,"message":"no"}}`},
		{name: "bad input", fn: func(*Input, *Decision) {}, input: `{"request":`, want: "error:unexpected end"},
		{name: "fail", fn: func(in *Input, d *Decision) {
			if in.Request.Content == nil {
				d.Fail("needs request.content: content: {max_bytes: N}")
			}
		}, input: designExample, want: `{"error":"needs request.content: content: {max_bytes: N}"}`},
		{name: "fail wins over targets", fn: func(in *Input, d *Decision) {
			d.Add("p", "m")
			d.Fail("")
		}, input: designExample, want: `{"error":"rule failed"}`},
		{name: "panic", fn: func(in *Input, d *Decision) { _ = in.Candidates[5] }, input: designExample, want: "error:panic: runtime error: index out of range"},
		{name: "too large", fn: func(in *Input, d *Decision) {
			d.Add("p", "m")
			d.Reason = strings.Repeat("x", MaxOutput)
		}, input: designExample, want: "error:larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Runner
			for round := range 2 { // the Runner is reused
				out := string(r.Route(tt.fn, []byte(tt.input)))
				switch {
				case strings.HasPrefix(tt.want, "error:"):
					var e struct{ Error string }
					if err := json.Unmarshal([]byte(out), &e); err != nil || !strings.Contains(e.Error, strings.TrimPrefix(tt.want, "error:")) {
						t.Fatalf("round %d: %s", round, out)
					}
				case out != tt.want:
					t.Fatalf("round %d: got %s, want %s", round, out, tt.want)
				}
			}
		})
	}
}

func TestRunnerValidate(t *testing.T) {
	var r Runner
	in := `{"abi":1,"request":{"priority":5},"target":{"provider":"p","model":"m"},"answer":{"content":"","finish_reason":"stop","tool_calls":[{"id":"1"}],"usage":{"total_tokens":3}}}`
	var seen ValidateInput
	out := r.Validate(func(in *ValidateInput, v *Verdict) {
		seen = *in
		if in.Answer.Content == "" {
			v.Verdict, v.Reason = "retry", "empty"
		}
	}, []byte(in))
	if string(out) != `{"verdict":"retry","reason":"empty"}` {
		t.Fatalf("got %s", out)
	}
	if seen.Target.Model != "m" || seen.Answer.ToolCalls != `[{"id":"1"}]` || seen.Answer.Usage != `{"total_tokens":3}` || seen.Request.Priority != 5 {
		t.Fatalf("input %+v", seen)
	}
	if out := r.Validate(func(*ValidateInput, *Verdict) {}, []byte(in)); out != nil {
		t.Fatalf("accept gave %s", out)
	}
}

func TestConfigInit(t *testing.T) {
	cfg := 7
	init := ConfigInit(&cfg, func(data []byte) (int, error) {
		if string(data) == "bad" {
			return 0, errors.New("refused")
		}
		return len(data), nil
	})
	if err := init([]byte("bad")); err == nil || cfg != 7 {
		t.Fatalf("refused config: err %v, cfg %d (want an error and 7 kept)", err, cfg)
	}
	if err := init([]byte("four")); err != nil || cfg != 4 {
		t.Fatalf("accepted config: err %v, cfg %d", err, cfg)
	}
}
