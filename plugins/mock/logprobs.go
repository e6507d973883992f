package mock

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// maxTopLogprobs is the largest top_logprobs OpenAI accepts; the mock refuses more, as it
// does.
const maxTopLogprobs = 20

// alternatives are the tokens the mock offers as the less likely choices in
// top_logprobs, picked by a hash of the chosen token.
var alternatives = []string{
	" the", " a", " and", " of", " to", " is", " in", " it", " that", " this",
	" was", " for", " on", " with", " as", " at", " by", " not", " but", " or",
	" an", " so",
}

// lpToken is one entry of OpenAI's logprobs.content (and of its top_logprobs).
type lpToken struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	// Bytes is the token's UTF-8 bytes as numbers, as OpenAI sends them ([]byte would
	// encode as base64).
	Bytes []int `json:"bytes"`
	// Top is nil in the alternatives themselves, where OpenAI has no such field.
	Top *[]lpToken `json:"top_logprobs,omitempty"`
}

// lpObject is OpenAI's logprobs object of a choice or a delta.
type lpObject struct {
	Content []lpToken `json:"content"`
	Refusal []lpToken `json:"refusal"` // always null: the mock never refuses
}

// fingerprint is the system_fingerprint of every answer of a model: stable, so identical
// requests stay identical, and distinct per model, as a real backend's configuration is.
func fingerprint(model string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(model))
	return fmt.Sprintf("fp_mock_%08x", h.Sum32())
}

// topLogprobs is how many alternatives each token lists.
func topLogprobs(req *provider.Request) int {
	if req.TopLogprobs == nil {
		return 0
	}
	return int(*req.TopLogprobs)
}

// wordsOf splits a text into the mock's tokens for logprobs: the words the stream sends
// one delta each, so a whole answer's logprobs are its stream's, concatenated.
func wordsOf(text string) []string {
	var out []string
	for _, w := range strings.SplitAfter(text, " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// tokenLogprob is the deterministic log probability of a token at a position of the
// answer: a pure function of (model, position, token), between -2.5 and 0.
func tokenLogprob(model string, pos int, token string) (float64, uint32) {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s|%d|%s", model, pos, token)
	sum := h.Sum32()
	return -round4(float64(sum%2500) / 1000), sum
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func tokenBytes(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// logprobEntry is the logprobs entry of the token at position pos: the token itself first
// among its top alternatives, then top-1 others, each less likely than the one before.
func logprobEntry(model string, top, pos int, token string) lpToken {
	lp, sum := tokenLogprob(model, pos, token)
	e := lpToken{Token: token, Logprob: lp, Bytes: tokenBytes(token)}
	alts := make([]lpToken, 0, top)
	if top > 0 {
		alts = append(alts, lpToken{Token: token, Logprob: lp, Bytes: e.Bytes})
	}
	for k := 0; len(alts) < top && k < len(alternatives); k++ {
		alt := alternatives[(int(sum%uint32(len(alternatives)))+k)%len(alternatives)]
		if alt == token {
			continue
		}
		alts = append(alts, lpToken{Token: alt, Logprob: round4(lp - 0.75*float64(len(alts)) - 0.25), Bytes: tokenBytes(alt)})
	}
	e.Top = &alts
	return e
}

// logprobsJSON is the logprobs object of tokens that start at position start of the
// answer.
func logprobsJSON(model string, top, start int, tokens []string) json.RawMessage {
	obj := lpObject{Content: make([]lpToken, 0, len(tokens))}
	for i, t := range tokens {
		obj.Content = append(obj.Content, logprobEntry(model, top, start+i, t))
	}
	b, _ := json.Marshal(obj)
	return b
}

// withLogprobs gives each content delta the logprobs of its word. Deltas without content
// (tool calls, the finish) carry none, as OpenAI's.
func withLogprobs(deltas []provider.Delta, model string, top int) {
	pos := 0
	for i := range deltas {
		if deltas[i].Content == "" {
			continue
		}
		deltas[i].Logprobs = logprobsJSON(model, top, pos, []string{deltas[i].Content})
		pos++
	}
}
