// Command content-router is a Switchyard rule that routes by what the prompt says: keywords
// and regular expressions on the last user message, and facts about the request (a code
// fence, an image, tool results, the script of the text, the size of the system prompt).
// It needs request.content, so its rule entry must opt in with content: {max_bytes: N}.
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/rules/content-router.wasm ./rules-wasm/content-router
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
