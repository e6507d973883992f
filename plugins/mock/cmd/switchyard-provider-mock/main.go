// Command switchyard-provider-mock is the mock provider plugin. The host starts it; run by
// hand it explains that it is a plugin and exits.
package main

import (
	"github.com/switchyard-llm/switchyard/plugins/mock"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// version is stamped by the build: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	mock.Version = version
	provider.Serve(mock.New())
}
