package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readFrames(in string) ([]Frame, error) {
	fr := NewFrameReader(strings.NewReader(in), 32<<20)
	var out []Frame
	for {
		f, err := fr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, f)
	}
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Frame
		wantErr error
	}{{
		name: "named and unnamed events",
		in:   "event: a\ndata: {\"x\":1}\n\ndata: two\ndata: lines\n\n",
		want: []Frame{{Raw: []byte("event: a\ndata: {\"x\":1}\n\n"), Name: "a", Data: []byte(`{"x":1}`)},
			{Raw: []byte("data: two\ndata: lines\n\n"), Data: []byte("two\nlines")}},
	}, {
		name: "CRLF, no space after the colon, id and retry kept in raw",
		in:   "id: 7\r\nretry: 10\r\nevent:b\r\ndata:x\r\n\r\n",
		want: []Frame{{Raw: []byte("id: 7\r\nretry: 10\r\nevent:b\r\ndata:x\r\n\r\n"), Name: "b", Data: []byte("x")}},
	}, {
		name: "comments and frames without data are dropped",
		in:   ": ping\n\nevent: lonely\n\n\n\ndata: y\n\n: bye\n",
		want: []Frame{{Raw: []byte("data: y\n\n"), Data: []byte("y")}},
	}, {
		name:    "cut inside a frame",
		in:      "data: whole\n\ndata: {\"half\":",
		want:    []Frame{{Raw: []byte("data: whole\n\n"), Data: []byte("whole")}},
		wantErr: io.ErrUnexpectedEOF,
	}, {
		name: "the keep-alive and CRLF framing of Anthropic's streams",
		in:   ": keep-alive\n\nevent: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\nevent: lonely\n\n",
		want: []Frame{{Raw: []byte("event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"), Name: "ping", Data: []byte(`{"type": "ping"}`)}},
	}, {
		name:    "cut before the blank line",
		in:      "data: almost\n",
		wantErr: io.ErrUnexpectedEOF,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrames(tc.in)
			if !errors.Is(err, tc.wantErr) || len(got) != len(tc.want) {
				t.Fatalf("got %d frames, err %v; want %d, %v", len(got), err, len(tc.want), tc.wantErr)
			}
			for i, f := range got {
				w := tc.want[i]
				if !bytes.Equal(f.Raw, w.Raw) || f.Name != w.Name || !bytes.Equal(f.Data, w.Data) {
					t.Errorf("frame %d = %q %q %q, want %q %q %q", i, f.Raw, f.Name, f.Data, w.Raw, w.Name, w.Data)
				}
			}
		})
	}
}

func TestFrameReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // several times the reader's buffer
	got, err := readFrames("data: " + long + "\n\n")
	if err != nil || len(got) != 1 || string(got[0].Data) != long {
		t.Fatalf("got %d frames, %v", len(got), err)
	}
}

// FuzzFrameReader: whatever the input, the reader ends, and every frame it returns is a
// piece of the input ending with a blank line.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("event: a\ndata: 1\n\n: c\n\ndata: 2\r\n\r\n"))
	f.Add([]byte("data: [DONE]\n\ndata: x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		frames, _ := readFrames(string(in))
		for _, fr := range frames {
			if !bytes.Contains(in, fr.Raw) || !(bytes.HasSuffix(fr.Raw, []byte("\n\n")) || bytes.HasSuffix(fr.Raw, []byte("\n\r\n"))) {
				t.Fatalf("frame %q is not a whole piece of %q", fr.Raw, in)
			}
		}
	})
}

func TestFrameReaderTooLarge(t *testing.T) {
	_, err := NewFrameReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 64).Next()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}
