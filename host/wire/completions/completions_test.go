package completions

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func mustDecode(t *testing.T, body string) *wire.ChatRequest {
	t.Helper()
	cr, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	return cr
}

func TestDecode(t *testing.T) {
	cr := mustDecode(t, `{"model":"gpt-3.5-turbo-instruct","prompt":"Once upon a time","max_tokens":50,"temperature":0.7,"top_p":0.9,"n":2,"stop":["\n","END"],"presence_penalty":0.5,"frequency_penalty":-0.5,"seed":42,"user":"u","stream":true,"stream_options":{"include_usage":true},"logit_bias":{"50256":-100},"best_of":1,"echo":false,"suffix":""}`)
	r := cr.Provider
	if cr.Endpoint != provider.EndpointCompletions || r.Endpoint != provider.EndpointCompletions || cr.Model != "gpt-3.5-turbo-instruct" || r.Model != cr.Model {
		t.Errorf("endpoint %q model %q", cr.Endpoint, cr.Model)
	}
	if want := []provider.Message{{Role: "user", Content: "Once upon a time"}}; !reflect.DeepEqual(r.Messages, want) {
		t.Errorf("messages %+v", r.Messages)
	}
	if r.MaxTokens != 50 || cr.MaxTokensField != "max_tokens" || *r.Temperature != 0.7 || *r.TopP != 0.9 || r.N != 2 ||
		!reflect.DeepEqual(r.Stop, []string{"\n", "END"}) || *r.PresencePenalty != 0.5 || *r.FrequencyPenalty != -0.5 || *r.Seed != 42 || r.User != "u" {
		t.Errorf("parameters %+v", r)
	}
	if !cr.Stream || !r.Stream || !r.IncludeUsage || cr.NativeOnly != "" {
		t.Errorf("stream %v include_usage %v NativeOnly %q", cr.Stream, r.IncludeUsage, cr.NativeOnly)
	}
	if string(r.Extra) != `{"logit_bias":{"50256":-100}}` {
		t.Errorf("extra %s", r.Extra)
	}
	if cr.Messages != 1 || cr.Chars != 16 || cr.PromptTokensEstimate != 16/4+4+3 {
		t.Errorf("facts: %d messages %d chars estimate %d", cr.Messages, cr.Chars, cr.PromptTokensEstimate)
	}

	// The legacy default limit, a one-string array, a single stop string.
	cr = mustDecode(t, `{"model":"m","prompt":["Hello"],"stop":"."}`)
	if cr.Provider.MaxTokens != 16 || cr.MaxTokensField != "max_tokens" || cr.Provider.Messages[0].Content != "Hello" || !reflect.DeepEqual(cr.Provider.Stop, []string{"."}) || cr.NativeOnly != "" {
		t.Errorf("defaults: %+v NativeOnly %q", cr.Provider, cr.NativeOnly)
	}
}

