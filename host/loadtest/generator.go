package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Step is one open-loop load step: requests are started at fixed intervals
// from a start time, whatever the answers do.
type Step struct {
	URL         string        // the chat completions endpoint
	Body        []byte        // request body, sent as is
	Header      http.Header   // sent with every request besides Content-Type (a client key); read only
	Stream      bool          // Body asks for a stream: read SSE, time the first event
	Rate        float64       // requests started per second
	Duration    time.Duration // how long requests are started
	MaxInflight int           // requests in flight at most; one due beyond it is dropped
	// Drain bounds how long requests in flight may run after the last start;
	// those still running then are cancelled and count as "timeout". 0 means 10s.
	Drain time.Duration

	// clock is the time Run schedules and measures by; nil is the real one. Tests set a
	// virtual clock, so the schedule is checked exactly, whatever the machine's load.
	clock clock
}

// clock is the time of a Step.
type clock interface {
	Now() time.Time
	// Sleep sleeps the calling thread (the dispatcher's) for d.
	Sleep(d time.Duration)
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

// realClock is the machine's time, with the dispatcher's precise sleep.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) Sleep(d time.Duration)                  { sleepPrecise(d) }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// StepResult is what one Step measured. Latencies count answered requests
// only (status 200, and for streams a complete stream); the rest are Errors.
type StepResult struct {
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration_ns"`
	Planned  int           `json:"planned"`
	OK       int           `json:"ok"`
	// Achieved is OK answers per second over the step (last start or last
	// answer, whichever came later).
	Achieved float64 `json:"achieved_rps"`
	// Errors by kind: dropped (concurrency cap), transport, timeout,
	// status_<code>, stream_incomplete (no [DONE]), stream_error (an in-band
	// error event).
	Errors map[string]int `json:"errors"`
	// Latency is measured from the scheduled start (coordinated omission
	// cannot hide a stall), LatencyActual from the moment the request was
	// actually handed to the client.
	Latency       Summary `json:"latency"`
	LatencyActual Summary `json:"latency_actual"`
	// TTFB is the time to the first SSE data event (streams only), from the
	// scheduled and from the actual start.
	TTFB       Summary `json:"ttfb"`
	TTFBActual Summary `json:"ttfb_actual"`
	// FirstError is the message of the first transport error or timeout.
	FirstError string `json:"first_error,omitempty"`
	// Reported is the x-switchyard-overhead-ms header of whole answers (the
	// router's own account of its time); empty for other systems.
	Reported Summary `json:"reported_overhead"`
}

// ErrorCount is the number of requests that got no good answer.
func (r StepResult) ErrorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// outcome codes of one request, kept in a byte per request.
const (
	outNone byte = iota
	outOK
	outDropped
	outTransport
	outTimeout
	outStatus
	outIncomplete
	outStreamError
)

// NewClient returns an HTTP/1.1 client tuned for maxConns concurrent
// requests to one host: that many idle keep-alive connections are kept
// (Go's default of 2 would churn connections at a few thousand requests per
// second), no compression, no proxy, no HTTP/2.
func NewClient(maxConns int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}

// Run runs one step with client and returns what it measured. Requests are
// started open-loop at Rate from a common start time by a pool of
// MaxInflight workers; a request due while MaxInflight requests are in
// flight is dropped (counted, never late), so the schedule never waits for
// the system under test. The dispatcher sleeps on a locked OS thread
// (see sys_linux.go). Latency samples live in arrays sized before the
// step starts: recording allocates nothing. Run returns when every request
// has ended or Drain has passed after the last start; ctx cancels the step.
func Run(ctx context.Context, client *http.Client, s Step) StepResult {
	if s.MaxInflight < 1 {
		s.MaxInflight = 1
	}
	if s.Drain <= 0 {
		s.Drain = 10 * time.Second
	}
	clk := s.clock
	if clk == nil {
		clk = realClock{}
	}
	n := int(s.Rate * s.Duration.Seconds())
	if n < 1 {
		n = 1
	}
	interval := time.Duration(float64(time.Second) / s.Rate)
	lat := make([]time.Duration, n)
	latAct := make([]time.Duration, n)
	var ttfb, ttfbAct []time.Duration
	if s.Stream {
		ttfb = make([]time.Duration, n)
		ttfbAct = make([]time.Duration, n)
	}
	reported := make([]time.Duration, n)
	out := make([]byte, n)
	status := make([]int16, n)
	done := make([]time.Time, n)

	var firstErr atomic.Pointer[string]
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := clk.Now().Add(2 * time.Millisecond)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * interval) }

	// At most MaxInflight requests are handed out and not yet ended
	// (inflight, counted up by the dispatcher alone), so a send on jobs never
	// blocks, and a request is dropped only when the cap is really reached,
	// not when a worker happens to be between two requests.
	jobs := make(chan int, s.MaxInflight)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	for range s.MaxInflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var br *bufio.Reader
			if s.Stream {
				br = bufio.NewReaderSize(nil, 4096)
			}
			for i := range jobs {
				sent := clk.Now()
				o, code, first, rep, err := doRequest(rctx, client, s, br, clk)
				end := clk.Now()
				if err != nil && firstErr.Load() == nil {
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
				}
				out[i], status[i], done[i], reported[i] = o, int16(code), end, rep
				lat[i], latAct[i] = end.Sub(due(i)), end.Sub(sent)
				if s.Stream && !first.IsZero() {
					ttfb[i], ttfbAct[i] = first.Sub(due(i)), first.Sub(sent)
				}
				inflight.Add(-1)
			}
		}()
	}

	// The dispatcher: on a thread of its own, so it can sleep precisely.
	lastStart := make(chan time.Time, 1)
	go func() {
		lockThread()
		defer unlockThread()
		for i := range n {
			if ctx.Err() != nil {
				break
			}
			if wait := due(i).Sub(clk.Now()); wait > 0 {
				clk.Sleep(wait)
			}
			if inflight.Load() >= int64(s.MaxInflight) {
				out[i] = outDropped
				continue
			}
			inflight.Add(1)
			jobs <- i
		}
		lastStart <- clk.Now()
		close(jobs)
	}()
	end := <-lastStart
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-clk.After(s.Drain):
		cancel()
		<-finished
	}

	r := StepResult{Rate: s.Rate, Duration: s.Duration, Planned: n, Errors: map[string]int{}}
	ok, nrep := 0, 0
	for i := range n {
		switch out[i] {
		case outOK:
			if reported[i] >= 0 {
				reported[nrep] = reported[i]
				nrep++
			}
			lat[ok], latAct[ok] = lat[i], latAct[i]
			if s.Stream {
				ttfb[ok], ttfbAct[ok] = ttfb[i], ttfbAct[i]
			}
			ok++
			if done[i].After(end) {
				end = done[i]
			}
		case outNone:
			r.Errors["not_started"]++ // ctx ended the step
		case outDropped:
			r.Errors["dropped"]++
		case outTransport:
			r.Errors["transport"]++
		case outTimeout:
			r.Errors["timeout"]++
		case outStatus:
			r.Errors["status_"+strconv.Itoa(int(status[i]))]++
		case outIncomplete:
			r.Errors["stream_incomplete"]++
		case outStreamError:
			r.Errors["stream_error"]++
		}
	}
	r.OK = ok
	if msg := firstErr.Load(); msg != nil {
		r.FirstError = *msg
	}
	if el := end.Sub(start); el > 0 {
		r.Achieved = float64(ok) / max(el.Seconds(), s.Duration.Seconds())
	}
	r.Latency, r.LatencyActual = Summarize(lat[:ok]), Summarize(latAct[:ok])
	r.Reported = Summarize(reported[:nrep])
	if s.Stream {
		r.TTFB, r.TTFBActual = Summarize(ttfb[:ok]), Summarize(ttfbAct[:ok])
	}
	return r
}

