package messages

import (
	"errors"
	"net/http"
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
)

// fuzzSeeds are bodies that reach each branch of the decoder: every block kind, tools and
// their choice, the sampling fields, and a few near misses.
var fuzzSeeds = []string{
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":64,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`,
	`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"},{"type":"tool_use","id":"t1","name":"f","input":{"k":[1,2]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}],"is_error":true},{"type":"text","text":"more"}]}]}`,
	`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"q"}],"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}}`,
	`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"q"}],"temperature":1,"top_p":0.5,"top_k":3,"stop_sequences":["x"],"stream":true,"metadata":{"user_id":"u"}}`,
	`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"q"}],"thinking":{"type":"enabled","budget_tokens":2048},"output_config":{"effort":"high","format":{"type":"json_schema","schema":{"type":"object"}}}}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"x"}}]}]}`,
	`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":[]}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`,
	`{"model":"m","max_tokens":64,"messages":[null,{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[]}]}]}`,
	`{"model":"m","max_tokens":1e3,"messages":[{"role":"user","content":"\u00e9"}]}`,
	`{"model":"m","model":"n"}`,
	`[]`,
	``,
}

func fuzzDecoder(f *testing.F, decode func([]byte) (*wire.ChatRequest, error)) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := decode(b)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status != http.StatusBadRequest {
				t.Fatalf("error %T %v is not a 400 *wire.Error", err, err)
			}
			return
		}
		if cr == nil || cr.Provider == nil || len(cr.Provider.Messages) == 0 {
			t.Fatalf("decoded %s into a request without messages: %+v", b, cr)
		}
		if cr.Messages != len(cr.Provider.Messages) || cr.PromptTokensEstimate < 1 {
			t.Fatalf("facts: %d messages for %d, estimate %d", cr.Messages, len(cr.Provider.Messages), cr.PromptTokensEstimate)
		}
		// What was decoded also estimates and encodes without trouble.
		if EstimateTokens(cr) < 1 {
			t.Fatal("estimate below 1")
		}
	})
}

func FuzzDecode(f *testing.F) { fuzzDecoder(f, Decode) }

func FuzzDecodeCountTokens(f *testing.F) { fuzzDecoder(f, DecodeCountTokens) }
