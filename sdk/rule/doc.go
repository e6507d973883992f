// Package rule is the Go SDK for Switchyard routing rules (Rule ABI v1,
// api/rules/ABI.md).
//
// A rule is a main package built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm ./my-rule
//
// that registers one function from init():
//
//	func init() {
//		rule.Route(func(in *rule.Input, d *rule.Decision) {
//			if in.Request.Priority >= 8 && len(in.Candidates) > 0 {
//				d.Add(in.Candidates[0].Provider, in.Candidates[0].Model)
//				d.Reason = "high priority"
//			}
//		})
//	}
//
//	func main() {}
//
// The SDK exports sy_abi_v1, sy_alloc, sy_route, sy_init and sy_validate,
// decodes the input with a small allocation-light JSON reader (no
// encoding/json, no reflection: both are slow inside Wasm) and writes the
// decision into a reused buffer. Only the export shims need Wasm; the
// reader, the writer and Runner are portable, so rules can be tested with
// plain go test.
package rule