// doRequest sends one request and reads its answer to the end. first is
// when the first SSE data event arrived (streams only); reported is the
// x-switchyard-overhead-ms header, or -1 without one; err is the transport
// error behind outTransport and outTimeout.
func doRequest(ctx context.Context, client *http.Client, s Step, br *bufio.Reader, clk clock) (out byte, code int, first time.Time, reported time.Duration, err error) {
	reported = -1 // none
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(s.Body))
	if err != nil {
		return outTransport, 0, first, reported, err
	}
	for k, v := range s.Header {
		req.Header[k] = v // shared, not copied: the transport only reads them
	}
	req.Header["Content-Type"] = []string{"application/json"}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outTimeout, 0, first, reported, err
		}
		return outTransport, 0, first, reported, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return outStatus, resp.StatusCode, first, reported, nil
	}
	if v := resp.Header["X-Switchyard-Overhead-Ms"]; len(v) == 1 {
		if f, err := strconv.ParseFloat(v[0], 64); err == nil {
			reported = time.Duration(f * float64(time.Millisecond))
		}
	}
	if !s.Stream {
		if _, err = io.Copy(io.Discard, resp.Body); err != nil {
			if ctx.Err() != nil {
				return outTimeout, 200, first, reported, err
			}
			return outTransport, 200, first, reported, err
		}
		return outOK, 200, first, reported, nil
	}
	br.Reset(resp.Body)
	sse, err := ScanSSE(br, func() { first = clk.Now() })
	br.Reset(nil)
	switch {
	case err != nil && ctx.Err() != nil:
		return outTimeout, 200, first, reported, err
	case err != nil:
		return outTransport, 200, first, reported, err
	case sse.ErrorEvent:
		return outStreamError, 200, first, reported, nil
	case !sse.Done:
		return outIncomplete, 200, first, reported, nil
	}
	return outOK, 200, first, reported, nil
}

// SSE is what ScanSSE saw in one event stream.
type SSE struct {
	Events     int  // data events, [DONE] included
	Done       bool // a data: [DONE] event came
	ErrorEvent bool // a data event whose JSON is an {"error": ...} object came
}

// ScanSSE reads an SSE body from br to its end (io.EOF is not an error).
// first, when not nil, is called once, when the first data event has been
// read. Lines longer than br's buffer are read in pieces; only their start
// is looked at.
func ScanSSE(br *bufio.Reader, first func()) (SSE, error) {
	var r SSE
	midLine := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && !midLine {
			if payload, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				payload = bytes.TrimLeft(payload, " ")
				r.Events++
				if r.Events == 1 && first != nil {
					first()
				}
				switch {
				case bytes.HasPrefix(payload, []byte("[DONE]")):
					r.Done = true
				case bytes.HasPrefix(payload, []byte(`{"error"`)):
					r.ErrorEvent = true
				}
			}
		}
		switch {
		case err == nil:
			midLine = false
		case errors.Is(err, bufio.ErrBufferFull):
			midLine = true
		case errors.Is(err, io.EOF):
			return r, nil
		default:
			return r, err
		}
	}
}
