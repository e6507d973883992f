// Package provider is what a provider plugin author imports: implement Provider and call
// Serve. The same interface is what the host gets back from a running plugin, so a plugin
// can be tested through the real gRPC transport with the conformance suite in providertest.
package provider

import "context"

// Provider is a provider plugin. Methods may be called concurrently.
//
// Errors: return an *Error for anything the upstream said or failed to say (it travels
// in-band to the host and drives retry and fallback); any other error means the plugin
// itself is broken and reaches the host as a gRPC status.
type Provider interface {
	// Info describes the plugin. It may be called before Configure.
	Info(ctx context.Context) (Info, error)
	// Configure hands the plugin its settings and secrets; called once after each start,
	// before Complete, Stream or CheckHealth.
	Configure(ctx context.Context, cfg Config) error
	// Complete answers a request as a whole.
	Complete(ctx context.Context, req *Request) (*Response, error)
	// Stream sends the answer's deltas to out in order and returns the usage, if the
	// upstream reported it. A failure after the first Send must still be returned: the SDK
	// marks it as OutputStarted. The context is cancelled when the client goes away.
	Stream(ctx context.Context, req *Request, out ChunkSender) (*Usage, error)
	// CheckHealth returns nil when the plugin can serve.
	CheckHealth(ctx context.Context) error
}

// Embedder is what a Provider also implements to serve embeddings (protocol v1.1). A
// plugin that implements it should list EndpointEmbeddings in Info.Endpoints; the host
// sends embeddings requests only to plugins that list it.
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}
