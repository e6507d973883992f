package embeddings

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Request
	}{
		{`{"model":"text-embedding-3-small","input":"The food was delicious"}`,
			Request{Model: "text-embedding-3-small", Input: []string{"The food was delicious"}, EncodingFormat: "float", Chars: 22, PromptTokensEstimate: 22/4 + 1}},
		{`{"model":"e","input":["a","bcdef"],"dimensions":256,"encoding_format":"base64","user":"u","x":{"y":1}}`,
			Request{Model: "e", Input: []string{"a", "bcdef"}, Dimensions: 256, EncodingFormat: "base64", User: "u", Extra: json.RawMessage(`{"x":{"y":1}}`), Chars: 6, PromptTokensEstimate: 6/4 + 2}},
		{`{"model":"e","input":["x"],"encoding_format":null,"dimensions":null}`,
			Request{Model: "e", Input: []string{"x"}, EncodingFormat: "float", Chars: 1, PromptTokensEstimate: 1}},
	} {
		got, err := Decode([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		got.chat = nil
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.body, *got, tc.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	many := `{"model":"e","input":[`
	for i := range maxInputs + 1 {
		if i > 0 {
			many += ","
		}
		many += `"x"`
	}
	many += "]}"
	for _, tc := range []struct{ body, param string }{
		{`[]`, ""},
		{`{"model":"e","input":"x","input":"y"}`, "input"},
		{`{"input":"x"}`, "model"},
		{`{"model":1,"input":"x"}`, "model"},
		{`{"model":"e"}`, "input"},
		{`{"model":"e","input":null}`, "input"},
		{`{"model":"e","input":""}`, "input"},
		{`{"model":"e","input":[]}`, "input"},
		{`{"model":"e","input":["a",""]}`, "input"},
		{`{"model":"e","input":[1,2,3]}`, "input"},
		{`{"model":"e","input":[[1,2]]}`, "input"},
		{`{"model":"e","input":["a",null]}`, "input"},
		{`{"model":"e","input":{"text":"a"}}`, "input"},
		{many, "input"},
		{`{"model":"e","input":"x","dimensions":0}`, "dimensions"},
		{`{"model":"e","input":"x","dimensions":1.5}`, "dimensions"},
		{`{"model":"e","input":"x","dimensions":"256"}`, "dimensions"},
		{`{"model":"e","input":"x","encoding_format":"int8"}`, "encoding_format"},
		{`{"model":"e","input":"x","encoding_format":1}`, "encoding_format"},
		{`{"model":"e","input":"x","user":false}`, "user"},
	} {
		_, err := Decode([]byte(tc.body))
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Errorf("%.80s: err = %v, want a *wire.Error", tc.body, err)
			continue
		}
		if we.Status != http.StatusBadRequest || we.Code != wire.CodeInvalidRequest || we.Param != tc.param {
			t.Errorf("%.80s: %d %s param %q (%s), want 400 param %q", tc.body, we.Status, we.Code, we.Param, we.Message, tc.param)
		}
	}
}

func TestChat(t *testing.T) {
	r, err := Decode([]byte(`{"model":"e","input":["ab","cd"],"user":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	cr := r.Chat()
	if cr.Endpoint != provider.EndpointEmbeddings || cr.Model != "e" || cr.Chars != 4 || cr.PromptTokensEstimate != 3 || cr.Messages != 2 || cr.Stream || cr.NativeOnly != "" {
		t.Errorf("chat view %+v", cr)
	}
	if want := (provider.Request{Model: "e", Endpoint: provider.EndpointEmbeddings, User: "u"}); !reflect.DeepEqual(*cr.Provider, want) {
		t.Errorf("provider request %+v", cr.Provider)
	}
	if v, ok := cr.Field("input"); !ok || string(v) != `["ab","cd"]` {
		t.Errorf("body not kept: %s", v)
	}
	// A Request built by hand has a view too.
	cr = (&Request{Model: "h", Input: []string{"x"}, Chars: 1, PromptTokensEstimate: 1}).Chat()
	if cr.Endpoint != provider.EndpointEmbeddings || cr.Model != "h" || cr.Messages != 1 || cr.Provider.Model != "h" {
		t.Errorf("hand-made view %+v", cr)
	}
}

var vectors = []float32{0.1, -0.0023064255, 1e-7, 3.4028235e38, -1, 0, float32(math.Pi), 1.0000001}

func answer() *provider.EmbedResponse {
	return &provider.EmbedResponse{Model: "e", Data: []provider.Embedding{{Index: 0, Vector: vectors}, {Index: 1, Vector: []float32{}}},
		Usage: &provider.Usage{PromptTokens: 8, TotalTokens: 8}}
}

func TestAppendResponseFloat(t *testing.T) {
	b := AppendResponse([]byte("x"), answer(), "text-embedding-3-small", "float")
	if b[0] != 'x' {
		t.Fatal("dst not appended to")
	}
	var got openai.CreateEmbeddingResponse
	if !json.Valid(b[1:]) || json.Unmarshal(b[1:], &got) != nil {
		t.Fatalf("openai-go cannot read %s", b[1:])
	}
	if got.Object != "list" || got.Model != "text-embedding-3-small" || got.Usage.PromptTokens != 8 || got.Usage.TotalTokens != 8 || len(got.Data) != 2 {
		t.Errorf("list %s", got.RawJSON())
	}
	for i, f := range got.Data[0].Embedding {
		if float32(f) != vectors[i] {
			t.Errorf("vector[%d] = %v reads back as %v", i, vectors[i], float32(f))
		}
	}
	if got.Data[0].Object != "embedding" || got.Data[1].Index != 1 || got.Data[1].JSON.Embedding.Raw() != "[]" {
		t.Errorf("items %s", got.JSON.Data.Raw())
	}
	// JSON has no NaN: a broken vector still makes valid JSON.
	b = AppendResponse(nil, &provider.EmbedResponse{Data: []provider.Embedding{{Vector: []float32{float32(math.NaN()), float32(math.Inf(-1))}}}}, "e", "float")
	if !json.Valid(b) {
		t.Errorf("not JSON: %s", b)
	}
	// No usage reported: zeros.
	if err := json.Unmarshal(AppendResponse(nil, &provider.EmbedResponse{}, "e", ""), &got); err != nil || got.Usage.PromptTokens != 0 || len(got.Data) != 0 {
		t.Errorf("empty answer: %v %s", err, got.RawJSON())
	}
}

func TestAppendResponseBase64(t *testing.T) {
	b := AppendResponse(nil, answer(), "e", "base64")
	var raw struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	bits, err := base64.StdEncoding.DecodeString(raw.Data[0].Embedding)
	if err != nil || len(bits) != 4*len(vectors) {
		t.Fatalf("base64 %q: %v", raw.Data[0].Embedding, err)
	}
	for i := range vectors {
		if f := math.Float32frombits(binary.LittleEndian.Uint32(bits[4*i:])); f != vectors[i] {
			t.Errorf("vector[%d] = %v decodes as %v", i, vectors[i], f)
		}
	}
	// openai-go decodes base64 embeddings itself.
	var got openai.CreateEmbeddingResponse
	if err := json.Unmarshal(b, &got); err != nil || len(got.Data[0].Embedding) != len(vectors) || float32(got.Data[0].Embedding[1]) != vectors[1] {
		t.Errorf("openai-go read %v: %v", got.Data, err)
	}
}

func TestOfficialClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r, err := Decode(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(err.(*wire.Error).JSON())
			return
		}
		if !reflect.DeepEqual(r.Input, []string{"a", "b"}) || r.Dimensions != 8 {
			t.Errorf("the client's request decoded to %+v", r)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(AppendResponse(nil, answer(), r.Model, r.EncodingFormat))
	}))
	defer srv.Close()
	c := openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: "e", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
			Dimensions: openai.Int(8), EncodingFormat: format,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 2 || len(res.Data[0].Embedding) != len(vectors) || float32(res.Data[0].Embedding[6]) != vectors[6] || res.Model != "e" {
			t.Errorf("%s: %s", format, res.RawJSON())
		}
	}
}
