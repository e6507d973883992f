package sse

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, s string, max int) ([]Event, error) {
	t.Helper()
	r := NewReader(strings.NewReader(s), max)
	var out []Event
	for {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		ev.Data = append([]byte(nil), ev.Data...)
		out = append(out, ev)
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []string // "name|data|id"
		wantErr error
	}{
		{"openai chunks and done", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n", []string{`|{"a":1}|`, `|{"a":2}|`, `|[DONE]|`}, io.EOF},
		{"anthropic named events", "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n", []string{`message_start|{"type":"message_start"}|`, `ping|{"type": "ping"}|`}, io.EOF},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []string{"|a\nb\n|"}, io.EOF},
		{"CRLF and CR line ends", "data: x\r\n\r\ndata: y\r\rdata: z\n\n", []string{"|x|", "|y|", "|z|"}, io.EOF},
		{"comments and unknown fields", ": keep-alive\nfoo: bar\ndata: x\n\n: switchyard {\"cost\":1}\n\n", []string{"|x|"}, io.EOF},
		{"no space after colon", "data:x\n\n", []string{"|x|"}, io.EOF},
		{"only the first space is removed", "data:  x\n\n", []string{"| x|"}, io.EOF},
		{"field without colon", "data\n\n", []string{"||"}, io.EOF},
		{"id carries over", "id: 7\ndata: a\n\ndata: b\n\n", []string{"|a|7", "|b|7"}, io.EOF},
		{"event without data is dropped", "event: x\n\ndata: y\n\n", []string{"|y|"}, io.EOF},
		{"cut in the middle of an event", "data: {\"a\":1}\n\ndata: {\"a\":", []string{`|{"a":1}|`}, io.ErrUnexpectedEOF},
		{"cut after a line, before the blank line", "data: {\"a\":1}\n", nil, io.EOF},
		{"too large", "data: " + strings.Repeat("x", 100) + "\n\n", nil, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := readAll(t, tc.in, 64)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Name+"|"+string(e.Data)+"|"+e.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	evs, _ := readAll(t, "retry: 3000\ndata: a\n\nretry: x1\ndata: b\n\n", 0)
	if len(evs) != 2 || evs[0].Retry != 3000 || evs[1].Retry != -1 {
		t.Fatalf("retry fields: %+v", evs)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n",
		"id: 1\r\nretry: 10\r\ndata: a\r\ndata: b\r\n\r\n",
		": comment\n\ndata\n\n",
		"data: cut",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(strings.NewReader(string(in)), 1<<10)
		total := 0
		for i := 0; ; i++ {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if len(ev.Data) > 1<<10 {
				t.Fatalf("event data of %d bytes passed a 1 KiB limit", len(ev.Data))
			}
			if strings.ContainsAny(ev.Name, "\r\n") || strings.ContainsAny(ev.ID, "\r\n") {
				t.Fatalf("a field holds a line break: %q %q", ev.Name, ev.ID)
			}
			total += len(ev.Data)
			if total > len(in) {
				t.Fatalf("more data out (%d) than bytes in (%d)", total, len(in))
			}
		}
	})
}

func ExampleReader() {
	stream := "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n" +
		": keep-alive\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n" +
		"data: [DONE]\n\n"
	r := NewReader(strings.NewReader(stream), 0)
	for {
		ev, err := r.Next()
		if err != nil || string(ev.Data) == "[DONE]" {
			break
		}
		fmt.Println(string(ev.Data))
	}
	// Output:
	// {"choices":[{"delta":{"content":"Hel"}}]}
	// {"choices":[{"delta":{"content":"lo"}}]}
}
