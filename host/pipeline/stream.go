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
// or a refusal commits the stream to this target. It also cuts a stream that stays
// silent for longer than idle.
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
	timer     *time.Timer
	idle      atomic.Bool
	// first is when the first chunk arrived.
	first time.Time
}

func newStreamSender(sink StreamSink, out *Outcome, t *Target, idle time.Duration, cancel context.CancelFunc,
	holdback int, check func(a *answer, complete bool) error) *streamSender {
	s := &streamSender{sink: sink, out: out, target: t, idleAfter: idle, holdback: holdback, check: check}
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
