// Command switchyard-provider-anthropic is the Anthropic provider plugin. The host starts
// it; run by hand it explains that it is a plugin and exits.
package main

import (
	"github.com/switchyard-llm/switchyard/plugins/anthropic"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// version is stamped by the build: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	anthropic.Version = version
	provider.Serve(anthropic.New())
}
