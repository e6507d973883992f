package rule

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxOutput is the largest decision the host accepts (ABI v1).
const MaxOutput = 64 << 10

// Target names one candidate.
type Target struct {
	Provider string
	Model    string
}

// Params overrides sampling parameters of the request. Zero values leave
// the client's value alone.
type Params struct {
	MaxTokens       int64    // > 0: lower max_tokens to this (the host never raises it)
	Temperature     *float64 // nil: unchanged
	TopP            *float64 // nil: unchanged
	Stop            []string // nil: unchanged
	ReasoningEffort string   // "": unchanged
}

func (p *Params) empty() bool {
	return p.MaxTokens <= 0 && p.Temperature == nil && p.TopP == nil && p.Stop == nil && p.ReasoningEffort == ""
}

// Reject answers the request with an error instead of routing it. Status
// must be 400, 403, 429 or 503.
type Reject struct {
	Status  int
	Message string
}

// Decision is what a route function fills in. A Decision with no targets
// and no reject means "no opinion": the chain passes on to the next rule.
// The SDK resets and reuses one Decision per call.
type Decision struct {
	Targets []Target
	Reason  string
	Params  Params
	Tags    []string
	Reject  Reject // Status 0: no reject

	failure string // set by Fail
}

// Add appends a target.
func (d *Decision) Add(provider, model string) {
	d.Targets = append(d.Targets, Target{Provider: provider, Model: model})
}

// RejectWith turns the decision into a reject.
func (d *Decision) RejectWith(status int, message string) {
	d.Reject = Reject{Status: status, Message: message}
}

// Fail reports the rule's own failure instead of a decision: the output is
// {"error":message}, which the router counts as an error of the rule (it
// skips the rule or fails the request per on_error, and shows message in the
// trace and the quarantine log line). Use it for input the rule cannot work
// with, such as a missing request.content, so the cause is named rather than
// hidden behind "no opinion". It wins over targets and a reject.
func (d *Decision) Fail(message string) {
	if message == "" {
		message = "rule failed"
	}
	d.failure = message
}

// Failure returns the message given to Fail, "" when the rule did not fail.
func (d *Decision) Failure() string { return d.failure }

// NoOpinion reports whether the decision says nothing (and did not fail).
func (d *Decision) NoOpinion() bool {
	return len(d.Targets) == 0 && d.Reject.Status == 0 && d.failure == ""
}

// Reset clears d, keeping its slices' storage.
func (d *Decision) Reset() {
	t, g := d.Targets[:0], d.Tags[:0]
	*d = Decision{Targets: t, Tags: g}
}

// AppendJSON appends the ABI output JSON of d to dst. A reject wins over
// targets (and drops them); reason and tags go with either.
func (d *Decision) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	comma := false
	field := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	if d.Reject.Status != 0 {
		field("reject")
		dst = append(dst, `{"status":`...)
		dst = strconv.AppendInt(dst, int64(d.Reject.Status), 10)
		dst = append(dst, `,"message":`...)
		dst = AppendString(dst, d.Reject.Message)
		dst = append(dst, '}')
	} else if len(d.Targets) > 0 {
		field("targets")
		dst = append(dst, '[')
		for i, t := range d.Targets {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"provider":`...)
			dst = AppendString(dst, t.Provider)
			dst = append(dst, `,"model":`...)
			dst = AppendString(dst, t.Model)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
		if !d.Params.empty() {
			field("params")
			dst = d.Params.appendJSON(dst)
		}
	}
	if d.Reason != "" {
		field("reason")
		dst = AppendString(dst, d.Reason)
	}
	if len(d.Tags) > 0 {
		field("tags")
		dst = appendStrings(dst, d.Tags)
	}
	return append(dst, '}')
}

func (p *Params) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	n := len(dst)
	sep := func() {
		if len(dst) > n {
			dst = append(dst, ',')
		}
	}
	if p.MaxTokens > 0 {
		dst = append(dst, `"max_tokens":`...)
		dst = strconv.AppendInt(dst, p.MaxTokens, 10)
	}
	if p.Temperature != nil {
		sep()
		dst = append(dst, `"temperature":`...)
		dst = appendFloat(dst, *p.Temperature)
	}
	if p.TopP != nil {
		sep()
		dst = append(dst, `"top_p":`...)
		dst = appendFloat(dst, *p.TopP)
	}
	if p.Stop != nil {
		sep()
		dst = append(dst, `"stop":`...)
		dst = appendStrings(dst, p.Stop)
	}
	if p.ReasoningEffort != "" {
		sep()
		dst = append(dst, `"reasoning_effort":`...)
		dst = AppendString(dst, p.ReasoningEffort)
	}
	return append(dst, '}')
}

func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: no quote, backslash, control or non-ASCII byte.
		if i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if specials(w)|w&highs == 0 {
				i += 8
				continue
			}
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
