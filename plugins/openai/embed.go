package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Embed posts one embeddings request to {base_url}/embeddings (Azure: the model's
// deployment) and decodes the vectors, asked for in the encoding_format of the settings.
func (p *Provider) Embed(ctx context.Context, r *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	if len(r.Input) == 0 {
		return nil, provider.NewError(provider.KindInvalidRequest, "openai: embeddings input must not be empty")
	}
	body, err := embedBody(r, st.settings.EmbeddingEncodingFormat)
	if err != nil {
		return nil, provider.NewError(provider.KindInvalidRequest, "openai: %v", err)
	}
	opts := []option.RequestOption{option.WithRequestBody("application/json", body)}
	res, err := st.do(ctx, provider.EndpointEmbeddings, r.Model, opts, func(o []option.RequestOption) error {
		_, err := st.embeddings.New(ctx, oai.EmbeddingNewParams{}, o...)
		return err
	})
	if err != nil {
		return nil, err
	}
	b, err := readBody(res)
	_ = res.Body.Close()
	if err != nil {
		return nil, classify(ctx, err, nil, st.secrets)
	}
	resp, err := decodeEmbeddings(b, len(r.Input))
	if err != nil {
		return nil, classify(ctx, err, nil, st.secrets)
	}
	return resp, nil
}

// embedBody is the upstream's request: the client's extra fields, then the modelled ones
// over them. encoding_format is always the plugin's: it decodes the vectors, and the host
// encodes them as its client asked.
func embedBody(r *provider.EmbedRequest, format string) ([]byte, error) {
	body := map[string]any{}
	if raw := bytes.TrimSpace(r.Extra); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var extra map[string]json.RawMessage
		if err := json.Unmarshal(raw, &extra); err != nil {
			return nil, fmt.Errorf("extra fields are not a JSON object: %w", err)
		}
		for k, v := range extra {
			body[k] = v
		}
	}
	body["model"] = r.Model
	body["input"] = r.Input
	body["encoding_format"] = format
	if r.Dimensions > 0 {
		body["dimensions"] = r.Dimensions
	}
	if r.User != "" {
		body["user"] = r.User
	}
	return json.Marshal(body)
}

// wireEmbeddings is the part of an embeddings answer the plugin reads.
type wireEmbeddings struct {
	Model flexString `json:"model"`
	Data  []struct {
		Index     flexInt         `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage *struct {
		PromptTokens flexInt `json:"prompt_tokens"`
		TotalTokens  flexInt `json:"total_tokens"`
	} `json:"usage"`
}

// decodeEmbeddings decodes an answer for n inputs, in the order of their index.
func decodeEmbeddings(body []byte, n int) (*provider.EmbedResponse, error) {
	var w wireEmbeddings
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	if len(w.Data) != n {
		return nil, badEmbeddings("the upstream answered %d embeddings for %d inputs", len(w.Data), n)
	}
	resp := &provider.EmbedResponse{Model: string(w.Model), Data: make([]provider.Embedding, n)}
	seen := make([]bool, n)
	for _, d := range w.Data {
		i := int(d.Index)
		if i < 0 || i >= n || seen[i] {
			return nil, badEmbeddings("the upstream's embeddings have a bad or repeated index %d", i)
		}
		seen[i] = true
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, badEmbeddings("embedding %d: %v", i, err)
		}
		resp.Data[i] = provider.Embedding{Index: i, Vector: v}
	}
	if u := w.Usage; u != nil {
		total := int64(u.TotalTokens)
		if total == 0 {
			total = int64(u.PromptTokens)
		}
		resp.Usage = &provider.Usage{PromptTokens: int64(u.PromptTokens), TotalTokens: total}
	}
	return resp, nil
}

// badEmbeddings is an answer the plugin cannot use (the host needs exactly one vector per
// input, in order): unavailable, as an unreadable answer is.
func badEmbeddings(format string, args ...any) error {
	return provider.NewError(provider.KindUpstreamUnavailable, format, args...)
}

// decodeVector reads a vector as base64 of little-endian float32s (encoding_format
// base64) or as a JSON array of numbers (float).
func decodeVector(v json.RawMessage) ([]float32, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) > 0 && v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("not base64: %w", err)
		}
		if len(b)%4 != 0 {
			return nil, fmt.Errorf("%d bytes are not float32s", len(b))
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case len(v) > 0 && v[0] == '[':
		var out []float32
		if err := json.Unmarshal(v, &out); err != nil {
			return nil, fmt.Errorf("not an array of numbers")
		}
		return out, nil
	}
	return nil, fmt.Errorf("neither base64 nor an array of numbers")
}
