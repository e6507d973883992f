// Command testplugin is the provider plugin the tests of host/providers run as a real
// subprocess. The tests build it with
//
//	go build -o <tmp>/testplugin ./testdata/testplugin
//
// and copy it under other names to pick a startup behaviour: the part of the binary's name
// after its last "-" is the mode (ok, junk, never, panic, slow). After startup, request
// metadata "test.action" and the settings drive it (see below).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// realStderr is the process's stderr. provider.Serve points os.Stderr at a pipe that
// go-plugin forwards to the host over gRPC, asynchronously: a line written there just
// before os.Exit is lost, so crash messages go to the real stderr, like a runtime panic.
var realStderr = os.NewFile(2, "stderr")

func main() {
	name := filepath.Base(os.Args[0])
	mode := name[strings.LastIndex(name, "-")+1:]
	fmt.Fprintf(os.Stderr, "testplugin: starting in mode %q, pid %d\n", mode, os.Getpid())
	switch mode {
	case "junk":
		fmt.Println("hello, this is not a handshake")
	case "never":
		fmt.Fprintln(os.Stderr, "testplugin: never going to handshake")
		select {}
	case "panic":
		var m map[string]int
		m["boom"] = 1 // panics: assignment to entry in nil map
	case "slow":
		time.Sleep(300 * time.Millisecond)
	}
	provider.Serve(&plug{})
}

type settings struct {
	// FailConfigure makes Configure fail with an error that quotes the api_key secret
	// (and print it to stderr), to test that the host redacts it.
	FailConfigure bool `json:"fail_configure"`
}

type plug struct {
	hangHealth atomic.Bool
	// sick, when set, is the "not ok" message CheckHealth answers.
	sick atomic.Pointer[string]

	mu     sync.Mutex
	apiKey string
}

func (p *plug) Info(context.Context) (provider.Info, error) {
	return provider.Info{Name: "testplugin", Version: "0.0.1", Capabilities: []string{"stream"}}, nil
}

func (p *plug) Configure(_ context.Context, cfg provider.Config) error {
	var s settings
	if len(cfg.Settings) > 0 {
		if err := json.Unmarshal(cfg.Settings, &s); err != nil {
			return err
		}
	}
	if s.FailConfigure {
		fmt.Fprintf(os.Stderr, "testplugin: rejecting api key %s\n", cfg.Secrets["api_key"])
		return fmt.Errorf("api key %s is not valid", cfg.Secrets["api_key"])
	}
	p.mu.Lock()
	p.apiKey = cfg.Secrets["api_key"]
	p.mu.Unlock()
	return nil
}

// act performs a request's "test.action": crash (exit 3), hang (until the call is
// cancelled), hang_health (CheckHealth blocks from now on), sick (CheckHealth answers "not
// ok", quoting the api_key secret, from now on), well (CheckHealth answers ok again), say
// (a line on os.Stderr), error (an in-band rate_limited error). Stream also knows
// crash_mid (exit 4 after the first chunk) and busy (see Stream); Complete also knows env
// and spawn (see Complete).
func (p *plug) act(ctx context.Context, req *provider.Request) error {
	switch req.Metadata["test.action"] {
	case "sick":
		p.mu.Lock()
		msg := "upstream probe failed for key " + p.apiKey
		p.mu.Unlock()
		p.sick.Store(&msg)
	case "well":
		p.sick.Store(nil)
	case "crash":
		fmt.Fprintln(realStderr, "testplugin: crashing as asked")
		os.Exit(3)
	case "hang":
		fmt.Fprintln(os.Stderr, "testplugin: hanging until cancelled")
		<-ctx.Done()
		return ctx.Err()
	case "hang_health":
		p.hangHealth.Store(true)
	case "say":
		fmt.Fprintln(os.Stderr, "testplugin: said through os.Stderr")
	case "error":
		return provider.NewError(provider.KindRateLimited, "slow down")
	}
	return nil
}

// Complete answers "hello from <model>". With test.action env the answer is the plugin's
// environment instead, one sorted NAME=value per line; with spawn, the plugin starts a
// `sleep 1000` child (which outlives it unless the host kills its process group) and
// answers its pid.
func (p *plug) Complete(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if err := p.act(ctx, req); err != nil {
		return nil, err
	}
	content := "hello from " + req.Model
	switch req.Metadata["test.action"] {
	case "env":
		env := os.Environ()
		slices.Sort(env)
		content = strings.Join(env, "\n")
	case "spawn":
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		go func() { _ = cmd.Wait() }()
		content = strconv.Itoa(cmd.Process.Pid)
	}
	return &provider.Response{
		ID:      "resp-1",
		Model:   req.Model,
		Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: content}, FinishReason: "stop"}},
		Usage:   &provider.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
	}, nil
}

// Stream sends "hel", "lo". With test.action busy, CheckHealth blocks from then on while
// the stream keeps sending a chunk every 10 ms until the call is cancelled: a plugin too
// busy to answer its health checks that still makes progress.
func (p *plug) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	if req.Metadata["test.action"] == "busy" {
		p.hangHealth.Store(true)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil, provider.NewError(provider.KindCancelled, "cancelled")
			case <-t.C:
			}
			if err := out.Send(&provider.Chunk{ID: "c", Model: req.Model, Choices: []provider.Delta{{Content: "."}}}); err != nil {
				return nil, err
			}
		}
	}
	for i, part := range []string{"hel", "lo"} {
		if i == 1 && req.Metadata["test.action"] == "crash_mid" {
			time.Sleep(50 * time.Millisecond) // let the first chunk reach the host
			fmt.Fprintln(realStderr, "testplugin: crashing mid-stream as asked")
			os.Exit(4)
		}
		if err := out.Send(&provider.Chunk{ID: "c", Model: req.Model, Choices: []provider.Delta{{Content: part}}}); err != nil {
			return nil, err
		}
	}
	if err := p.act(ctx, req); err != nil {
		return nil, err
	}
	return &provider.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}, nil
}

func (p *plug) CheckHealth(ctx context.Context) error {
	if p.hangHealth.Load() {
		<-ctx.Done() // hung: never answers in time
		time.Sleep(time.Hour)
	}
	if msg := p.sick.Load(); msg != nil {
		return errors.New(*msg)
	}
	return nil
}
