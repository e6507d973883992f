// Command budget is a Switchyard rule that downgrades requests by tier (from the
// request metadata or the key): smaller models, lower max_tokens, prompt limits; and to a
// cheaper tier while the key has little left of its budget or rate limits (request.budget,
// request.limits). Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/budget.wasm ./rules-wasm/budget
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
