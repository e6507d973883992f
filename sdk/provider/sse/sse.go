// Package sse reads server-sent events (the text/event-stream format of the HTML standard)
// as LLM APIs send them: OpenAI's `data: {...}` chunks ending in `data: [DONE]`, Anthropic's
// named events. Plugin authors whose upstream has no SDK use it to read streams; Switchyard
// uses it in its own tests and load generator.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Event is one dispatched event.
type Event struct {
	// Name is the event's type ("event:" field); empty means "message".
	Name string
	// Data is the event's data: its "data:" lines joined with "\n".
	Data []byte
	// ID is the last event ID seen ("id:" field), as the standard carries it over.
	ID string
	// Retry is the reconnection time in milliseconds the server asked for, or -1.
	Retry int
}

// ErrTooLarge is returned when one line or one event's data exceeds the reader's limit.
var ErrTooLarge = errors.New("sse: event too large")

// Reader reads events from a stream. It is not safe for concurrent use.
type Reader struct {
	r      *bufio.Reader
	max    int
	lastID string
	data   bytes.Buffer
	line   []byte
}

// NewReader reads events from r; maxEvent bounds one event's data and one line (bytes).
func NewReader(r io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = 16 << 20
	}
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), max: maxEvent}
}

// Next returns the next event. At the end of the stream it returns io.EOF; an event that was
// not terminated by a blank line before the end is not dispatched (the standard's rule), so
// a cut stream never yields a half event. The returned Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	var ev Event
	ev.Retry = -1
	r.data.Reset()
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 { // blank line: dispatch
			if !hasData {
				ev.Name = ""
				continue // the standard drops events without data
			}
			ev.Data = r.data.Bytes()
			if n := len(ev.Data); n > 0 && ev.Data[n-1] == '\n' {
				ev.Data = ev.Data[:n-1]
			}
			ev.ID = r.lastID
			return ev, nil
		}
		if line[0] == ':' {
			continue // a comment
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.data.Len()+len(value)+1 > r.max {
				return Event{}, ErrTooLarge
			}
			r.data.Write(value)
			r.data.WriteByte('\n')
			hasData = true
		case "event":
			ev.Name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				ev.Retry = n
			}
		}
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// readLine returns one line without its terminator (CRLF, LF or CR).
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		b, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				// A last line without a terminator cannot complete an event.
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch b {
		case '\n':
			return r.line, nil
		case '\r':
			if next, err := r.r.Peek(1); err == nil && next[0] == '\n' {
				_, _ = r.r.ReadByte()
			}
			return r.line, nil
		}
		if len(r.line) >= r.max {
			return nil, ErrTooLarge
		}
		r.line = append(r.line, b)
	}
}
