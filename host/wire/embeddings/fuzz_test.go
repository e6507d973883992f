package embeddings

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// FuzzDecode checks that Decode never panics, refuses only with a 400 *wire.Error, and
// that what it accepts keeps its promises: texts, none empty, a known format, facts that
// add up, and an answer in that format that is JSON.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"model":"e","input":"hello"}`,
		`{"model":"e","input":["a","b"],"dimensions":3,"encoding_format":"base64","user":"u"}`,
		`{"model":"e","input":[[1,2]],"encoding_format":"float"}`,
		`{"model":"e","input":["\u00e9"],"extra":true}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Decode(body)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest {
				t.Fatalf("error %v is not a 400 invalid_request", err)
			}
			return
		}
		if r.Model == "" || len(r.Input) == 0 || len(r.Input) > maxInputs || r.Dimensions < 0 {
			t.Fatalf("request %+v", r)
		}
		chars := 0
		for _, s := range r.Input {
			if s == "" {
				t.Fatal("an empty input was accepted")
			}
			chars += len(s)
		}
		if chars != r.Chars || r.PromptTokensEstimate != int64(chars/4+len(r.Input)) {
			t.Fatalf("facts: %d chars (counted %d), estimate %d", r.Chars, chars, r.PromptTokensEstimate)
		}
		if r.EncodingFormat != FormatFloat && r.EncodingFormat != FormatBase64 {
			t.Fatalf("format %q", r.EncodingFormat)
		}
		if r.Extra != nil && !json.Valid(r.Extra) {
			t.Fatalf("extra is not JSON: %s", r.Extra)
		}
		cr := r.Chat()
		if cr.Endpoint != provider.EndpointEmbeddings || cr.Messages != len(r.Input) || cr.Provider.Model != r.Model {
			t.Fatalf("chat view %+v", cr)
		}
		resp := &provider.EmbedResponse{Data: []provider.Embedding{{Vector: []float32{1, -2.5, 3e-9}}}}
		if b := AppendResponse(nil, resp, r.Model, r.EncodingFormat); !json.Valid(b) {
			t.Fatalf("answer is not JSON: %s", b)
		}
	})
}
