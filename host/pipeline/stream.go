package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// streamSender sits between a provider's stream and the client. It holds back chunks that
// carry nothing yet (a bare role), so an upstream that fails or answers nothing before its
// first content can still be retried or replaced; the first chunk with content, tool calls
// or a refusal commits the stream to this target. It also cuts a stream that stays
// silent for longer than idle.
type streamSender struct {
	sink      StreamSink
	out       *Outcome
	target    *Target
	held      []*provider.Chunk
	committed bool
	idleAfter time.Duration
	timer     *time.Timer
	idle      atomic.Bool
	// first is when the first chunk arrived.
	first time.Time
}

func newStreamSender(sink StreamSink, out *Outcome, t *Target, idle time.Duration, cancel context.CancelFunc) *streamSender {
	s := &streamSender{sink: sink, out: out, target: t, idleAfter: idle}
	if idle > 0 {
		s.timer = time.AfterFunc(idle, func() {
			s.idle.Store(true)
			cancel()
		})
	}
	return s
}

// Send is called by the dispatcher, one chunk at a time, in order.
func (s *streamSender) Send(c *provider.Chunk) error {
	if s.first.IsZero() {
		s.first = time.Now()
	}
	if s.timer != nil {
		s.timer.Reset(s.idleAfter)
	}
	if !s.committed {
		if !carries(c) {
			s.held = append(s.held, c)
			return nil
		}
		if err := s.commit(); err != nil {
			return err
		}
	}
	return s.sink.Chunk(c)
}

// commit starts the client's stream and sends what was held back.
func (s *streamSender) commit() error {
	s.committed = true
	s.out.Committed = true
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
