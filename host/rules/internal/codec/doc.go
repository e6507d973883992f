// Package codec decodes what rules return: the sy_route output into a
// validated abi.Decision (ParseOutput) and the sy_validate output into a
// verdict (ParseVerdict), without encoding/json and reading guest memory in
// place. The input encoder is abi.AppendInput. See README.md.
package codec
