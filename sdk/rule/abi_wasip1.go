//go:build wasip1

package rule

import "unsafe"

// The Wasm exports of Rule ABI v1. Everything they call is portable and
// tested natively; see Runner.

var (
	runner   Runner
	allocBuf []byte
)

//go:wasmexport sy_abi_v1
func syABIv1() {}

// syAlloc returns a buffer of at least size bytes, valid until the next
// call. The buffer only grows, so the host can reuse it for every input
// that fits.
//
//go:wasmexport sy_alloc
func syAlloc(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	if uint64(size) > uint64(cap(allocBuf)) {
		allocBuf = make([]byte, size)
	}
	allocBuf = allocBuf[:cap(allocBuf)]
	return addr(allocBuf)
}

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(&b[0]))) }

// hostBytes returns the n bytes at ptr, which must lie in the sy_alloc
// buffer.
func hostBytes(ptr, n uint32) ([]byte, bool) {
	if len(allocBuf) == 0 || ptr < addr(allocBuf) {
		return nil, false
	}
	off := uint64(ptr - addr(allocBuf))
	if off+uint64(n) > uint64(len(allocBuf)) {
		return nil, false
	}
	return allocBuf[off : off+uint64(n)], true
}

func packOutput(out []byte) uint64 {
	if len(out) == 0 {
		return 0
	}
	return uint64(addr(out))<<32 | uint64(len(out))
}

//go:wasmexport sy_route
func syRoute(ptr, n uint32) uint64 {
	in, ok := hostBytes(ptr, n)
	if !ok {
		return packOutput(runner.errorOutput("input outside the sy_alloc buffer"))
	}
	return packOutput(runner.Route(routeFn, in))
}

//go:wasmexport sy_init
func syInit(ptr, n uint32) int32 {
	cfg, ok := hostBytes(ptr, n)
	if !ok {
		Log(LevelError, "sy_init: config outside the sy_alloc buffer")
		return 2
	}
	if err := runner.Init(initFn, cfg); err != nil {
		Log(LevelError, "sy_init: "+err.Error())
		return 1
	}
	return 0
}

// ValidateExport is the body of the sy_validate export, which package
// sdk/rule/validator declares: only rules that import it export sy_validate,
// so the router asks only rules that really judge answers (each ask is a call
// into the guest on every answer).
func ValidateExport(ptr, n uint32) uint64 {
	in, ok := hostBytes(ptr, n)
	if !ok {
		return packOutput(runner.errorOutput("input outside the sy_alloc buffer"))
	}
	return packOutput(runner.Validate(validateFn, in))
}
