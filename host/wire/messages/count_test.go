package messages

import (
	"testing"

	"github.com/switchyard-llm/switchyard/host/wire"
)

func TestEstimateTokens(t *testing.T) {
	plain, err := DecodeCountTokens([]byte(`{"model":"m","system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := EstimateTokens(plain), plain.PromptTokensEstimate; got != want {
		t.Errorf("without tools: %d, want the prompt estimate %d", got, want)
	}

	schema := `{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}`
	withTools, err := DecodeCountTokens([]byte(`{"model":"m","system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}],` +
		`"tools":[{"name":"get_weather","description":"Current weather","input_schema":` + schema + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	toolBytes := len("get_weather") + len("Current weather") + len(schema)
	if got, want := EstimateTokens(withTools), plain.PromptTokensEstimate+int64(toolBytes/4); got != want {
		t.Errorf("with a tool: %d, want %d", got, want)
	}

	if got := EstimateTokens(&wire.ChatRequest{}); got != 1 {
		t.Errorf("empty request: %d, want 1", got)
	}
	if got := EstimateTokens(nil); got != 1 {
		t.Errorf("nil: %d, want 1", got)
	}
	if got := string(CountTokensJSON(1234)); got != `{"input_tokens":1234}` {
		t.Errorf("CountTokensJSON = %s", got)
	}
}
