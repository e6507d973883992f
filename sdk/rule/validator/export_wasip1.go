//go:build wasip1

package validator

import "github.com/switchyard-llm/switchyard/sdk/rule"

//go:wasmexport sy_validate
func syValidate(ptr, n uint32) uint64 { return rule.ValidateExport(ptr, n) }
