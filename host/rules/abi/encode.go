package abi

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	// The guest SDK's JSON string writer: the host writes rule inputs the same way.
	guest "github.com/switchyard-llm/switchyard/sdk/rule"
)

// EncodeInput returns the ABI input JSON for in, with only the request headers in allow
// (lowercase names) and request.content (when in has it) as a rule asking for the most
// (MaxContentBytes) sees it: exactly the bytes a rule whose config lists those headers
// receives. The dry run uses it to show what rules saw, so a request can be recorded as a
// golden case.
func EncodeInput(in *Input, allow []string) []byte { return AppendInput(nil, in, allow) }

// AppendInput is AppendInputFor with contentBytes MaxContentBytes: request.content, when
// in has it, goes in whole.
func AppendInput(dst []byte, in *Input, allow []string) []byte {
	return AppendInputFor(dst, in, allow, MaxContentBytes)
}

// AppendInputFor appends the ABI v1 input JSON of in to dst as one rule sees
// it: with only the request headers named in allow, and with
// request.content only when contentBytes > 0 (the rule opted in) and in has
// it, its texts cut to contentBytes bytes on a UTF-8 boundary. Map keys are
// sorted so equal inputs give equal bytes (and equal input hashes).
// request.priority is written before any client-controlled object, which
// simple byte-scanning rules rely on.
func AppendInputFor(dst []byte, in *Input, allow []string, contentBytes int) []byte {
	dst = append(dst, `{"abi":1,"now_unix_ms":`...)
	dst = strconv.AppendInt(dst, in.NowUnixMS, 10)
	dst = append(dst, `,"random_seed":`...)
	dst = strconv.AppendUint(dst, in.RandomSeed, 10)
	dst = append(dst, `,"request":`...)
	dst = appendRequest(dst, &in.Request, allow, contentBytes)
	dst = append(dst, `,"candidates":[`...)
	for i := range in.Candidates {
		c := &in.Candidates[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"provider":`...)
		dst = guest.AppendString(dst, c.Provider)
		dst = append(dst, `,"model":`...)
		dst = guest.AppendString(dst, c.Model)
		dst = append(dst, `,"context_window":`...)
		dst = strconv.AppendInt(dst, c.ContextWindow, 10)
		dst = append(dst, `,"usd_per_mtok_in":`...)
		dst = appendFloat(dst, c.USDPerMTokIn)
		dst = append(dst, `,"usd_per_mtok_out":`...)
		dst = appendFloat(dst, c.USDPerMTokOut)
		dst = append(dst, `,"capabilities":`...)
		dst = appendStrings(dst, c.Capabilities)
		dst = append(dst, `,"healthy":`...)
		dst = strconv.AppendBool(dst, c.Healthy)
		dst = append(dst, `,"circuit":`...)
		dst = guest.AppendString(dst, c.Circuit)
		dst = append(dst, `,"p50_ms":`...)
		dst = appendFloat(dst, c.P50MS)
		dst = append(dst, `,"p95_ms":`...)
		dst = appendFloat(dst, c.P95MS)
		dst = append(dst, `,"error_rate":`...)
		dst = appendFloat(dst, c.ErrorRate)
		dst = append(dst, `,"inflight":`...)
		dst = strconv.AppendInt(dst, int64(c.Inflight), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"previous":`...)
	if len(in.Previous) > 0 && json.Valid(in.Previous) {
		dst = append(dst, in.Previous...)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

// appendRequest appends the "request" object of the ABI input, with only
// the headers named in allow and content cut to contentBytes (none when 0).
// request.priority comes before any client-controlled object.
func appendRequest(dst []byte, r *RequestView, allow []string, contentBytes int) []byte {
	dst = append(dst, `{"id":`...)
	dst = guest.AppendString(dst, r.ID)
	dst = append(dst, `,"endpoint":`...)
	dst = guest.AppendString(dst, r.Endpoint)
	dst = append(dst, `,"model":`...)
	dst = guest.AppendString(dst, r.Model)
	dst = append(dst, `,"stream":`...)
	dst = strconv.AppendBool(dst, r.Stream)
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(r.Priority), 10)
	dst = append(dst, `,"prompt_tokens_estimate":`...)
	dst = strconv.AppendInt(dst, r.PromptTokensEstimate, 10)
	dst = append(dst, `,"max_tokens":`...)
	dst = strconv.AppendInt(dst, r.MaxTokens, 10)
	dst = append(dst, `,"messages":`...)
	dst = strconv.AppendInt(dst, int64(r.Messages), 10)
	dst = append(dst, `,"chars":`...)
	dst = strconv.AppendInt(dst, r.Chars, 10)
	dst = append(dst, `,"has_tools":`...)
	dst = strconv.AppendBool(dst, r.HasTools)
	dst = append(dst, `,"has_images":`...)
	dst = strconv.AppendBool(dst, r.HasImages)
	dst = append(dst, `,"json_mode":`...)
	dst = strconv.AppendBool(dst, r.JSONMode)
	dst = append(dst, `,"key":`...)
	dst = guest.AppendString(dst, r.Key)
	dst = append(dst, `,"team":`...)
	dst = guest.AppendString(dst, r.Team)
	dst = append(dst, `,"user":`...)
	dst = guest.AppendString(dst, r.User)
	// The key's budget and limits, only when it has them: like priority, before any
	// client-controlled object, so a byte-scanning rule cannot be fooled by a
	// "budget" in the metadata.
	if b := r.Budget; b != nil {
		dst = appendBudget(dst, b)
	}
	if l := r.Limits; l != nil {
		dst = appendLimits(dst, l)
	}
	dst = append(dst, `,"tags":`...)
	dst = appendStrings(dst, r.Tags)
	dst = append(dst, `,"metadata":{`...)
	var keyBuf [8]string // sorted keys without a heap allocation for small maps
	keys := keyBuf[:0]
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = guest.AppendString(dst, k)
		dst = append(dst, ':')
		if v := r.Metadata[k]; len(v) > 0 && json.Valid(v) {
			dst = append(dst, v...)
		} else {
			dst = append(dst, "null"...)
		}
	}
	dst = append(dst, `},"headers":{`...)
	n := 0
	for _, h := range allow {
		v, ok := r.Headers[h]
		if !ok {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = guest.AppendString(dst, h)
		dst = append(dst, ':')
		dst = guest.AppendString(dst, v)
	}
	dst = append(dst, '}')
	// Last, so the members every rule sees keep their offsets; a rule that did
	// not opt in costs this one test.
	if c := r.Content; c != nil && contentBytes > 0 {
		dst = appendContent(dst, c, contentBytes)
	}
	return append(dst, '}')
}

// appendBudget appends ,"budget":{...}; amounts below 0 (and non-finite ones) are written
// as 0.
func appendBudget(dst []byte, b *BudgetView) []byte {
	dst = append(dst, `,"budget":{"usd":`...)
	dst = appendFloat(dst, max(b.USD, 0))
	dst = append(dst, `,"period":`...)
	dst = guest.AppendString(dst, b.Period)
	dst = append(dst, `,"spent_usd":`...)
	dst = appendFloat(dst, max(b.SpentUSD, 0))
	dst = append(dst, `,"remaining_usd":`...)
	dst = appendFloat(dst, max(b.RemainingUSD, 0))
	dst = append(dst, `,"resets_unix_ms":`...)
	dst = strconv.AppendInt(dst, max(b.ResetsUnixMS, 0), 10)
	return append(dst, '}')
}

// appendLimits appends ,"limits":{...}; numbers below 0 are written as 0.
func appendLimits(dst []byte, l *LimitsView) []byte {
	dst = append(dst, `,"limits":{"rpm":`...)
	dst = strconv.AppendInt(dst, max(l.RPM, 0), 10)
	dst = append(dst, `,"rpm_remaining":`...)
	dst = strconv.AppendInt(dst, max(l.RPMRemaining, 0), 10)
	dst = append(dst, `,"tpm":`...)
	dst = strconv.AppendInt(dst, max(l.TPM, 0), 10)
	dst = append(dst, `,"tpm_remaining":`...)
	dst = strconv.AppendInt(dst, max(l.TPMRemaining, 0), 10)
	return append(dst, '}')
}

// appendContent appends ,"content":{...} with the texts cut to n bytes.
func appendContent(dst []byte, c *Content, n int) []byte {
	dst = append(dst, `,"content":{"last_user":`...)
	dst = guest.AppendString(dst, TruncateUTF8(c.LastUser, n))
	dst = append(dst, `,"system":`...)
	dst = guest.AppendString(dst, TruncateUTF8(c.System, n))
	dst = append(dst, `,"has_code_fence":`...)
	dst = strconv.AppendBool(dst, c.HasCodeFence)
	dst = append(dst, `,"has_image":`...)
	dst = strconv.AppendBool(dst, c.HasImage)
	dst = append(dst, `,"has_tool_results":`...)
	dst = strconv.AppendBool(dst, c.HasToolResults)
	dst = append(dst, `,"language_hint":`...)
	dst = guest.AppendString(dst, c.LanguageHint)
	return append(dst, '}')
}

// TruncateUTF8 returns the longest prefix of s of at most n bytes that does
// not end inside a UTF-8 sequence (a whole s when it is short enough). Cutting
// a cut again at a smaller n gives what cutting s at that n gives, which lets
// the pipeline cut once at the chain's largest max_bytes and the encoder again
// per rule.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	// The last byte that may start a sequence at or before the cut, at most
	// UTFMax-1 bytes back: when the rune it starts crosses the cut, the cut
	// moves back to it. An invalid sequence decodes as one byte, so stray
	// bytes never move the cut, and a cut never splits a valid rune.
	for j := n; j >= 0 && j > n-utf8.UTFMax; j-- {
		if utf8.RuneStart(s[j]) {
			if _, size := utf8.DecodeRuneInString(s[j:]); j < n && j+size > n {
				return s[:j]
			}
			return s[:n]
		}
	}
	return s[:n]
}

// AppendValidateInput is AppendValidateInputFor with contentBytes
// MaxContentBytes.
func AppendValidateInput(dst []byte, in *ValidateInput, allow []string) []byte {
	return AppendValidateInputFor(dst, in, allow, MaxContentBytes)
}

// AppendValidateInputFor appends the sy_validate input JSON of in to dst as
// one rule sees it: its request object is the one AppendInputFor writes for
// the same allow and contentBytes.
func AppendValidateInputFor(dst []byte, in *ValidateInput, allow []string, contentBytes int) []byte {
	dst = append(dst, `{"abi":1,"request":`...)
	dst = appendRequest(dst, &in.Request, allow, contentBytes)
	dst = append(dst, `,"target":{"provider":`...)
	dst = guest.AppendString(dst, in.Target.Provider)
	dst = append(dst, `,"model":`...)
	dst = guest.AppendString(dst, in.Target.Model)
	a := &in.Answer
	dst = append(dst, `},"answer":{"content":`...)
	dst = guest.AppendString(dst, a.Content)
	dst = append(dst, `,"tool_calls":[`...)
	for i := range a.ToolCalls {
		tc := &a.ToolCalls[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = guest.AppendString(dst, tc.ID)
		dst = append(dst, `,"name":`...)
		dst = guest.AppendString(dst, tc.Name)
		dst = append(dst, `,"arguments":`...)
		dst = guest.AppendString(dst, tc.Arguments)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"finish_reason":`...)
	dst = guest.AppendString(dst, a.FinishReason)
	dst = append(dst, `,"usage":`...)
	if u := a.Usage; u != nil {
		dst = append(dst, `{"prompt_tokens":`...)
		dst = strconv.AppendInt(dst, u.PromptTokens, 10)
		dst = append(dst, `,"completion_tokens":`...)
		dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, `}}`...)
}

// appendFloat appends f as strconv's shortest 'g' format does; NaN and
// infinities become 0. Prices, latencies and rates usually have a few
// decimals, which a fast path writes without strconv's shortest-digits
// search: when f is n/10^6 exactly (n < 10^12) and 'g' would not use an
// exponent, those digits are the shortest that round-trip, because no
// other decimal of at most that many digits lies within float64 rounding
// distance (TestAppendFloat, FuzzAppendFloat).
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e6 {
		if n := math.Round(a * 1e6); n/1e6 == a {
			u := uint64(n)
			if f < 0 {
				dst = append(dst, '-')
			}
			dst = strconv.AppendUint(dst, u/1e6, 10)
			if frac := u % 1e6; frac != 0 {
				var b [7]byte
				b[0] = '.'
				for i := 6; i >= 1; i-- {
					b[i] = '0' + byte(frac%10)
					frac /= 10
				}
				end := len(b)
				for b[end-1] == '0' {
					end--
				}
				dst = append(dst, b[:end]...)
			}
			return dst
		}
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = guest.AppendString(dst, s)
	}
	return append(dst, ']')
}
