package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/switchyard-llm/switchyard/host/wire"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func text(s string) *provider.Chunk {
	return &provider.Chunk{Choices: []provider.Delta{{Content: s}}}
}

func call(idx int, id, name, args string) *provider.Chunk {
	return &provider.Chunk{Choices: []provider.Delta{{ToolCalls: []provider.ToolCall{{Index: idx, ID: id, Name: name, Arguments: args}}}}}
}

func finish(reason string) *provider.Chunk {
	return &provider.Chunk{Choices: []provider.Delta{{FinishReason: reason}}}
}

// run encodes a whole stream; a nil usage ends it with Fail(fail) when fail is set.
func run(cr *wire.ChatRequest, id string, created int64, chunks []*provider.Chunk, u *provider.Usage, fail *wire.Error) []byte {
	s := NewStream(cr, id, "gpt-x", created)
	b := s.Start(nil)
	for _, c := range chunks {
		b = s.Chunk(b, c)
	}
	if fail != nil {
		return s.Fail(b, fail)
	}
	return s.End(b, u)
}

// textAndCallStream is what testdata/stream_text_and_call.sse was written for: a text,
// then a tool call in fragments, with a second choice and a role-only delta to ignore.
func textAndCallStream(t *testing.T) []byte {
	cr := mustDecode(t, `{"model":"gpt-x","instructions":"Be brief.","input":"Weather in Paris?","tools":[{"type":"function","name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}],"temperature":0.5,"stream":true,"metadata":{"team":"a"}}`)
	return run(cr, "abc", 1700000000, []*provider.Chunk{
		{Choices: []provider.Delta{{Role: "assistant"}}},
		text("Let me"),
		{Choices: []provider.Delta{{Content: " check."}, {Index: 1, Content: "another choice"}}},
		call(0, "call_w1", "get_weather", ""),
		call(0, "", "", `{"city":`),
		call(0, "", "", `"Paris"}`),
		finish("tool_calls"),
	}, &provider.Usage{PromptTokens: 40, CompletionTokens: 12, CachedPromptTokens: 8}, nil)
}

var frameRE = regexp.MustCompile(`\Aevent: ([a-z_.]+)\ndata: ([^\n]+)\z`)

type frame struct {
	event string
	data  any
	raw   string
}

// frames splits a stream into its events, failing on anything but exact
// `event: TYPE\ndata: JSON\n\n` framing whose JSON's type is TYPE.
func frames(t *testing.T, b []byte) []frame {
	t.Helper()
	s := string(b)
	if !strings.HasSuffix(s, "\n\n") {
		t.Fatalf("the stream does not end with a blank line: %q", s[max(0, len(s)-40):])
	}
	var out []frame
	for _, f := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		m := frameRE.FindStringSubmatch(f)
		if m == nil {
			t.Fatalf("bad framing: %q", f)
		}
		var data map[string]any
		if err := json.Unmarshal([]byte(m[2]), &data); err != nil {
			t.Fatalf("data is not a JSON object: %s", m[2])
		}
		if data["type"] != m[1] {
			t.Fatalf("event %s carries type %v", m[1], data["type"])
		}
		out = append(out, frame{m[1], data, m[2]})
	}
	return out
}

// TestStreamGolden compares the encoder with streams written by hand from the API
// reference's examples: the same events in the same order, framed the same, each data
// the same JSON.
func TestStreamGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		got    func(t *testing.T) []byte
	}{
		{"testdata/stream_text_and_call.sse", textAndCallStream},
		{"testdata/stream_incomplete.sse", func(t *testing.T) []byte {
			cr := mustDecode(t, `{"model":"gpt-x","input":"Tell a story","max_output_tokens":3,"stream":true}`)
			return run(cr, "cut", 1700000001, []*provider.Chunk{text("Once upon a"), finish("length")},
				&provider.Usage{PromptTokens: 5, CompletionTokens: 3}, nil)
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.got(t)
			gf, wf := frames(t, got), frames(t, want)
			for i := range max(len(gf), len(wf)) {
				if i >= len(gf) || i >= len(wf) {
					t.Fatalf("%d events, the golden has %d", len(gf), len(wf))
				}
				if gf[i].event != wf[i].event || !reflect.DeepEqual(gf[i].data, wf[i].data) {
					t.Errorf("event %d:\n got %s: %s\nwant %s: %s", i, gf[i].event, gf[i].raw, wf[i].event, wf[i].raw)
				}
			}
		})
	}
}

// officialEvents reads a stream with openai-go's own streaming decoder, as its client does
// for an HTTP response.
func officialEvents(t *testing.T, b []byte) []responses.ResponseStreamEventUnion {
	t.Helper()
	res := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(b))}
	st := ssestream.NewStream[responses.ResponseStreamEventUnion](ssestream.NewDecoder(res), nil)
	var out []responses.ResponseStreamEventUnion
	for st.Next() {
		out = append(out, st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatalf("openai-go's decoder: %v", err)
	}
	return out
}

