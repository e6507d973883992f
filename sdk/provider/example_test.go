package provider_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/providertest"
)

// echo is a whole provider plugin: it answers with the last message it was sent.
type echo struct{}

func (echo) Info(context.Context) (provider.Info, error) {
	return provider.Info{Name: "echo", Version: "0.1.0", Capabilities: []string{"stream"},
		Models: []provider.ModelInfo{{ID: "echo-1", ContextWindow: 4096}}}, nil
}

func (echo) Configure(context.Context, provider.Config) error { return nil }

func (echo) Complete(_ context.Context, req *provider.Request) (*provider.Response, error) {
	if req.Model != "echo-1" {
		return nil, provider.NewError(provider.KindNotFound, "no model %q", req.Model)
	}
	text := req.Messages[len(req.Messages)-1].Content
	return &provider.Response{Model: req.Model, Choices: []provider.Choice{{
		Message: provider.Message{Role: "assistant", Content: text}, FinishReason: "stop",
	}}}, nil
}

func (echo) Stream(ctx context.Context, req *provider.Request, out provider.ChunkSender) (*provider.Usage, error) {
	resp, err := echo{}.Complete(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, word := range strings.SplitAfter(resp.Choices[0].Message.Content, " ") {
		if err := out.Send(&provider.Chunk{Choices: []provider.Delta{{Content: word}}}); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (echo) CheckHealth(context.Context) error { return nil }

// A plugin's main is one line: provider.Serve(echo{}). Here the plugin is served in
// process, through the same gRPC adapters, to show what the host sees.
func Example() {
	// func main() { provider.Serve(echo{}) }
	p, stop, err := providertest.Connect(echo{})
	if err != nil {
		panic(err)
	}
	defer stop()

	ctx := context.Background()
	resp, err := p.Complete(ctx, &provider.Request{Model: "echo-1",
		Messages: []provider.Message{{Role: "user", Content: "hello plugin"}}})
	fmt.Println(resp.Choices[0].Message.Content, err)

	// The refusal travels in-band, as the *provider.Error the plugin returned.
	_, err = p.Complete(ctx, &provider.Request{Model: "gpt-9"})
	var pe *provider.Error
	fmt.Println(err, errors.As(err, &pe) && pe.Kind == provider.KindNotFound)
	// Output:
	// hello plugin <nil>
	// not_found: no model "gpt-9" true
}
