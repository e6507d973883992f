package wire

import (
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// benchRequest is a chat request of about 1 KB: a system and a user message, sampling
// fields, metadata and one field Switchyard does not know.
func benchRequest() []byte {
	head := `{"model":"bench","max_tokens":256,"temperature":0.2,"user":"u1","metadata":{"tier":"free","switchyard.team":"a"},` +
		`"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`
	tail := `"}],"logprobs":false}`
	return []byte(head + strings.Repeat("lorem ipsum ", (1024-len(head)-len(tail))/12) + tail)
}

func BenchmarkDecodeChat(b *testing.B) {
	body := benchRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCompletion(b *testing.B) {
	r := &provider.Response{ID: "chatcmpl-1", Created: 1700000000,
		Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: strings.Repeat("lorem ipsum ", 85)}, FinishReason: "stop"}},
		Usage:   &provider.Usage{PromptTokens: 260, CompletionTokens: 256}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = EncodeCompletion(r, "gpt-bench")
	}
}

func BenchmarkEncodeChunk(b *testing.B) {
	c := &provider.Chunk{Choices: []provider.Delta{{Content: "lorem ipsum lorem ipsum lorem ipsum lorem ipsum "}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = EncodeChunk(c, "chatcmpl-1", "gpt-bench", 1700000000)
	}
}
