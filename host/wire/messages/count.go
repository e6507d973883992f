package messages

import (
	"strconv"

	"github.com/switchyard-llm/switchyard/host/wire"
)

// EstimateTokens is the router's answer to count_tokens for a request no native plugin
// counts: an estimate, not a tokenizer's count. It is the decoder's PromptTokensEstimate
// (a token per four characters of text, four per message, three to prime the answer)
// plus a token per four bytes of the tools' names, descriptions and schemas, which
// upstreams put in the prompt too. It is at least 1.
func EstimateTokens(cr *wire.ChatRequest) int64 {
	if cr == nil {
		return 1
	}
	n := cr.PromptTokensEstimate
	if r := cr.Provider; r != nil {
		var toolBytes int
		for _, t := range r.Tools {
			toolBytes += len(t.Name) + len(t.Description) + len(t.Parameters)
		}
		n += int64(toolBytes / 4)
	}
	return max(n, 1)
}

// CountTokensJSON is the body of a count_tokens answer: {"input_tokens":n}.
func CountTokensJSON(n int64) []byte {
	return append(strconv.AppendInt([]byte(`{"input_tokens":`), n, 10), '}')
}
