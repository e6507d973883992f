package codec

import (
	"errors"
	"fmt"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// rawOutput is the ABI v1 output. Unknown fields are errors; "error" is the
// SDK's way for a rule to report that it failed. The JSON tags document the
// names decodeOutput reads (and serve the encoding/json reference of the
// tests).
type rawOutput struct {
	Targets []abi.Target `json:"targets"`
	Reason  string       `json:"reason"`
	Params  *abi.Params  `json:"params"`
	Tags    []string     `json:"tags"`
	Reject  *abi.Reject  `json:"reject"`
	Error   *string      `json:"error"`
}

// ParseOutput validates a rule's output against its input. It returns a
// nil Decision for no opinion. out may be a view of guest memory: nothing
// returned refers to it.
func ParseOutput(out []byte, in *abi.Input) (*abi.Decision, error) {
	var o rawOutput
	if err := decodeOutput(out, in.Candidates, &o); err != nil {
		return nil, fmt.Errorf("output is not a valid decision: %w", err)
	}
	return o.decision(in)
}

// decision checks a decoded output against the rule's input.
func (o *rawOutput) decision(in *abi.Input) (*abi.Decision, error) {
	if o.Error != nil {
		return nil, fmt.Errorf("rule reported an error: %s", truncate(*o.Error, 256))
	}
	if o.Reject != nil {
		if len(o.Targets) > 0 {
			return nil, errors.New("output has both targets and reject")
		}
		switch o.Reject.Status {
		case 400, 403, 429, 503:
		default:
			return nil, fmt.Errorf("reject status %d is not 400, 403, 429 or 503", o.Reject.Status)
		}
		return &abi.Decision{Reason: o.Reason, Tags: o.Tags, Reject: o.Reject}, nil
	}
	if len(o.Targets) == 0 {
		return nil, nil
	}
	for _, t := range o.Targets {
		if !hasCandidate(in.Candidates, t) {
			return nil, fmt.Errorf("target %s/%s is not among the candidates", truncate(t.Provider, 64), truncate(t.Model, 64))
		}
	}
	if p := o.Params; p != nil {
		if p.MaxTokens != nil {
			if *p.MaxTokens <= 0 {
				return nil, fmt.Errorf("params.max_tokens %d is not positive", *p.MaxTokens)
			}
			if in.Request.MaxTokens > 0 && *p.MaxTokens > in.Request.MaxTokens {
				return nil, fmt.Errorf("params.max_tokens %d raises the request's %d", *p.MaxTokens, in.Request.MaxTokens)
			}
		}
	}
	return &abi.Decision{Targets: o.Targets, Reason: o.Reason, Params: o.Params, Tags: o.Tags}, nil
}

// rawVerdict is the sy_validate output.
type rawVerdict struct {
	Verdict *string `json:"verdict"`
	Reason  string  `json:"reason"`
	Error   *string `json:"error"`
}

// ParseVerdict validates a sy_validate output: {} (or no verdict) is
// accept; unknown fields and verdicts are errors, and so is a rule's own
// {"error":"..."}. out may be a view of guest memory.
func ParseVerdict(out []byte) (verdict, reason string, err error) {
	var v rawVerdict
	if err := decodeVerdict(out, &v); err != nil {
		return "", "", fmt.Errorf("output is not a valid verdict: %w", err)
	}
	if v.Error != nil {
		return "", "", fmt.Errorf("rule reported an error: %s", truncate(*v.Error, 256))
	}
	if v.Verdict == nil {
		return abi.VerdictAccept, v.Reason, nil
	}
	switch *v.Verdict {
	case abi.VerdictAccept, abi.VerdictRetry, abi.VerdictFallback, abi.VerdictFail:
		return *v.Verdict, v.Reason, nil
	}
	return "", "", fmt.Errorf("verdict %q is not accept, retry, fallback or fail", truncate(*v.Verdict, 64))
}

func hasCandidate(cs []abi.Candidate, t abi.Target) bool {
	for i := range cs {
		if cs[i].Provider == t.Provider && cs[i].Model == t.Model {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
