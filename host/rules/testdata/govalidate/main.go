// Command govalidate is a test fixture: a Go rule (sdk/rule) whose
// sy_validate judges answers, with no route function (no opinion). The
// tests build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o <tmp>.wasm ./host/rules/testdata/govalidate
//
// Verdicts: content containing "RETRY" -> retry; empty content without
// tool calls -> fallback, with a reason naming the target and the finish
// reason; a tool call without a usage report -> fail; otherwise accept.
package main

import (
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/rule"
	"github.com/switchyard-llm/switchyard/sdk/rule/validator"
)

func init() {
	validator.Register(func(in *rule.ValidateInput, v *rule.Verdict) {
		a := &in.Answer
		switch {
		case strings.Contains(a.Content, "RETRY"):
			v.Verdict, v.Reason = "retry", "asked to retry"
		case a.Content == "" && (a.ToolCalls == "" || a.ToolCalls == "[]"):
			v.Verdict = "fallback"
			v.Reason = "empty answer from " + in.Target.Provider + "/" + in.Target.Model + " (" + a.FinishReason + ")"
		case a.ToolCalls != "[]" && a.ToolCalls != "" && a.Usage == "":
			v.Verdict, v.Reason = "fail", "tool call without usage"
		}
	})
}

func main() {}
