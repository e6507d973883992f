package provider

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	providerv1 "github.com/switchyard-llm/switchyard/api/provider/v1"
	"github.com/switchyard-llm/switchyard/sdk/provider/internal/handshake"
)

// defaultGCPercent is the plugin process's GOGC unless the environment sets one.
const defaultGCPercent = 400

// MaxMessageSize bounds one gRPC message in either direction, on both sides: a request, a
// whole answer, or one stream chunk.
const MaxMessageSize = 64 << 20

func init() {
	handshake.NewPlugin = func(impl any) handshake.GoPlugin {
		p, _ := impl.(Provider)
		return &grpcPlugin{impl: p}
	}
}

// grpcPlugin is the go-plugin glue of the provider protocol. impl is set on the plugin
// side (Serve does it) and nil on the host side.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Provider
}

// GRPCServer registers impl on the plugin's gRPC server.
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return fmt.Errorf("provider: no implementation to serve")
	}
	providerv1.RegisterProviderServer(s, &grpcServer{impl: p.impl})
	return nil
}

// GRPCClient returns a Provider calling the plugin over conn.
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &grpcClient{c: providerv1.NewProviderClient(conn)}, nil
}

// Serve runs impl as a provider plugin and returns only when the host ends the plugin.
// Call it from main; nothing may be written to stdout before it (stdout carries the
// handshake); log to stderr, which the host shows in its log.
//
// Serve also exits the process when the host dies (its parent process changes), so a
// plugin never outlives a killed host. With SWITCHYARD_PLUGIN_PPROF set to a loopback
// address, it serves net/http/pprof there (for profiling; off by default).
func Serve(impl Provider) {
	go watchParent(os.Getppid(), 500*time.Millisecond)
	startPprof()
	if os.Getenv("GOGC") == "" {
		// A plugin's live heap is a few MiB, so at the default of 100 it collects many
		// times a second under load (see README.md). GOGC in the environment wins.
		debug.SetGCPercent(defaultGCPercent)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake.Config(),
		VersionedPlugins: map[int]plugin.PluginSet{
			handshake.ProtocolVersion: {handshake.PluginName: &grpcPlugin{impl: impl}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts,
				grpc.MaxRecvMsgSize(MaxMessageSize),
				grpc.MaxSendMsgSize(MaxMessageSize),
				// Calls run on reused goroutines, whose stacks have already grown, instead
				// of a new goroutine per call; a call finding every worker busy still gets
				// its own goroutine.
				grpc.NumStreamWorkers(uint32(2*runtime.GOMAXPROCS(0))),
			)
			return grpc.NewServer(opts...)
		},
	})
}

// stderr is the process's real standard error, kept before go-plugin replaces os.Stderr.
var stderr io.Writer = os.Stderr

// Stderr is the plugin process's real standard error, which the host captures and quotes
// when the plugin fails. Once Serve runs, go-plugin replaces os.Stderr with a pipe that it
// forwards to the host over gRPC; what is written there is lost if the process exits
// abruptly. Write last words (before os.Exit) and diagnostics here.
func Stderr() io.Writer { return stderr }

// watchParent exits the process once its parent is no longer ppid: the host died and the
// plugin was re-parented. go-plugin notices a closed stdin only in some cases, and a
// SIGKILLed host sends nothing.
func watchParent(ppid int, every time.Duration) {
	if ppid <= 1 {
		return // started by init or a container runtime: nothing to watch
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			fmt.Fprintf(stderr, "provider: host process %d is gone, exiting\n", ppid)
			os.Exit(1)
		}
	}
}

var _ handshake.GoPlugin = (*grpcPlugin)(nil)
