package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/loadtest"
	"github.com/switchyard-llm/switchyard/host/providers"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// BenchmarkOpenAIPlugin is one call through the supervised openai plugin (a real
// subprocess) to the load test's mock upstream in this process, the way the router makes
// it: typed fields plus the client's raw body. "direct" is the same upstream called with a
// plain HTTP client, the baseline the other cases are compared with. Besides ns/op it
// reports the CPU used per call by the plugin process (plugin-cpu-µs/op) and by this
// process (self-cpu-µs/op: the host side of the hop, the mock upstream and the client);
// "-parallel" variants run 8 callers at once.
//
//	go test -run '^$' -bench BenchmarkOpenAIPlugin -benchtime 5000x -count 5 ./host/e2e/
func BenchmarkOpenAIPlugin(b *testing.B) {
	up, err := loadtest.StartUpstream(loadtest.Behavior{Chunks: 20, ContentBytes: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	content := strings.Repeat("the quick brown fox jumps over the lazy dog ", 22)
	whole := []byte(`{"model":"bench-small","max_tokens":256,"messages":[{"role":"user","content":"` + content + `"}]}`)
	streamed := []byte(`{"model":"bench-small","max_tokens":256,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"` + content + `"}]}`)
	req := func(stream bool) *provider.Request {
		r := &provider.Request{ID: "bench", Model: "bench-small", MaxTokens: 256, Stream: stream,
			Messages: []provider.Message{{Role: "user", Content: content}}, RawBody: whole}
		if stream {
			r.RawBody, r.IncludeUsage = streamed, true
		}
		return r
	}

	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		measure(b, 0, func() error {
			resp, err := client.Post(up.URL()+"/v1/chat/completions", "application/json", bytes.NewReader(whole))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
	})

	s, err := providers.Start(context.Background(), providers.Spec{
		Name: "openai", Path: built(b, "plugins/switchyard-provider-openai"),
		Settings: []byte(`{"base_url":"` + up.URL() + `/v1","max_idle_conns_per_host":1024}`),
		Secrets:  map[string]string{"api_key": "sk-bench"},
	}, providers.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	complete := func() error {
		resp, err := s.Complete(ctx, req(false))
		if err == nil && (len(resp.Choices) != 1 || len(resp.Choices[0].Message.Content) != 1024 || resp.Usage == nil) {
			err = fmt.Errorf("unexpected answer %+v", resp)
		}
		return err
	}
	stream := func() error {
		var n countSender
		u, err := s.Stream(ctx, req(true), &n)
		if err == nil && (int(n) != 21 || u == nil) {
			err = fmt.Errorf("%d chunks, usage %v", n, u)
		}
		return err
	}
	b.Run("complete", func(b *testing.B) { measure(b, s.PID(), complete) })
	b.Run("stream", func(b *testing.B) { measure(b, s.PID(), stream) })
	b.Run("complete-parallel", func(b *testing.B) { measureParallel(b, s.PID(), complete) })
}

type countSender int

func (c *countSender) Send(*provider.Chunk) error { *c++; return nil }

// measure runs call b.N times and reports the CPU per call of this process and of pid.
func measure(b *testing.B, pid int, call func() error) {
	for range 50 { // warm connections and pools
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	self0, plug0 := selfCPU(), procCPU(b, pid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, self0, plug0, pid)
}

func measureParallel(b *testing.B, pid int, call func() error) {
	for range 50 {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	self0, plug0 := selfCPU(), procCPU(b, pid)
	b.SetParallelism(4) // 4×GOMAXPROCS callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	report(b, self0, plug0, pid)
}

func report(b *testing.B, self0, plug0 time.Duration, pid int) {
	n := float64(b.N)
	b.ReportMetric(float64((selfCPU()-self0).Microseconds())/n, "self-cpu-µs/op")
	if pid != 0 {
		b.ReportMetric(float64((procCPU(b, pid)-plug0).Microseconds())/n, "plugin-cpu-µs/op")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU of pid from /proc (clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(line[strings.LastIndexByte(line, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
