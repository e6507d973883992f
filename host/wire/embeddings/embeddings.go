// Package embeddings is OpenAI's embeddings API (POST /v1/embeddings) on the router's
// client side: it decodes a request (and gives the pipeline a chat-shaped view of it for
// planning and rules) and encodes the vectors back, as floats or base64.
package embeddings

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// maxInputs is OpenAI's limit on the inputs of one request.
const maxInputs = 2048

// Encoding formats of the answer's vectors.
const (
	FormatFloat  = "float"
	FormatBase64 = "base64"
)

// Request is a decoded embeddings request.
type Request struct {
	Model string
	// Input holds the texts to embed, in order; never empty, no text empty.
	Input []string
	// Dimensions is what the client asked for, 0 when unset.
	Dimensions int
	// EncodingFormat is FormatFloat (the default) or FormatBase64.
	EncodingFormat string
	User           string
	// Extra holds the top-level fields of the body not modelled above, as a JSON object.
	Extra json.RawMessage
	// Facts for rules: the texts' length in bytes and the token estimate from it.
	Chars                int
	PromptTokensEstimate int64

	chat *wire.ChatRequest // the body, kept by Decode
}

var known = map[string]bool{"model": true, "input": true, "dimensions": true, "encoding_format": true, "user": true}

// Decode decodes and checks a POST /v1/embeddings body. Errors are *wire.Error with
// status 400 and Param naming the field at fault. Inputs given as token ids are refused:
// no plugin takes them yet (EmbedRequest.Input holds texts).
func Decode(body []byte) (*Request, error) {
	cr, err := wire.KeepBody(body, provider.EndpointEmbeddings)
	if err != nil {
		return nil, err
	}
	r := &Request{chat: cr, EncodingFormat: FormatFloat}
	get := func(name string) (json.RawMessage, bool) {
		v, ok := cr.Field(name)
		return v, ok && len(v) > 0 && string(v) != "null"
	}
	if v, ok := get("model"); ok && json.Unmarshal(v, &r.Model) != nil {
		return nil, wire.BadRequest("model", "model must be a string")
	}
	if r.Model == "" {
		return nil, wire.BadRequest("model", "you must provide a model parameter")
	}
	v, ok := get("input")
	if !ok {
		return nil, wire.BadRequest("input", "you must provide input")
	}
	if err := r.input(v); err != nil {
		return nil, err
	}
	if v, ok := get("dimensions"); ok {
		var f float64
		if json.Unmarshal(v, &f) != nil || f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
			return nil, wire.BadRequest("dimensions", "dimensions must be an integer of at least 1")
		}
		r.Dimensions = int(f)
	}
	if v, ok := get("encoding_format"); ok {
		if json.Unmarshal(v, &r.EncodingFormat) != nil || r.EncodingFormat != FormatFloat && r.EncodingFormat != FormatBase64 {
			return nil, wire.BadRequest("encoding_format", "encoding_format must be float or base64")
		}
	}
	if v, ok := get("user"); ok && json.Unmarshal(v, &r.User) != nil {
		return nil, wire.BadRequest("user", "user must be a string")
	}
	extra := map[string]json.RawMessage{}
	for _, name := range cr.FieldNames() {
		if !known[name] {
			extra[name], _ = cr.Field(name)
		}
	}
	if len(extra) > 0 {
		r.Extra, _ = json.Marshal(extra)
	}
	// Every input is at least one token; there is no message framing to add.
	r.PromptTokensEstimate = int64(r.Chars/4 + len(r.Input))
	return r, nil
}

func (r *Request) input(v json.RawMessage) error {
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return wire.BadRequest("input", "input is not a valid string")
		}
		if s == "" {
			return wire.BadRequest("input", "input must not be an empty string")
		}
		r.Input, r.Chars = []string{s}, len(s)
		return nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return wire.BadRequest("input", "input must be a string or an array of strings")
	}
	if len(items) == 0 {
		return wire.BadRequest("input", "input must not be empty")
	}
	if len(items) > maxInputs {
		return wire.BadRequest("input", "input holds %d items; at most %d are allowed", len(items), maxInputs)
	}
	r.Input = make([]string, len(items))
	for i, it := range items {
		if it[0] != '"' {
			if it[0] == '[' || it[0] == '-' || it[0] >= '0' && it[0] <= '9' {
				return wire.BadRequest("input", "input as token ids is not supported; send the texts")
			}
			return wire.BadRequest("input", "input must be a string or an array of strings")
		}
		if json.Unmarshal(it, &r.Input[i]) != nil {
			return wire.BadRequest("input", "input[%d] is not a valid string", i)
		}
		if r.Input[i] == "" {
			return wire.BadRequest("input", "input[%d] must not be an empty string", i)
		}
		r.Chars += len(r.Input[i])
	}
	return nil
}

// Chat is the request as the pipeline plans and rules see every call: endpoint
// embeddings, the model, the facts, one "message" per input. Provider carries only what
// an embeddings call has of a chat request; the call itself goes as an EmbedRequest.
func (r *Request) Chat() *wire.ChatRequest {
	cr := r.chat
	if cr == nil {
		cr = &wire.ChatRequest{}
	}
	cr.Endpoint, cr.Model, cr.Chars, cr.PromptTokensEstimate, cr.Messages = provider.EndpointEmbeddings, r.Model, r.Chars, r.PromptTokensEstimate, len(r.Input)
	cr.Provider = &provider.Request{Model: r.Model, Endpoint: provider.EndpointEmbeddings, User: r.User}
	return cr
}

// AppendResponse appends the answer as OpenAI's list of embeddings to dst: each vector as
// float32 numbers (shortest decimal that reads back as the same float32) or, for format
// base64, as base64 of its little-endian float32s. model is the model that answered.
// In the float format NaN and infinities, which JSON cannot hold, are written as 0;
// base64 carries their bits.
func AppendResponse(dst []byte, r *provider.EmbedResponse, model, format string) []byte {
	b := append(dst, `{"object":"list","data":[`...)
	for i := range r.Data {
		e := &r.Data[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(e.Index), 10)
		b = append(b, `,"embedding":`...)
		if format == FormatBase64 {
			b = appendBase64(b, e.Vector)
		} else {
			b = appendFloats(b, e.Vector)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	name, _ := json.Marshal(model)
	b = append(b, name...)
	var prompt, total int64
	if r.Usage != nil {
		prompt, total = r.Usage.PromptTokens, r.Usage.TotalTokens
		if total == 0 {
			total = prompt
		}
	}
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, prompt, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, total, 10)
	return append(b, "}}"...)
}

func appendFloats(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			f = 0
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}

func appendBase64(b []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}
