// Package handshake holds what both ends of a provider plugin's go-plugin connection must
// agree on: the handshake (protocol version, magic cookie), the name the Provider is served
// under, and the go-plugin glue itself. The plugin side (provider.Serve) and the host side
// (pluginhost) both take them from here, so they cannot drift apart.
package handshake

import "github.com/hashicorp/go-plugin"

// ProtocolVersion is the provider protocol version, negotiated at the handshake.
const ProtocolVersion = 1

// PluginName is the name under which a plugin process serves its Provider.
const PluginName = "provider"

// The magic cookie only stops a plugin binary from being run by mistake as a normal
// program; it is not a secret.
const (
	magicCookieKey   = "SWITCHYARD_PLUGIN"
	magicCookieValue = "7f3c9a1e5b2d4c86a0e4f19b3d6c2a58"
)

// Config is the handshake host and plugin must agree on.
func Config() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   magicCookieKey,
		MagicCookieValue: magicCookieValue,
	}
}

// GoPlugin is the go-plugin glue of the provider protocol: GRPCServer serves an
// implementation on the plugin's gRPC server, GRPCClient returns a provider.Provider
// calling a plugin over a connection.
type GoPlugin interface {
	plugin.Plugin
	plugin.GRPCPlugin
}

// NewPlugin returns the glue serving impl, a provider.Provider (nil on the host side,
// which only calls GRPCClient). Package provider sets it when it is initialised: the gRPC
// adapters live there, beside the conversions they share with the types, and this package
// cannot import provider (which imports it). The value it takes is untyped for the same
// reason.
var NewPlugin func(impl any) GoPlugin
