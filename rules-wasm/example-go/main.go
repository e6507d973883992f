// Command example-go is the "fit-by-priority" example rule in Go, on
// sdk/rule. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/example-go.wasm ./rules-wasm/example-go
//
// The same rule exists in C, Rust, AssemblyScript and WAT, and all five share
// the golden cases in testdata/golden; see README.md.
package main

import (
	"errors"
	"strconv"

	"github.com/switchyard-llm/switchyard/sdk/rule"
)

func init() {
	rule.Init(initRule)
	rule.Route(route)
}

func main() {}

const maxTargets = 3

var (
	highPriority        int64 = 8   // priority >= this: largest context first
	defaultOutputTokens int64 = 256 // assumed when the request sets no max_tokens
)

// initRule reads {"high_priority": 1..11, "default_output_tokens": >= 0};
// both optional, anything else refuses the load.
func initRule(data []byte) error {
	v, err := rule.ParseConfig(data)
	if err != nil {
		return err
	}
	if v.Kind() != rule.Object {
		return errors.New("example-go: config must be an object")
	}
	high, out := int64(8), int64(256)
	for _, k := range v.Keys() {
		if v.Get(k).Kind() != rule.Number {
			return errors.New("example-go: config value " + strconv.Quote(k) + " must be a number")
		}
		switch k {
		case "high_priority":
			high = v.Get(k).Int(0)
		case "default_output_tokens":
			out = v.Get(k).Int(-1)
		default:
			return errors.New("example-go: unknown config key " + strconv.Quote(k))
		}
	}
	if high < 1 || high > 11 || out < 0 {
		return errors.New("example-go: need 1 <= high_priority <= 11 and default_output_tokens >= 0")
	}
	highPriority, defaultOutputTokens = high, out
	return nil
}

// better reports whether a goes before b; equal candidates keep input order.
func better(a, b *rule.Candidate, high bool) bool {
	if high {
		return a.ContextWindow > b.ContextWindow
	}
	return a.USDPerMTokIn < b.USDPerMTokIn
}

func route(in *rule.Input, d *rule.Decision) {
	r := &in.Request
	out := r.MaxTokens
	if out <= 0 {
		out = defaultOutputTokens
	}
	need := r.PromptTokensEstimate + out
	high := r.Priority >= highPriority

	var top [maxTargets]*rule.Candidate
	n := 0
	for i := range in.Candidates {
		c := &in.Candidates[i]
		if !c.Healthy || c.Circuit == "open" || c.ContextWindow < need {
			continue
		}
		// insert into the best maxTargets so far, after equal ones
		j := n
		for j > 0 && better(c, top[j-1], high) {
			if j < maxTargets {
				top[j] = top[j-1]
			}
			j--
		}
		if j < maxTargets {
			top[j] = c
		}
		if n < maxTargets {
			n++
		}
	}
	if n == 0 {
		return // no opinion
	}
	for _, c := range top[:n] {
		d.Add(c.Provider, c.Model)
	}
	if high {
		d.Reason = "high priority: largest context first"
		d.Tags = append(d.Tags, "largest-context")
	} else {
		d.Reason = "cheapest that fits"
		d.Tags = append(d.Tags, "cheapest")
	}
}
