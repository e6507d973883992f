package loadtest

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunPacing(t *testing.T) {
	up, err := StartUpstream(Behavior{ContentBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	client := NewClient(64)
	defer client.CloseIdleConnections()

	start := time.Now()
	r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions",
		Body: requestBody(256, false), Rate: 400, Duration: 250 * time.Millisecond, MaxInflight: 64})
	el := time.Since(start)
	if r.Planned != 100 || r.OK != 100 || r.ErrorCount() != 0 || up.Requests() != 100 {
		t.Fatalf("planned %d, ok %d, errors %v, upstream served %d; want 100, 100, none, 100", r.Planned, r.OK, r.Errors, up.Requests())
	}
	// 100 starts 2.5 ms apart: the last one is due 247.5 ms after the first.
	if el < 240*time.Millisecond || el > 2*time.Second {
		t.Errorf("step took %s, want about 250ms", el)
	}
	if r.Achieved < 300 || r.Achieved > 420 {
		t.Errorf("achieved %.1f rps, want about 400", r.Achieved)
	}
	if r.Latency.P50 < r.LatencyActual.P50 {
		t.Errorf("latency from the schedule %s is below the latency from the send %s", r.Latency.P50, r.LatencyActual.P50)
	}
}

// A stalled upstream must not slow the schedule down: requests due while the
// concurrency cap is reached are dropped, and the step ends on time.
func TestRunDropsInsteadOfWaiting(t *testing.T) {
	up, err := StartUpstream(Behavior{Delay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	client := NewClient(2)
	defer client.CloseIdleConnections()

	start := time.Now()
	r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions",
		Body: requestBody(128, false), Rate: 200, Duration: 200 * time.Millisecond, MaxInflight: 2})
	el := time.Since(start)
	if r.Planned != 40 || r.OK != 2 || r.Errors["dropped"] != 38 {
		t.Fatalf("planned %d, ok %d, errors %v; want 40, 2, dropped 38", r.Planned, r.OK, r.Errors)
	}
	if el > 900*time.Millisecond {
		t.Errorf("step took %s: the schedule waited for the upstream", el)
	}
	if r.Latency.Max < 300*time.Millisecond {
		t.Errorf("max latency %s, want at least the upstream's 300ms delay", r.Latency.Max)
	}
}

func TestRunDrainCancels(t *testing.T) {
	up, err := StartUpstream(Behavior{Delay: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	client := NewClient(8)
	defer client.CloseIdleConnections()
	start := time.Now()
	r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions",
		Body: requestBody(128, false), Rate: 100, Duration: 30 * time.Millisecond, MaxInflight: 8, Drain: 100 * time.Millisecond})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("step took %s, want the drain to cut it after 100ms", el)
	}
	if r.OK != 0 || r.Errors["timeout"] != 3 {
		t.Errorf("ok %d, errors %v; want 0 and 3 timeouts", r.OK, r.Errors)
	}
}

func TestRunStreams(t *testing.T) {
	up, err := StartUpstream(Behavior{Chunks: 10, ContentBytes: 200, ChunkDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	client := NewClient(32)
	defer client.CloseIdleConnections()
	r := Run(context.Background(), client, Step{URL: up.URL() + "/v1/chat/completions", Body: requestBody(256, true),
		Stream: true, Rate: 200, Duration: 100 * time.Millisecond, MaxInflight: 32})
	if r.OK != 20 || r.ErrorCount() != 0 {
		t.Fatalf("ok %d, errors %v; want 20 and none", r.OK, r.Errors)
	}
	// Nine chunk delays separate the first event from the end of the stream.
	if r.TTFB.P50 <= 0 || r.Latency.P50-r.TTFB.P50 < 9*time.Millisecond {
		t.Errorf("ttfb p50 %s, whole stream p50 %s: want the stream at least 9ms longer", r.TTFB.P50, r.Latency.P50)
	}
}

func TestScanSSE(t *testing.T) {
	long := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 100) + "\"}}]}\n\n"
	for _, tc := range []struct {
		name string
		in   string
		want SSE
	}{
		{"whole stream", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n", SSE{Events: 3, Done: true}},
		{"no space after colon", "data:{\"a\":1}\n\ndata:[DONE]\n\n", SSE{Events: 2, Done: true}},
		{"cut before [DONE]", "data: {\"a\":1}\n\n", SSE{Events: 1}},
		{"in-band error", "data: {\"a\":1}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n", SSE{Events: 2, ErrorEvent: true}},
		{"comments, event names and CRLF", ": ping\r\nevent: chunk\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n", SSE{Events: 2, Done: true}},
		{"lines longer than the buffer", long + long + "data: [DONE]\n\n", SSE{Events: 3, Done: true}},
		{"a long line's tail is not an event", "data: " + strings.Repeat("y", 40) + "data: [DONE]\n\n", SSE{Events: 1}},
		{"no final newline", "data: [DONE]", SSE{Events: 1, Done: true}},
		{"empty", "", SSE{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			firsts := 0
			got, err := ScanSSE(bufio.NewReaderSize(strings.NewReader(tc.in), 16), func() { firsts++ })
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ScanSSE = %+v, want %+v", got, tc.want)
			}
			if want := min(got.Events, 1); firsts != want {
				t.Errorf("first called %d times, want %d", firsts, want)
			}
		})
	}
}

func TestRunReadsReportedOverhead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Switchyard-Overhead-Ms", "0.500")
		_, _ = w.Write([]byte(`{}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := NewClient(8)
	defer client.CloseIdleConnections()
	r := Run(context.Background(), client, Step{URL: "http://" + ln.Addr().String(), Body: []byte(`{}`),
		Rate: 200, Duration: 50 * time.Millisecond, MaxInflight: 8})
	if r.OK != 10 || r.Reported.N != 10 || r.Reported.P50 != 500*time.Microsecond {
		t.Errorf("ok %d, reported %+v; want 10 answers reporting 0.5ms", r.OK, r.Reported)
	}
}
