package pipeline

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// streamSender sits between a provider's stream and the client. It holds back chunks that
// carry nothing yet (a bare role), so an upstream that fails or answers nothing before its
// first content can still be retried or replaced; the first chunk with content, tool calls
// or a refusal commits the stream to this target. It also cuts a stream whose first chunk
// takes longer than firstByte (timeouts.attempt), or that then stays silent for longer than
// idle (timeouts.stream_idle); a healthy stream may last as long as the request's deadline.
type streamSender struct {
	sink StreamSink
	// holdback is how many characters are held back before committing; check judges them.
	holdback int
	check    func(a *answer, complete bool) error
	// ans accumulates what was held back; refused is set when check refused it.
	ans       answer
	refused   error
	out       *Outcome
	target    *Target
	held      []*provider.Chunk
	committed bool
	idleAfter time.Duration
	firstByte time.Duration
	timer     *time.Timer
	// cut is set when the timer cut the stream: 1 before the first chunk, 2 after.
	cut atomic.Int32
	// first is when the first chunk arrived; receivedFirst says so to the timer.
	first         time.Time
	receivedFirst atomic.Bool
}

func newStreamSender(sink StreamSink, out *Outcome, t *Target, firstByte, idle time.Duration, cancel context.CancelFunc,
	holdback int, check func(a *answer, complete bool) error) *streamSender {
	s := &streamSender{sink: sink, out: out, target: t, firstByte: firstByte, idleAfter: idle, holdback: holdback, check: check}
	if firstByte > 0 || idle > 0 {
		limit := firstByte
		if limit <= 0 {
			limit = idle
		}
		s.timer = time.AfterFunc(limit, func() {
			if s.receivedFirst.Load() {
				s.cut.Store(2)
			} else {
				s.cut.Store(1)
			}
			cancel()
		})
	}
	return s
}

// timedOut says why the timer cut the stream, "" when it did not.
func (s *streamSender) timedOut() string {
	switch s.cut.Load() {
	case 1:
		return "no first byte from the upstream within timeouts.attempt (" + s.firstByte.String() + ")"
	case 2:
		return "the upstream stream stalled for longer than timeouts.stream_idle (" + s.idleAfter.String() + ")"
	}
	return ""
}

// Send is called by the dispatcher, one chunk at a time, in order.
func (s *streamSender) Send(c *provider.Chunk) error {
	if s.first.IsZero() {
		s.first = time.Now()
		s.receivedFirst.Store(true)
	}
	if s.timer != nil {
		if s.idleAfter > 0 {
			s.timer.Reset(s.idleAfter)
		} else {
			s.timer.Stop()
		}
	}
	if s.committed {
		return s.sink.Chunk(c)
	}
	s.held = append(s.held, c)
	s.accumulate(c)
	if !carries(c) || len(s.ans.content)+len(s.ans.refusal) < s.holdback {
		return nil
	}
	if err := s.check(&s.ans, false); err != nil {
		s.refused = err
		return err
	}
	return s.commit()
}

// accumulate adds a held chunk's first choice to what validators will judge.
func (s *streamSender) accumulate(c *provider.Chunk) {
	for _, d := range c.Choices {
		if d.Index != 0 {
			continue
		}
		s.ans.content += d.Content
		s.ans.refusal += d.Refusal
		if d.FinishReason != "" {
			s.ans.finish = d.FinishReason
		}
		for _, tc := range d.ToolCalls {
			i := slices.IndexFunc(s.ans.calls, func(x provider.ToolCall) bool { return x.Index == tc.Index })
			if i < 0 {
				s.ans.calls = append(s.ans.calls, tc)
				continue
			}
			s.ans.calls[i].Arguments += tc.Arguments
			if tc.Name != "" {
				s.ans.calls[i].Name = tc.Name
			}
		}
	}
}

// commit starts the client's stream and sends what was held back.
func (s *streamSender) commit() error {
	s.committed = true
	s.out.Committed = true
	s.out.FirstByte = time.Now()
	s.out.Target = s.target
	s.sink.Begin(s.out)
	for _, h := range s.held {
		if err := s.sink.Chunk(h); err != nil {
			return err
		}
	}
	s.held = nil
	return nil
}

func (s *streamSender) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

func carries(c *provider.Chunk) bool {
	for _, d := range c.Choices {
		if d.Content != "" || len(d.ToolCalls) > 0 || d.Refusal != "" {
			return true
		}
	}
	return false
}
