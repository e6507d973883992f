package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// rawOutput is the ABI v1 output. Unknown fields are errors; "error" is the
// SDK's way for a rule to report that it failed.
type rawOutput struct {
	Targets []Target `json:"targets"`
	Reason  string   `json:"reason"`
	Params  *Params  `json:"params"`
	Tags    []string `json:"tags"`
	Reject  *Reject  `json:"reject"`
	Error   *string  `json:"error"`
}

// parseOutput validates a rule's output against its input. It returns a
// nil Decision for no opinion.
func parseOutput(out []byte, in *Input) (*Decision, error) {
	var o rawOutput
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("output is not a valid decision: %w", err)
	}
	if dec.More() {
		return nil, errors.New("output is not a valid decision: data after the JSON value")
	}
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
		return &Decision{Reason: o.Reason, Tags: o.Tags, Reject: o.Reject}, nil
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
	return &Decision{Targets: o.Targets, Reason: o.Reason, Params: o.Params, Tags: o.Tags}, nil
}

func hasCandidate(cs []Candidate, t Target) bool {
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