func TestDecodeNativeOnly(t *testing.T) {
	for _, tc := range []struct {
		body, want string
		messages   int
		estimate   int64
	}{
		{`{"model":"m","prompt":["a","bbbb"]}`, "prompt", 2, 5/4 + 8 + 3},
		{`{"model":"m","prompt":[1,2,3]}`, "prompt", 1, 4 + 3 + 3},
		{`{"model":"m","prompt":[[1,2],[3]]}`, "prompt", 2, 8 + 3 + 3},
		{`{"model":"m","prompt":"x","suffix":"end"}`, "suffix", 1, 7},
		{`{"model":"m","prompt":"x","echo":true}`, "echo", 1, 7},
		{`{"model":"m","prompt":"x","best_of":3}`, "best_of", 1, 7},
		{`{"model":"m","prompt":"x","logprobs":0}`, "logprobs", 1, 7},
		{`{"model":"m","prompt":"x","logprobs":5}`, "logprobs", 1, 7},
		{`{"model":"m","prompt":"x","max_tokens":0,"echo":true}`, "echo", 1, 7},
		{`{"model":"m","prompt":"x","max_tokens":0}`, "max_tokens", 1, 7},
	} {
		cr := mustDecode(t, tc.body)
		if cr.NativeOnly != tc.want || cr.Messages != tc.messages || cr.PromptTokensEstimate != tc.estimate {
			t.Errorf("%s: NativeOnly %q messages %d estimate %d, want %q %d %d", tc.body, cr.NativeOnly, cr.Messages, cr.PromptTokensEstimate, tc.want, tc.messages, tc.estimate)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ body, param string }{
		{`"x"`, ""},
		{`{"model":"m","prompt":"x","prompt":"y"}`, "prompt"},
		{`{"prompt":"x"}`, "model"},
		{`{"model":"m"}`, "prompt"},
		{`{"model":"m","prompt":null}`, "prompt"},
		{`{"model":"m","prompt":[]}`, "prompt"},
		{`{"model":"m","prompt":{}}`, "prompt"},
		{`{"model":"m","prompt":["a",1]}`, "prompt"},
		{`{"model":"m","prompt":[1,"a"]}`, "prompt"},
		{`{"model":"m","prompt":[[1],["a"]]}`, "prompt"},
		{`{"model":"m","prompt":[true]}`, "prompt"},
		{`{"model":"m","prompt":[null]}`, "prompt"},
		{`{"model":"m","prompt":[1,null]}`, "prompt"},
		{`{"model":"m","prompt":[[1],[null]]}`, "prompt"},
		{`{"model":"m","prompt":["a",null]}`, "prompt"},
		{`{"model":"m","prompt":[1.5]}`, "prompt"},
		{`{"model":"m","prompt":"x","suffix":1}`, "suffix"},
		{`{"model":"m","prompt":"x","echo":"yes"}`, "echo"},
		{`{"model":"m","prompt":"x","best_of":21}`, "best_of"},
		{`{"model":"m","prompt":"x","logprobs":true}`, "logprobs"},
		{`{"model":"m","prompt":"x","logprobs":6}`, "logprobs"},
		{`{"model":"m","prompt":"x","max_tokens":-1}`, "max_tokens"},
		{`{"model":"m","prompt":"x","max_tokens":"10"}`, "max_tokens"},
		{`{"model":"m","prompt":"x","temperature":2.5}`, "temperature"},
		{`{"model":"m","prompt":"x","top_p":-1}`, "top_p"},
		{`{"model":"m","prompt":"x","n":0}`, "n"},
		{`{"model":"m","prompt":"x","stop":[1]}`, "stop"},
		{`{"model":"m","prompt":"x","presence_penalty":3}`, "presence_penalty"},
		{`{"model":"m","prompt":"x","frequency_penalty":"a"}`, "frequency_penalty"},
		{`{"model":"m","prompt":"x","seed":1.5}`, "seed"},
		{`{"model":"m","prompt":"x","user":[]}`, "user"},
		{`{"model":"m","prompt":"x","stream":1}`, "stream"},
		{`{"model":"m","prompt":"x","stream_options":true}`, "stream_options"},
	} {
		_, err := Decode([]byte(tc.body))
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("%s: err = %v, want a *wire.Error", tc.body, err)
			continue
		}
		if we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest || we.Param != tc.param {
			t.Errorf("%s: %d %s param %q (%s), want 400 param %q", tc.body, we.Status, we.Code, we.Param, we.Message, tc.param)
		}
	}
}

func readCompletion(t *testing.T, b []byte) openai.Completion {
	t.Helper()
	var c openai.Completion
	if !json.Valid(b) || json.Unmarshal(b, &c) != nil {
		t.Fatalf("openai-go cannot read %s", b)
	}
	return c
}

func TestAppendCompletion(t *testing.T) {
	r := &provider.Response{SystemFingerprint: "fp_1", Choices: []provider.Choice{
		{Index: 0, FinishReason: "stop", Message: provider.Message{Role: "assistant", Content: " there was a cat."}},
		{Index: 1, FinishReason: "length", Message: provider.Message{Content: " there"}},
		{Index: 2, FinishReason: "tool_calls", Message: provider.Message{Refusal: "No."}},
	}, Usage: &provider.Usage{PromptTokens: 5, CompletionTokens: 7, CachedPromptTokens: 2}}
	b := AppendCompletion([]byte("x"), r, "gpt-3.5-turbo-instruct", "abc", 1700000000)
	if b[0] != 'x' {
		t.Fatal("dst not appended to")
	}
	c := readCompletion(t, b[1:])
	if c.ID != "cmpl-abc" || c.Object != "text_completion" || c.Created != 1700000000 || c.Model != "gpt-3.5-turbo-instruct" || c.SystemFingerprint != "fp_1" {
		t.Errorf("head %+v", c)
	}
	for i, want := range []struct{ text, finish string }{{" there was a cat.", "stop"}, {" there", "length"}, {"No.", "stop"}} {
		ch := c.Choices[i]
		if ch.Text != want.text || string(ch.FinishReason) != want.finish || ch.Index != int64(i) || ch.JSON.Logprobs.Raw() != "null" {
			t.Errorf("choice %d: %s", i, ch.RawJSON())
		}
	}
	if c.Usage.PromptTokens != 5 || c.Usage.CompletionTokens != 7 || c.Usage.TotalTokens != 12 || c.Usage.PromptTokensDetails.CachedTokens != 2 {
		t.Errorf("usage %s", c.Usage.RawJSON())
	}
	// No usage: none sent. An id with the prefix keeps it.
	c = readCompletion(t, AppendCompletion(nil, &provider.Response{}, "m", "cmpl-1", 1))
	if c.ID != "cmpl-1" || c.JSON.Usage.Valid() || c.JSON.Choices.Raw() != "[]" {
		t.Errorf("empty answer %s", c.RawJSON())
	}
}

