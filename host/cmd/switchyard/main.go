// Command switchyard is the Switchyard router: an OpenAI-compatible endpoint that routes
// each request through Wasm rules to provider plugins.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/switchyard-llm/switchyard/host/app"
)

// version is stamped by the build: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := app.Run(version, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "switchyard:", err)
		}
		os.Exit(1)
	}
}
