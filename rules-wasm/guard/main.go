// Command guard is a Switchyard rule that keeps secrets and personal data from models that
// must not see them: built-in detectors (card numbers, API keys, e-mail addresses), deny
// words and regular expressions over the last user message and the system prompt, each
// either rejecting the request or routing it to the models allowed to see it. It needs
// request.content, so its rule entry must opt in with content: {max_bytes: N}. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/guard.wasm ./rules-wasm/guard
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
