package openai

import (
	"encoding/json"
	"testing"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"base_url":"http://localhost:11434/v1","headers":{"X":"y"},"timeout_ms":1000}`))
	f.Add([]byte(`{"azure":{"endpoint":"https://x.openai.azure.com","api_version":"2024-10-21","deployments":{"a":"b"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseSettings(raw)
		if err != nil {
			return
		}
		if s.TimeoutMS <= 0 || s.MaxIdleConnsPerHost <= 0 || (s.Azure == nil && s.BaseURL == "") {
			t.Fatalf("accepted settings without defaults: %+v", s)
		}
	})
}

func FuzzRawOptions(f *testing.F) {
	f.Add([]byte(`{"model":"m","stream":true,"messages":[]}`), true)
	f.Add([]byte(`{"model":"m","stream_options":null}`), true)
	f.Add([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`), false)
	f.Fuzz(func(t *testing.T, raw []byte, stream bool) {
		_, _ = rawOptions(raw, stream, true)
	})
}

func FuzzClassifyStreamError(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"m","type":"server_error","param":null,"code":null}}`))
	f.Add([]byte(`{"error":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := classifyStreamError(data)
		if !e.Kind.Valid() || e.Message == "" {
			t.Fatalf("bad error %+v", e)
		}
	})
}

func FuzzEncodeMessage(f *testing.F) {
	f.Add("user", "hi", []byte(`{"x":1}`), []byte(`{"type":"file","file":{}}`))
	f.Fuzz(func(t *testing.T, role, content string, extra, part []byte) {
		m := provider.Message{Role: role, Content: content, Extra: extra}
		if len(part) > 0 {
			m.Parts = []provider.ContentPart{{Type: "x", Raw: part}}
		}
		b, err := encodeMessage(m)
		if err == nil && !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
	})
}
