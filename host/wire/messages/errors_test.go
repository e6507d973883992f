package messages

import (
	"encoding/json"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/switchyard-llm/switchyard/host/wire"
)

func TestErrorJSON(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "invalid_request_error"},
		{401, "authentication_error"},
		{403, "permission_error"},
		{404, "not_found_error"},
		{408, "invalid_request_error"},
		{413, "request_too_large"},
		{422, "invalid_request_error"},
		{429, "rate_limit_error"},
		{499, "invalid_request_error"},
		{500, "api_error"},
		{502, "api_error"},
		{503, "overloaded_error"},
		{504, "timeout_error"},
		{529, "overloaded_error"},
		{599, "api_error"},
		{0, "api_error"},
	}
	for _, tt := range tests {
		e := &wire.Error{Status: tt.status, Type: wire.TypeFor(tt.status), Message: `model "x" <says> & no`, Param: "model", Provider: "p1"}
		got := string(ErrorJSON(e))
		want := `{"type":"error","error":{"type":"` + tt.want + `","message":"model \"x\" <says> & no"}}`
		if got != want {
			t.Errorf("status %d:\ngot  %s\nwant %s", tt.status, got, want)
		}
		// The official SDK reads the envelope.
		var env sdk.ErrorResponse
		if err := json.Unmarshal([]byte(got), &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != "error" || env.Error.Type != tt.want || env.Error.Message != e.Message {
			t.Errorf("status %d: SDK reads %+v", tt.status, env)
		}
	}
}

func TestErrorJSONWithRequestID(t *testing.T) {
	got := string(ErrorJSONWithRequestID(wire.BadRequest("max_tokens", "max_tokens: Field required"), "req_123"))
	want := `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_123"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var env sdk.ErrorResponse
	if err := json.Unmarshal([]byte(got), &env); err != nil || env.RequestID != "req_123" {
		t.Errorf("SDK reads %+v (%v)", env, err)
	}
	if got := string(ErrorJSONWithRequestID(nil, "")); got != `{"type":"error","error":{"type":"api_error","message":"internal error"}}` {
		t.Errorf("nil error: %s", got)
	}
}
