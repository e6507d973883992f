package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
)

// grpcClient is the Provider the host gets from a running plugin (through package
// pluginhost, which hands it out).
//
// Errors: an upstream failure the plugin reported comes back as an *Error. When the
// caller's own context is done the call returns an *Error too (cancelled, or
// upstream_timeout for a passed deadline), since the plugin is not to blame. Everything
// else (the plugin crashed, hung up, broke the protocol or failed internally) is returned
// wrapping the gRPC status; pluginhost.IsTransportError reports true for those.
type grpcClient struct {
	c providerv1.ProviderClient
}

// callError converts the error of a failed RPC.
func callError(ctx context.Context, method string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(ctxErr)
	}
	// gRPC may fail a call for its deadline a moment before the context's own timer fires;
	// that is still the caller's deadline, not a sick plugin.
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return contextError(context.DeadlineExceeded)
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.DeadlineExceeded {
		if _, has := ctx.Deadline(); has {
			return contextError(context.DeadlineExceeded)
		}
	}
	return fmt.Errorf("provider: %s: %w", method, err)
}

func contextError(ctxErr error) *Error {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return NewError(KindUpstreamTimeout, "deadline exceeded before the provider answered")
	}
	return NewError(KindCancelled, "request cancelled")
}

func (c *grpcClient) Info(ctx context.Context) (Info, error) {
	resp, err := c.c.GetInfo(ctx, &providerv1.GetInfoRequest{})
	if err != nil {
		return Info{}, callError(ctx, "info", err)
	}
	return infoFromProto(resp), nil
}

func (c *grpcClient) Configure(ctx context.Context, cfg Config) error {
	if _, err := c.c.Configure(ctx, configToProto(cfg)); err != nil {
		return callError(ctx, "configure", err)
	}
	return nil
}

func (c *grpcClient) Complete(ctx context.Context, req *Request) (*Response, error) {
	resp, err := c.c.Complete(ctx, requestToProto(req))
	if err != nil {
		return nil, callError(ctx, "complete", err)
	}
	if resp.GetError() != nil {
		return nil, errorFromProto(resp.GetError())
	}
	return responseFromProto(resp), nil
}

// Stream forwards every delta to out and returns on the plugin's final chunk. A stream
// that ends without a final chunk is a plugin failure (codes.DataLoss), never a clean end.
// When out.Send fails the RPC is cancelled and a cancelled *Error is returned.
func (c *grpcClient) Stream(ctx context.Context, req *Request, out ChunkSender) (*Usage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.Stream(ctx, requestToProto(req))
	if err != nil {
		return nil, callError(ctx, "stream", err)
	}
	sent := false
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.DataLoss, "stream ended without a final chunk")
			}
			return nil, callError(ctx, "stream", err)
		}
		if len(msg.GetChoices()) > 0 || len(msg.GetRawEvent()) > 0 || msg.GetSystemFingerprint() != "" || msg.GetServiceTier() != "" {
			if err := out.Send(chunkFromProto(msg)); err != nil {
				cancel()
				return nil, &Error{Kind: KindCancelled, Message: "receiver gone: " + err.Error(), OutputStarted: sent}
			}
			sent = true
		}
		if !msg.GetFinal() {
			continue
		}
		usage := usageFromProto(msg.GetUsage())
		if pe := errorFromProto(msg.GetError()); pe != nil {
			pe.OutputStarted = pe.OutputStarted || sent
			return usage, pe
		}
		return usage, nil
	}
}

// Embed calls the plugin's Embed. A plugin from before protocol v1.1 answers
// codes.Unimplemented, which comes back as an unsupported *Error: the request's fault for
// choosing it, not the plugin's.
func (c *grpcClient) Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error) {
	resp, err := c.c.Embed(ctx, embedRequestToProto(req))
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, NewError(KindUnsupported, "the plugin does not serve embeddings")
		}
		return nil, callError(ctx, "embed", err)
	}
	if resp.GetError() != nil {
		return nil, errorFromProto(resp.GetError())
	}
	return embedResponseFromProto(resp), nil
}

func (c *grpcClient) CheckHealth(ctx context.Context) error {
	resp, err := c.c.CheckHealth(ctx, &providerv1.CheckHealthRequest{})
	if err != nil {
		return callError(ctx, "check health", err)
	}
	if !resp.GetOk() {
		msg := resp.GetMessage()
		if msg == "" {
			msg = "plugin reports unhealthy"
		}
		return NewError(KindUpstreamUnavailable, "%s", msg)
	}
	return nil
}

var (
	_ Provider = (*grpcClient)(nil)
	_ Embedder = (*grpcClient)(nil)
)
