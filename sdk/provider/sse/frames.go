package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Frame is one event of a stream together with its bytes as received, for a plugin that
// forwards an upstream's stream as is (the protocol's Chunk.RawEvent) while reading it.
type Frame struct {
	// Raw is the frame as received, its closing blank line included.
	Raw []byte
	// Name is the event: field ("" means "message").
	Name string
	// Data is the data: lines joined by "\n".
	Data []byte
}

// FrameReader splits a text/event-stream into frames, keeping each frame's bytes. Reader
// parses only; this is for passing the upstream's framing on byte for byte. It is not safe
// for concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	max int
}

// NewFrameReader reads frames from r; maxFrame bounds one frame's bytes.
func NewFrameReader(r io.Reader, maxFrame int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 32<<10), max: maxFrame}
}

// Next returns the next frame that carries data. Frames without data (comments such as
// keep-alives) dispatch nothing under the standard and are dropped. At the end of the
// stream it returns io.EOF; a stream cut inside a frame returns io.ErrUnexpectedEOF, so a
// half event is never taken for a whole one; a frame larger than the limit ErrTooLarge.
// Lines end in LF or CRLF; a lone CR, which the standard also allows, is not used by the
// LLM APIs and stays in the line.
func (fr *FrameReader) Next() (Frame, error) {
	var f Frame
	var data bytes.Buffer
	hasData := false
	raw := make([]byte, 0, 512)
	for {
		start := len(raw)
		var err error
		raw, err = fr.readLine(raw)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !hasData && len(raw) == start {
					return Frame{}, io.EOF // nothing pending is lost
				}
				return Frame{}, io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(raw[start:], []byte("\n")), []byte("\r"))
		switch {
		case len(line) == 0: // a blank line ends the frame
			if !hasData {
				raw, f.Name = raw[:0], ""
				continue
			}
			f.Raw = raw
			f.Data = bytes.TrimSuffix(data.Bytes(), []byte("\n"))
			return f, nil
		case line[0] == ':': // a comment
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], bytes.TrimPrefix(line[i+1:], []byte(" "))
		}
		switch string(field) {
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "event":
			f.Name = string(value)
		}
	}
}

// readLine appends one line, its terminator included, to dst. At the end of the stream it
// returns what it read with io.EOF.
func (fr *FrameReader) readLine(dst []byte) ([]byte, error) {
	for {
		part, err := fr.r.ReadSlice('\n')
		dst = append(dst, part...)
		if len(dst) > fr.max {
			return dst, ErrTooLarge
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return dst, err
		}
	}
}
