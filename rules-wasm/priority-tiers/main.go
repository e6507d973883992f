// Command priority-tiers is a Switchyard rule that maps the request's priority to a
// class of models (and lower parameters for low tiers). Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/priority-tiers.wasm ./rules-wasm/priority-tiers
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
