package provider

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
)

// grpcServer serves a Provider over the protocol. It turns an *Error into an in-band
// ProviderError, any other error into a gRPC status, and a panic of the implementation
// into codes.Internal (the plugin keeps running; the stack goes to stderr, which the host
// logs).
type grpcServer struct {
	providerv1.UnimplementedProviderServer
	impl Provider
}

// recoverTo turns a panic into a codes.Internal status stored in *err.
func recoverTo(method string, err *error) {
	if r := recover(); r != nil {
		fmt.Fprintf(stderr, "provider: panic in %s: %v\n%s", method, r, debug.Stack())
		*err = status.Errorf(codes.Internal, "provider: panic in %s: %v", method, r)
	}
}

// statusFor is the gRPC status of a non-provider error: the context's own status when the
// call's context is done (the host went away), codes.Internal otherwise.
func statusFor(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	return status.Errorf(codes.Internal, "provider: %s: %v", method, err)
}

func (s *grpcServer) GetInfo(ctx context.Context, _ *providerv1.GetInfoRequest) (resp *providerv1.GetInfoResponse, err error) {
	defer recoverTo("GetInfo", &err)
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, statusFor(ctx, "info", err)
	}
	return infoToProto(info), nil
}

func (s *grpcServer) Configure(ctx context.Context, req *providerv1.ConfigureRequest) (resp *providerv1.ConfigureResponse, err error) {
	defer recoverTo("Configure", &err)
	if err := s.impl.Configure(ctx, configFromProto(req)); err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.InvalidArgument, "provider: configure: %v", err)
	}
	return &providerv1.ConfigureResponse{}, nil
}

func (s *grpcServer) Complete(ctx context.Context, req *providerv1.ChatRequest) (resp *providerv1.ChatResponse, err error) {
	defer recoverTo("Complete", &err)
	r, err := s.impl.Complete(ctx, requestFromProto(req))
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return &providerv1.ChatResponse{Error: errorToProto(pe)}, nil
		}
		return nil, statusFor(ctx, "complete", err)
	}
	if r == nil {
		return nil, status.Error(codes.Internal, "provider: complete returned neither a response nor an error")
	}
	return responseToProto(r), nil
}

func (s *grpcServer) Stream(req *providerv1.ChatRequest, stream providerv1.Provider_StreamServer) (err error) {
	defer recoverTo("Stream", &err)
	ctx := stream.Context()
	out := &streamSender{stream: stream}
	defer out.close()
	usage, err := s.impl.Stream(ctx, requestFromProto(req), out)
	sent := out.close()
	final := &providerv1.ChatChunk{Final: true, Usage: usageToProto(usage)}
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			return statusFor(ctx, "stream", err)
		}
		e := *pe
		e.OutputStarted = e.OutputStarted || sent
		final.Error = errorToProto(&e)
	}
	if err := stream.Send(final); err != nil {
		return err
	}
	return nil
}

func (s *grpcServer) CheckHealth(ctx context.Context, _ *providerv1.CheckHealthRequest) (resp *providerv1.CheckHealthResponse, err error) {
	defer recoverTo("CheckHealth", &err)
	if err := s.impl.CheckHealth(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return &providerv1.CheckHealthResponse{Ok: false, Message: err.Error()}, nil
	}
	return &providerv1.CheckHealthResponse{Ok: true}, nil
}

func (s *grpcServer) Embed(ctx context.Context, req *providerv1.EmbedRequest) (resp *providerv1.EmbedResponse, err error) {
	defer recoverTo("Embed", &err)
	e, ok := s.impl.(Embedder)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "provider: this plugin does not serve embeddings")
	}
	r, err := e.Embed(ctx, embedRequestFromProto(req))
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return &providerv1.EmbedResponse{Error: errorToProto(pe)}, nil
		}
		return nil, statusFor(ctx, "embed", err)
	}
	if r == nil {
		return nil, status.Error(codes.Internal, "provider: embed returned neither a response nor an error")
	}
	return embedResponseToProto(r), nil
}

// streamSender is the ChunkSender a plugin's Stream gets. It is safe for concurrent use
// and refuses sends once Stream has returned.
type streamSender struct {
	mu     sync.Mutex
	stream providerv1.Provider_StreamServer
	sent   bool
	closed bool
}

var errStreamClosed = errors.New("provider: send after stream returned")

func (s *streamSender) Send(c *Chunk) error {
	if c == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStreamClosed
	}
	if err := s.stream.Send(chunkToProto(c)); err != nil {
		return err
	}
	s.sent = true
	return nil
}

// close stops further sends and reports whether any delta went out.
func (s *streamSender) close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.sent
}

var _ providerv1.ProviderServer = (*grpcServer)(nil)
var _ ChunkSender = (*streamSender)(nil)
