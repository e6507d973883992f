package rules

import "github.com/switchyard-llm/switchyard/host/rules/abi"

// EncodeInput returns the ABI input JSON for in, with only the request headers in allow
// (lowercase names): exactly the bytes a rule whose config lists those headers receives.
// It is abi.EncodeInput, kept here for callers that import the engine.
func EncodeInput(in *Input, allow []string) []byte { return abi.EncodeInput(in, allow) }
