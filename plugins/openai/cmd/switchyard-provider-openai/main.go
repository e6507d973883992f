// Command switchyard-provider-openai is the provider plugin for OpenAI and OpenAI-compatible
// servers. The host starts it; run by hand it explains that it is a plugin and exits.
package main

import (
	"github.com/switchyard-llm/switchyard/plugins/openai"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// version is stamped by the build: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	openai.Version = version
	provider.Serve(openai.New())
}
