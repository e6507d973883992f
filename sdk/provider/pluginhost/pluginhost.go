// Package pluginhost is the host's side of a provider plugin's go-plugin connection: what
// a program that starts and calls plugins (the Switchyard router, the conformance suite,
// tests) passes to go-plugin, and how it tells a broken plugin from an upstream failure.
// Plugin authors do not need it: they import package provider and call Serve.
//
//	client := plugin.NewClient(&plugin.ClientConfig{
//		HandshakeConfig:  pluginhost.HandshakeConfig(),
//		VersionedPlugins: pluginhost.VersionedPlugins(),
//		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
//		GRPCDialOptions:  pluginhost.DialOptions(),
//		Cmd:              exec.Command(path),
//	})
//	rpc, err := client.Client()
//	...
//	raw, err := rpc.Dispense(pluginhost.PluginName)
//	p := raw.(provider.Provider)
package pluginhost

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/switchyard-llm/switchyard/sdk/provider"
	"github.com/switchyard-llm/switchyard/sdk/provider/internal/handshake"
)

// ProtocolVersion is the provider protocol version this package speaks; a client's
// NegotiatedVersion must be it.
const ProtocolVersion = handshake.ProtocolVersion

// PluginName is the name under which a plugin process serves its Provider: dispense it.
const PluginName = handshake.PluginName

// HandshakeConfig is the handshake host and plugin must agree on
// (plugin.ClientConfig.HandshakeConfig). It is the one provider.Serve uses.
func HandshakeConfig() plugin.HandshakeConfig { return handshake.Config() }

// VersionedPlugins is what the host passes as plugin.ClientConfig.VersionedPlugins.
// Dispensing PluginName from the client yields a provider.Provider backed by the plugin's
// gRPC connection.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: handshake.NewPlugin(nil)},
	}
}

// DialOptions are the gRPC dial options the host passes as
// plugin.ClientConfig.GRPCDialOptions (provider.MaxMessageSize limits both ways).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(provider.MaxMessageSize),
			grpc.MaxCallSendMsgSize(provider.MaxMessageSize),
		),
	}
}

// NewClient returns a provider.Provider calling a plugin over conn, an established
// connection to the plugin's gRPC server (go-plugin's server accepts more than the one it
// dials itself: the host opens a second for health checks). Errors are as for a dispensed
// Provider. Closing conn is the caller's job.
func NewClient(conn *grpc.ClientConn) provider.Provider {
	raw, err := handshake.NewPlugin(nil).GRPCClient(context.Background(), nil, conn)
	if err != nil { // never: the glue's GRPCClient does not fail
		panic("pluginhost: " + err.Error())
	}
	return raw.(provider.Provider)
}

// IsTransportError reports whether err, from a call to a plugin, means the plugin itself
// failed (it crashed, hung up, broke the protocol, failed internally or returned a
// non-provider error) rather than reporting an upstream failure in-band. It is false for
// nil and for any error wrapping a *provider.Error, which includes the cancelled and
// upstream_timeout errors a call returns when the caller's own context ended.
func IsTransportError(err error) bool {
	if err == nil {
		return false
	}
	var pe *provider.Error
	return !errors.As(err, &pe)
}
