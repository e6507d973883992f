package completions

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// FuzzDecode checks that Decode never panics, refuses only with a 400 *wire.Error, and
// that what it accepts is consistent: one user message exactly when the translation
// serves the request, valid Extra.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","prompt":"hi"}`,
		`{"model":"m","prompt":["a"],"max_tokens":5,"stop":["x"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","prompt":["a","b"],"echo":true,"best_of":2,"logprobs":1,"suffix":"s"}`,
		`{"model":"m","prompt":[1,2],"max_tokens":0}`,
		`{"model":"m","prompt":[[1],[2,3]],"logit_bias":{"1":2},"n":3,"seed":-4}`,
		`{"model":"m","prompt":"x","temperature":1.5,"top_p":0.5,"presence_penalty":-2,"frequency_penalty":2,"user":"u"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := Decode(body)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest {
				t.Fatalf("error %v is not a 400 invalid_request", err)
			}
			return
		}
		r := cr.Provider
		if cr.Endpoint != provider.EndpointCompletions || r.Endpoint != cr.Endpoint || cr.Model == "" || r.Model != cr.Model {
			t.Fatalf("endpoint %q model %q", cr.Endpoint, cr.Model)
		}
		if cr.NativeOnly == "" && (len(r.Messages) != 1 || r.Messages[0].Role != "user" || r.MaxTokens < 1) {
			t.Fatalf("translated request %+v", r)
		}
		if cr.MaxTokensField != "max_tokens" || cr.Messages < 1 || cr.PromptTokensEstimate < 7 {
			t.Fatalf("facts: field %q messages %d estimate %d", cr.MaxTokensField, cr.Messages, cr.PromptTokensEstimate)
		}
		if r.Extra != nil && !json.Valid(r.Extra) {
			t.Fatalf("extra is not JSON: %s", r.Extra)
		}
	})
}
