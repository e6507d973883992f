// Command latency is a Switchyard rule that orders the candidates by latency,
// error rate and load, skipping unavailable ones. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/latency.wasm ./rules-wasm/latency
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
