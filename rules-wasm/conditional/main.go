// Command conditional is a Switchyard rule that routes or rejects requests by
// conditions on their metadata, tags, headers, key, user, model and priority. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/conditional.wasm ./rules-wasm/conditional
//
// The ABI exports come from sdk/rule when built for wasip1; on other platforms the package
// still builds (main does nothing), so go build, go vet and go test cover its logic.
package main

import "github.com/switchyard-llm/switchyard/sdk/rule"

func init() {
	rule.Init(initRule)
	rule.Route(decide)
}

func main() {}
