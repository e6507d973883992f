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
)

// ProtocolVersion is the provider protocol version this SDK speaks.
const ProtocolVersion = 1

// PluginName is the name under which a plugin process serves its Provider.
const PluginName = "provider"

// defaultGCPercent is the plugin process's GOGC unless the environment sets one.
const defaultGCPercent = 400

// MaxMessageSize bounds one gRPC message in either direction, on both sides.
const MaxMessageSize = 64 << 20

// The magic cookie only stops a plugin binary from being run by mistake as a normal
// program; it is not a secret.
const (
	magicCookieKey   = "SWITCHYARD_PLUGIN"
	magicCookieValue = "7f3c9a1e5b2d4c86a0e4f19b3d6c2a58"
)

// HandshakeConfig is the handshake host and plugin must agree on.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   magicCookieKey,
		MagicCookieValue: magicCookieValue,
	}
}

// VersionedPlugins is what the host passes as plugin.ClientConfig.VersionedPlugins.
// Dispensing PluginName from the client yields a Provider backed by the plugin's gRPC
// connection.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{}},
	}
}

// DialOptions are the gRPC dial options the host passes as
// plugin.ClientConfig.GRPCDialOptions (64 MiB message limits).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
}

// GRPCPlugin is the go-plugin glue of the provider protocol. Impl is set on the plugin
// side (Serve does it) and nil on the host side.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Provider
}

// GRPCServer registers Impl on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("provider: no implementation to serve")
	}
	providerv1.RegisterProviderServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Provider calling the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
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
		HandshakeConfig: HandshakeConfig(),
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
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

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