// data returns the JSON of one `data: ...\n\n` frame, failing on any other framing.
func data(t *testing.T, b []byte) []byte {
	t.Helper()
	s, ok := strings.CutPrefix(string(b), "data: ")
	if !ok || !strings.HasSuffix(s, "\n\n") || strings.Count(s, "\n") != 2 {
		t.Fatalf("bad frame %q", b)
	}
	return []byte(strings.TrimSuffix(s, "\n\n"))
}

func TestAppendChunk(t *testing.T) {
	c := readCompletion(t, data(t, AppendChunk(nil, &provider.Chunk{Choices: []provider.Delta{{Content: "Hel"}}}, "m", "s", 9)))
	if c.ID != "cmpl-s" || c.Object != "text_completion" || c.Created != 9 || c.Model != "m" || c.Choices[0].Text != "Hel" || c.Choices[0].JSON.FinishReason.Raw() != "null" || c.Choices[0].JSON.Logprobs.Raw() != "null" {
		t.Errorf("chunk %s", c.RawJSON())
	}
	c = readCompletion(t, data(t, AppendChunk(nil, &provider.Chunk{Choices: []provider.Delta{{Index: 1, FinishReason: "length"}}}, "m", "s", 9)))
	if c.Choices[0].Text != "" || c.Choices[0].FinishReason != "length" || c.Choices[0].Index != 1 {
		t.Errorf("last chunk %s", c.RawJSON())
	}
	// Nothing to say: nothing written.
	for _, ch := range []*provider.Chunk{{}, {Choices: []provider.Delta{{Role: "assistant"}}}, {Choices: []provider.Delta{{ToolCalls: []provider.ToolCall{{Name: "f"}}}}}} {
		if b := AppendChunk([]byte("x"), ch, "m", "s", 9); string(b) != "x" {
			t.Errorf("%+v wrote %q", ch, b)
		}
	}
	c = readCompletion(t, data(t, AppendUsageChunk(nil, &provider.Usage{PromptTokens: 3, CompletionTokens: 4}, "m", "s", 9)))
	if c.JSON.Choices.Raw() != "[]" || c.Usage.TotalTokens != 7 || c.ID != "cmpl-s" {
		t.Errorf("usage chunk %s", c.RawJSON())
	}
}

// TestOfficialClient runs openai-go's completions client, whole and streamed, against a
// server using this package both ways.
func TestOfficialClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		cr, err := Decode(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(err.(*wire.Error).JSON())
			return
		}
		if cr.Provider.Messages[0].Content != "Say this is a test" || cr.Provider.MaxTokens != 7 {
			t.Errorf("the client's request decoded to %+v", cr.Provider)
		}
		if !cr.Stream {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(AppendCompletion(nil, &provider.Response{Choices: []provider.Choice{{FinishReason: "stop", Message: provider.Message{Content: "This is a test."}}},
				Usage: &provider.Usage{PromptTokens: 5, CompletionTokens: 5}}, "m", "w", 1))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		var b []byte
		for _, s := range []string{"This", " is", " a test."} {
			b = AppendChunk(b, &provider.Chunk{Choices: []provider.Delta{{Content: s}}}, "m", "s", 1)
		}
		b = AppendChunk(b, &provider.Chunk{Choices: []provider.Delta{{FinishReason: "stop"}}}, "m", "s", 1)
		if cr.Provider.IncludeUsage {
			b = AppendUsageChunk(b, &provider.Usage{PromptTokens: 5, CompletionTokens: 5}, "m", "s", 1)
		}
		_, _ = w.Write(append(b, "data: [DONE]\n\n"...))
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	params := openai.CompletionNewParams{Model: "m", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")}, MaxTokens: openai.Int(7)}
	c, err := client.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Text != "This is a test." || c.Usage.TotalTokens != 10 {
		t.Errorf("whole: %s", c.RawJSON())
	}
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	st := client.Completions.NewStreaming(context.Background(), params)
	var text, finish string
	var total int64
	for st.Next() {
		ch := st.Current()
		for _, c := range ch.Choices {
			text += c.Text
			finish += string(c.FinishReason)
		}
		total += ch.Usage.TotalTokens
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text != "This is a test." || finish != "stop" || total != 10 {
		t.Errorf("stream: text %q finish %q usage %d", text, finish, total)
	}
}
