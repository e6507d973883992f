//go:build wasip1

package rule

import "unsafe"

//go:wasmimport switchyard log
func switchyardLog(level int32, ptr unsafe.Pointer, n int32)

func hostLog(level Level, msg string) {
	switchyardLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
