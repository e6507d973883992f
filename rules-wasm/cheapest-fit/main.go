// Command cheapest-fit is a Switchyard rule that routes to the cheapest candidates
// that fit the request (context window, capabilities, health). Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/cheapest-fit.wasm ./rules-wasm/cheapest-fit
//
// The ABI exports come from sdk/rule when built for wasip1; on other platforms the package
// still builds (main does nothing), so go build, go vet and go test cover its logic.
package main

import "github.com/switchyard-llm/switchyard/sdk/rule"

func init() {
	rule.Init(initRule)
	rule.Route(route)
}

func main() {}