// accumulate rebuilds what a client sees from the deltas: text and each call's arguments.
type accumulated struct {
	text, refusal string
	args          map[int64]string
	names         map[int64]string
	final         *responses.Response
	terminal      string
}

func accumulate(t *testing.T, events []responses.ResponseStreamEventUnion) accumulated {
	t.Helper()
	a := accumulated{args: map[int64]string{}, names: map[int64]string{}}
	for i, ev := range events {
		if ev.SequenceNumber != int64(i) {
			t.Errorf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
		if a.terminal != "" {
			t.Errorf("event %s after the terminal %s", ev.Type, a.terminal)
		}
		switch e := ev.AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			a.text += e.Delta
		case responses.ResponseRefusalDeltaEvent:
			a.refusal += e.Delta
		case responses.ResponseOutputItemAddedEvent:
			if e.Item.Type == "function_call" {
				a.names[e.OutputIndex] = e.Item.Name
			}
		case responses.ResponseFunctionCallArgumentsDeltaEvent:
			a.args[e.OutputIndex] += e.Delta
		case responses.ResponseFunctionCallArgumentsDoneEvent:
			if e.Arguments != a.args[e.OutputIndex] {
				t.Errorf("arguments done %q, the deltas made %q", e.Arguments, a.args[e.OutputIndex])
			}
		case responses.ResponseCompletedEvent:
			a.final, a.terminal = &e.Response, ev.Type
		case responses.ResponseIncompleteEvent:
			a.final, a.terminal = &e.Response, ev.Type
		case responses.ResponseFailedEvent:
			a.final, a.terminal = &e.Response, ev.Type
		case responses.ResponseCreatedEvent, responses.ResponseInProgressEvent, responses.ResponseContentPartAddedEvent,
			responses.ResponseContentPartDoneEvent, responses.ResponseTextDoneEvent, responses.ResponseRefusalDoneEvent,
			responses.ResponseOutputItemDoneEvent:
		default:
			t.Errorf("event %d: openai-go does not know %q (%T)", i, ev.Type, e)
		}
	}
	return a
}

func TestOfficialDecoderReadsStream(t *testing.T) {
	b := textAndCallStream(t)
	// The server ends every stream with a summary comment; clients skip it.
	i := bytes.LastIndex(b, []byte("event: response.completed"))
	b = append(append(append([]byte{}, b[:i]...), ": switchyard {\"attempts\":1}\n\n"...), b[i:]...)
	events := officialEvents(t, b)
	if len(events) != 15 {
		t.Fatalf("openai-go read %d events, want 15", len(events))
	}
	a := accumulate(t, events)
	if a.text != "Let me check." || a.args[1] != `{"city":"Paris"}` || a.names[1] != "get_weather" {
		t.Errorf("deltas: text %q args %v names %v", a.text, a.args, a.names)
	}
	if a.terminal != "response.completed" || a.final.OutputText() != "Let me check." || a.final.Status != "completed" {
		t.Fatalf("terminal %q", a.terminal)
	}
	fc := a.final.Output[1].AsFunctionCall()
	if fc.CallID != "call_w1" || fc.Arguments != `{"city":"Paris"}` || a.final.Usage.TotalTokens != 52 || a.final.Usage.InputTokensDetails.CachedTokens != 8 {
		t.Errorf("final call %+v usage %+v", fc, a.final.Usage)
	}
	created := events[0].AsResponseCreated().Response
	if created.Status != "in_progress" || len(created.Output) != 0 || created.ID != "resp_abc" || created.Instructions.OfString != "Be brief." {
		t.Errorf("created %+v", created)
	}
}

