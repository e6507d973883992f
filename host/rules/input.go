package rules

// EncodeInput returns the ABI input JSON for in, with only the request headers in allow
// (lowercase names): exactly the bytes a rule whose config lists those headers receives.
// The dry run uses it to show what rules saw, so a request can be recorded as a golden case.
func EncodeInput(in *Input, allow []string) []byte { return appendInput(nil, in, allow) }
