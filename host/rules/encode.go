package rules

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendInput appends the ABI v1 input JSON of in to dst, with only the
// request headers named in allow. Map keys are sorted so equal inputs give
// equal bytes (and equal input hashes). request.priority is written before
// any client-controlled object, which simple byte-scanning rules rely on.
func appendInput(dst []byte, in *Input, allow []string) []byte {
	dst = append(dst, `{"abi":1,"now_unix_ms":`...)
	dst = strconv.AppendInt(dst, in.NowUnixMS, 10)
	dst = append(dst, `,"random_seed":`...)
	dst = strconv.AppendUint(dst, in.RandomSeed, 10)
	r := &in.Request
	dst = append(dst, `,"request":{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"endpoint":`...)
	dst = appendString(dst, r.Endpoint)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, r.Model)
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
	dst = appendString(dst, r.Key)
	dst = append(dst, `,"user":`...)
	dst = appendString(dst, r.User)
	dst = append(dst, `,"tags":`...)
	dst = appendStrings(dst, r.Tags)
	dst = append(dst, `,"metadata":{`...)
	for i, k := range sortedKeys(r.Metadata) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
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
		dst = appendString(dst, h)
		dst = append(dst, ':')
		dst = appendString(dst, v)
	}
	dst = append(dst, `}},"candidates":[`...)
	for i := range in.Candidates {
		c := &in.Candidates[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"provider":`...)
		dst = appendString(dst, c.Provider)
		dst = append(dst, `,"model":`...)
		dst = appendString(dst, c.Model)
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
		dst = appendString(dst, c.Circuit)
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

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD and
// <, >, & are left as they are (the input is not HTML).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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