// TestOfficialClientReadsStream runs openai-go's client against a server streaming with
// this encoder: the request it sends decodes, the events it reads are the encoder's.
func TestOfficialClientReadsStream(t *testing.T) {
	c := officialClient(t, func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		cr, err := Decode(body)
		if err != nil || !cr.Stream {
			t.Errorf("decode %s: %v (stream %v)", body, err, cr != nil && cr.Stream)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(run(cr, "srv", 1, []*provider.Chunk{text("Bonjour"), text(" !"), finish("stop")}, &provider.Usage{PromptTokens: 3, CompletionTokens: 2}, nil))
	})
	st := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "gpt-x", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello in French")},
	})
	var events []responses.ResponseStreamEventUnion
	for st.Next() {
		events = append(events, st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	a := accumulate(t, events)
	if a.text != "Bonjour !" || a.terminal != "response.completed" || a.final.OutputText() != "Bonjour !" || a.final.Usage.TotalTokens != 5 {
		t.Errorf("text %q terminal %q", a.text, a.terminal)
	}
}

func TestStreamFail(t *testing.T) {
	cr := mustDecode(t, `{"model":"gpt-x","input":"x","stream":true}`)
	s := NewStream(cr, "f", "gpt-x", 1)
	b := s.Start(nil)
	b = s.Chunk(b, text("Part"))
	b = s.Fail(b, wire.NewError(http.StatusBadGateway, wire.CodeAllTargetsFailed, "the upstream failed mid-stream"))
	// Only one end: neither End nor another Fail adds to it.
	if n := len(b); len(s.End(b, nil)) != n || len(s.Fail(b, nil)) != n || len(s.Chunk(b, text("late"))) != n {
		t.Error("the stream went on after Fail")
	}
	fs := frames(t, b)
	for _, f := range fs {
		if f.event == "response.completed" || f.event == "response.output_item.done" {
			t.Errorf("a failed stream sent %s", f.event)
		}
	}
	a := accumulate(t, officialEvents(t, b))
	if a.terminal != "response.failed" {
		t.Fatalf("terminal %q", a.terminal)
	}
	r := a.final
	if r.Status != "failed" || string(r.Error.Code) != wire.CodeAllTargetsFailed || r.Error.Message != "the upstream failed mid-stream" {
		t.Errorf("failed response: status %q error %+v", r.Status, r.Error)
	}
	if len(r.Output) != 1 || r.Output[0].Status != "incomplete" || r.OutputText() != "Part" || r.JSON.Usage.Raw() != "null" {
		t.Errorf("failed output %+v", r.Output)
	}
	// A failure before any output, and one without an error to report.
	for _, e := range []*wire.Error{wire.NewError(http.StatusGatewayTimeout, wire.CodeDeadlineExceeded, "late"), nil} {
		s := NewStream(cr, "g", "gpt-x", 1)
		a := accumulate(t, officialEvents(t, s.Fail(s.Start(nil), e)))
		if a.terminal != "response.failed" || a.final.Error.Code == "" || len(a.final.Output) != 0 {
			t.Errorf("early fail: terminal %q error %+v", a.terminal, a.final.Error)
		}
	}
}

// TestStreamItems covers the item changes: refusal and text parts in one message, calls
// one after the other, text after a call, a late fragment, the content filter.
func TestStreamItems(t *testing.T) {
	cr := mustDecode(t, `{"model":"gpt-x","input":"x","stream":true}`)
	b := run(cr, "i", 1, []*provider.Chunk{
		{Choices: []provider.Delta{{Refusal: "No."}}},
		text("But"),
		call(0, "c0", "a", "{}"),
		call(1, "c1", "b", `{"x":`),
		call(0, "", "", " "), // late: call 0 is done
		call(1, "", "", `1}`),
		text("Done"),
		{Choices: []provider.Delta{{Content: "!", FinishReason: "content_filter"}}},
	}, nil, nil)
	events := officialEvents(t, b)
	a := accumulate(t, events)
	if a.refusal != "No." || a.text != "ButDone!" || a.args[1] != "{}" || a.args[2] != `{"x":1}` {
		t.Errorf("refusal %q text %q args %v", a.refusal, a.text, a.args)
	}
	if a.terminal != "response.incomplete" || a.final.IncompleteDetails.Reason != "content_filter" || a.final.JSON.Usage.Raw() != "null" {
		t.Fatalf("terminal %q reason %q", a.terminal, a.final.IncompleteDetails.Reason)
	}
	out := a.final.Output
	if len(out) != 4 || out[0].Type != "message" || out[1].Type != "function_call" || out[2].Type != "function_call" || out[3].Type != "message" {
		t.Fatalf("output %+v", out)
	}
	m := out[0].AsMessage()
	if len(m.Content) != 2 || m.Content[0].Type != "refusal" || m.Content[1].Text != "But" || m.Status != "completed" {
		t.Errorf("first message %+v", m)
	}
	// The late fragment reaches the final object (its deltas were done already).
	if out[1].AsFunctionCall().Arguments != "{} " || out[1].CallID != "c0" || out[2].CallID != "c1" || out[3].Status != "incomplete" {
		t.Errorf("calls %s %s last %q", out[1].RawJSON(), out[2].RawJSON(), out[3].Status)
	}
	seen := map[string]bool{}
	for _, it := range out {
		if seen[it.ID] {
			t.Errorf("item id %s twice", it.ID)
		}
		seen[it.ID] = true
	}
	// An empty stream still completes, with no output.
	a = accumulate(t, officialEvents(t, run(cr, "e", 1, nil, nil, nil)))
	if a.terminal != "response.completed" || len(a.final.Output) != 0 {
		t.Errorf("empty stream: %q %+v", a.terminal, a.final.Output)
	}
}
