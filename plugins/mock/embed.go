package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// maxEmbeddingInputs is OpenAI's limit of texts per request. It also keeps the largest
// answer (2048 vectors of 4096 float32s, 32 MiB) within a gRPC message.
const maxEmbeddingInputs = 2048

// Embed answers deterministic embeddings: one unit vector per input, a pure function of
// (model, text, dimensions). The fault knobs apply as they do to Complete.
func (m *Mock) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	md, err := embedMetadata(req.Extra)
	if err != nil {
		return nil, err
	}
	p, err := m.resolve(req.Model, md)
	if err != nil {
		return nil, err
	}
	if len(req.Input) == 0 || len(req.Input) > maxEmbeddingInputs {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, UpstreamStatus: 400,
			Message: fmt.Sprintf("mock: input must hold 1 to %d texts, got %d", maxEmbeddingInputs, len(req.Input))}
	}
	dims := p.s.EmbeddingDimensions
	if req.Dimensions != 0 {
		if req.Dimensions < 1 || req.Dimensions > maxEmbeddingDimensions {
			return nil, &provider.Error{Kind: provider.KindInvalidRequest, UpstreamStatus: 400,
				Message: fmt.Sprintf("mock: dimensions must be between 1 and %d, got %d", maxEmbeddingDimensions, req.Dimensions)}
		}
		dims = req.Dimensions
	}
	usage := &provider.Usage{}
	for i, text := range req.Input {
		n := max(tokens(text), 1)
		if n > p.model.ContextWindow {
			return nil, &provider.Error{Kind: provider.KindContextLengthExceeded, UpstreamStatus: 400,
				Message: fmt.Sprintf("mock: input[%d] has %d tokens, more than the model's maximum of %d", i, n, p.model.ContextWindow)}
		}
		usage.PromptTokens += n
	}
	usage.TotalTokens = usage.PromptTokens
	if err := sleep(ctx, ms(p.s.LatencyMs)); err != nil {
		return nil, err
	}
	switch p.fail {
	case failCrash:
		m.crash("during embed")
		return nil, fmt.Errorf("mock: crash")
	case failHang, failStall:
		<-ctx.Done()
		return nil, ctx.Err()
	case failMidStream:
		return nil, injected(provider.KindUpstreamUnavailable, p.s.RetryAfterMs)
	case failEmpty:
		// No vectors at all, to exercise the host's check of one vector per input.
		return &provider.EmbedResponse{Model: req.Model, Usage: usage}, nil
	}
	resp := &provider.EmbedResponse{Model: req.Model, Data: make([]provider.Embedding, len(req.Input)), Usage: usage}
	for i, text := range req.Input {
		resp.Data[i] = provider.Embedding{Index: i, Vector: embedding(req.Model, text, dims)}
	}
	return resp, nil
}

// embedMetadata reads the mock.* knobs of an embeddings request: OpenAI's embeddings API
// has no metadata field, so a client sends them in a "metadata" object of the body, which
// reaches the plugin among the unmodelled fields (EmbedRequest.Extra). Non-string values
// are taken as their JSON text, as the host does for chat metadata.
func embedMetadata(extra json.RawMessage) (map[string]string, error) {
	if len(bytes.TrimSpace(extra)) == 0 {
		return nil, nil
	}
	var top struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(extra, &top); err != nil {
		return nil, provider.NewError(provider.KindInvalidRequest, "mock: metadata must be an object: %v", err)
	}
	md := make(map[string]string, len(top.Metadata))
	for k, v := range top.Metadata {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		md[k] = s
	}
	return md, nil
}

// embedding is the vector of a text: a bag of words, where every word (lowercased, split at
// anything but letters and digits) adds a pseudo-random vector seeded by (model, word),
// normalized to unit length. Identical texts get identical vectors, texts sharing words a
// positive cosine similarity, unrelated texts one near 0, which makes the mock usable
// for search demos. Component i does not depend on dims, so a shorter vector is the
// longer one cut and renormalized, as with OpenAI's dimensions parameter.
func embedding(model, text string, dims int) []float32 {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	if len(words) == 0 {
		words = []string{text} // punctuation or nothing: the text still has its own vector
	}
	sum := make([]float64, dims)
	for _, w := range words {
		h := fnv.New64a()
		_, _ = h.Write([]byte(model))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(w))
		state := h.Sum64()
		for i := range sum {
			sum[i] += uniform(splitmix64(&state))
		}
	}
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	if norm == 0 {
		out[0] = 1 // cannot happen in practice; a unit vector all the same
		return out
	}
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out
}

// splitmix64 advances the state and returns the next number of the SplitMix64 sequence:
// a tiny, well-mixed generator whose output never changes with the Go version, unlike
// math/rand's unspecified streams.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform maps 64 random bits to [-1, 1).
func uniform(x uint64) float64 {
	return float64(x>>11)/(1<<53)*2 - 1
}
