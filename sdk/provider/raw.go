package provider

// RawSender sends a native stream's frames (protocol v1.1's Chunk.RawEvent) to the host,
// each with the chunk it stands for. Frames before any output (an API's opening events,
// pings) are held and go with the first frame that is output: a stream that fails before
// producing anything has then sent nothing, so the host may still fall back to another
// target, as it would for a failure before the stream. Not safe for concurrent use.
type RawSender struct {
	Out  ChunkSender
	held []byte
	sent bool
}

// Hold keeps a frame back until the next Send.
func (s *RawSender) Hold(raw []byte) { s.held = append(s.held, raw...) }

// Send sends c with the held frames and raw as its RawEvent. When the receiver is gone
// it returns a cancelled *Error (OutputStarted when something went out before).
func (s *RawSender) Send(c *Chunk, raw []byte) error {
	if len(s.held) > 0 {
		raw = append(s.held, raw...)
		s.held = nil
	}
	c.RawEvent = raw
	if err := s.Out.Send(c); err != nil {
		e := NewError(KindCancelled, "the stream's receiver went away")
		e.OutputStarted = s.sent
		return e
	}
	s.sent = true
	return nil
}

// Sent reports whether a chunk went out.
func (s *RawSender) Sent() bool { return s.sent }
