// Package instrument compiles a rule's deadline into its Wasm module
// (Rewrite) and refuses modules whose sizes would make wazero allocate
// gigabytes (CheckSizes). The engine (host/rules) raises the stop flag at
// the deadline; README.md says why and how.
package instrument

import (
	"errors"
	"fmt"
	"math"
)

// This file compiles the deadline check into the rule itself.
//
// Rewrite rewrites a rule's Wasm binary so that every function that
// calls counts its entries in a module-wide budget (fuel, a global), and
// every loop header counts its iterations in a counter local of its
// function. Every 16,384 of either, the guest calls memory.grow(0), which
// leaves native code for Go (so the Go scheduler can preempt the goroutine
// and run timers), and, if the stop flag is set, sets it to StopSeen and
// traps with unreachable. The host sets the flag when the rule's deadline
// passes (host/rules).
// Fuel and flag are two new mutable i32 globals, appended after every
// existing global; the flag is exported as StopFlagExport. jumps.go makes
// the jumps of Go's Wasm code direct where that is exact.
//
// wazero's own mechanism (WithCloseOnContextDone) calls back into Go at
// every loop header, which costs a Go rule ~2,000 exits per evaluation.
// Why this is safe, and what falls back to wazero's mechanism, is written
// down in host/rules/README.md.

// StopFlagExport is the export name of the stop flag. A module that
// already imports or exports it is refused at load.
const StopFlagExport = "sy_stop_flag"

// fuelPerYield is the number of counted entries, or loop iterations of
// one function call, between two visits to Go: a tight loop counts one per
// iteration (~1 ns), so a stopped guest notices within tens of µs.
const fuelPerYield = 1 << 14

// The loop check masks its counter with fuelPerYield-1.
var _ [0]struct{} = [fuelPerYield & (fuelPerYield - 1)]struct{}{}

// ErrReservedName refuses a module that uses the stop flag's name.
var ErrReservedName = errors.New("uses the export name " + StopFlagExport + ", which the host reserves")

// Section ids of the Wasm binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secCode      = 10
	secDataCount = 12
	secTag       = 13
)

// sectionRank orders the known sections as the binary format requires; -1
// for an unknown id.
func sectionRank(id byte) int {
	switch {
	case id >= 1 && id <= 5:
		return int(id) * 10
	case id == secTag:
		return 55
	case id >= 6 && id <= 9:
		return int(id) * 10
	case id == secDataCount:
		return 95
	case id == 10 || id == 11:
		return int(id) * 10
	}
	return -1
}

// Rewrite returns a copy of wasm with the stop flag and its checks (see
// the top of this file). Sections other than global, export and code are
// copied byte for byte; no function, global, table or memory index of the
// original changes. An error means the module cannot be rewritten with
// certainty (an unknown opcode, a start function, a malformed binary): the
// caller then keeps the original and wazero's context check, except for
// ErrReservedName, which refuses the module.
func Rewrite(wasm []byte) ([]byte, error) {
	const header = "\x00asm\x01\x00\x00\x00"
	if len(wasm) < len(header) || string(wasm[:len(header)]) != header {
		return nil, errors.New("not a Wasm 1.0 binary")
	}
	type section struct {
		id         byte
		start, end int // the whole section, id byte included
		payload    []byte
	}
	var (
		secs []section
		seen [14]bool
	)
	r := reader{b: wasm, off: len(header)}
	for r.off < len(r.b) {
		start := r.off
		id := r.byte()
		size := r.u32()
		payload := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		if id != secCustom {
			if sectionRank(id) < 0 {
				return nil, fmt.Errorf("unknown section id %d", id)
			}
			if seen[id] {
				return nil, fmt.Errorf("section %d appears twice", id)
			}
			seen[id] = true
		}
		secs = append(secs, section{id: id, start: start, end: r.off, payload: payload})
	}

	var (
		importedGlobals, definedGlobals, memories uint32
		typeParams, funcTypes                     []uint32
	)
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			typeParams, err = scanTypes(s.payload)
		case secFunction:
			funcTypes, err = scanFunctions(s.payload)
		case secImport:
			importedGlobals, memories, err = scanImports(s.payload)
		case secMemory:
			mr := reader{b: s.payload}
			memories += mr.u32()
			err = mr.err
		case secGlobal:
			// Counted here, decoded (with the final count) below.
			gr := reader{b: s.payload}
			definedGlobals = gr.u32()
			err = gr.err
		case secExport:
			_, err = scanExports(s.payload, math.MaxUint64) // globals are checked below
		case secStart:
			err = errors.New("has a start function, which runs before the host can arm the stop flag")
		case secTag:
			err = errors.New("has a tag section (exception handling)")
		}
		if err != nil {
			return nil, err
		}
	}
	globals := uint64(importedGlobals) + uint64(definedGlobals)
	if globals >= 1<<32-2 {
		return nil, errors.New("too many globals")
	}
	if memories == 0 {
		return nil, errors.New("has no memory for the memory.grow(0) yield")
	}
	params := make([]uint32, len(funcTypes))
	for i, t := range funcTypes {
		if uint64(t) >= uint64(len(typeParams)) {
			return nil, fmt.Errorf("function %d has type %d, past the type section", i, t)
		}
		params[i] = typeParams[t]
	}
	fuel, stop := uint32(globals), uint32(globals)+1
	ck := checks{globals: uint32(globals), stop: stop, entry: appendEntryCheck(nil, fuel, stop)}

	out := make([]byte, 0, len(wasm)+len(wasm)/16+64)
	out = append(out, header...)
	var wroteGlobal, wroteExport bool
	newGlobal := func() {
		if !wroteGlobal {
			out = appendSection(out, secGlobal, appendStopGlobals(appendU32(nil, 2)))
			wroteGlobal = true
		}
	}
	newExport := func() {
		if !wroteExport {
			out = appendSection(out, secExport, appendStopExport(appendU32(nil, 1), stop))
			wroteExport = true
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			rank := sectionRank(s.id)
			if rank > sectionRank(secGlobal) {
				newGlobal()
			}
			if rank > sectionRank(secExport) {
				newExport()
			}
		}
		switch s.id {
		case secGlobal:
			p, err := rewriteGlobals(s.payload, fuel)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secGlobal, p)
			wroteGlobal = true
		case secExport:
			n, err := scanExports(s.payload, globals)
			if err != nil {
				return nil, err
			}
			pr := reader{b: s.payload}
			pr.u32()
			p := appendU32(make([]byte, 0, len(s.payload)+len(StopFlagExport)+8), n+1)
			p = append(p, s.payload[pr.off:]...)
			out = appendSection(out, secExport, appendStopExport(p, stop))
			wroteExport = true
		case secCode:
			p, err := rewriteCode(s.payload, params, &ck)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, p)
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	newGlobal()
	newExport()
	return out, nil
}

// checks holds what the rewriter inserts into function bodies.
type checks struct {
	globals uint32 // the original module's globals: an index at or past it is refused
	stop    uint32 // the stop flag
	entry   []byte // the check at the entry of a function that calls
}

// appendEntryCheck appends the check at a function's entry, which counts
// calls in the module-wide fuel:
//
//	global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//	global.get $fuel  i32.eqz
//	if
//	  i32.const 0  memory.grow 0  drop      ;; a visit to Go
//	  global.get $stop  if  unreachable  end
//	  i32.const fuelPerYield  global.set $fuel
//	end
func appendEntryCheck(b []byte, fuel, stop uint32) []byte {
	b = append(b, 0x23)
	b = appendU32(b, fuel)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	b = appendU32(b, fuel)
	b = append(b, 0x23)
	b = appendU32(b, fuel)
	b = append(b, 0x45, 0x04, 0x40)
	b = appendYield(b, stop)
	b = append(b, 0x41)
	b = appendS32(b, fuelPerYield)
	b = append(b, 0x24)
	b = appendU32(b, fuel)
	return append(b, 0x0b)
}

// appendCount appends the count of a loop iteration in the function's
// counter local, kept in a register, leaving on the stack whether this is
// not a 16,384th iteration:
//
//	local.get $n  i32.const 1  i32.add  local.tee $n
//	i32.const fuelPerYield-1  i32.and
func appendCount(b []byte, counter uint32) []byte {
	b = append(b, 0x20)
	b = appendU32(b, counter)
	b = append(b, 0x41, 0x01, 0x6a, 0x22)
	b = appendU32(b, counter)
	b = append(b, 0x41)
	b = appendS32(b, fuelPerYield-1)
	return append(b, 0x71)
}

// appendLoopCheck appends the check at a loop header:
//
//	<count>  i32.eqz  if  <yield>  end
func appendLoopCheck(b []byte, counter, stop uint32) []byte {
	b = append(appendCount(b, counter), 0x45, 0x04, 0x40)
	b = appendYield(b, stop)
	return append(b, 0x0b)
}

// appendBackCheck appends what replaces br L on a backward jump of a
// dispatch loop: the loop check, arranged so that the common path is one
// br_if back to the loop, with no merge point:
//
//	<count>  br_if L  <yield>  br L
func appendBackCheck(b []byte, counter, stop, label uint32) []byte {
	b = append(appendCount(b, counter), 0x0d)
	b = appendU32(b, label)
	b = appendYield(b, stop)
	b = append(b, 0x0c)
	return appendU32(b, label)
}

// appendYield appends the visit to Go and the stop flag's test. A guest
// that sees the flag sets it to StopSeen before it traps, which tells the
// host that the trap is the deadline's own stop and not one of the rule's
// (which counts as an error, however close to the deadline):
//
//	i32.const 0  memory.grow 0  drop
//	global.get $stop  if  i32.const StopSeen  global.set $stop  unreachable  end
func appendYield(b []byte, stop uint32) []byte {
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a, 0x23)
	b = appendU32(b, stop)
	b = append(b, 0x04, 0x40, 0x41)
	b = appendS32(b, StopSeen)
	b = append(b, 0x24)
	b = appendU32(b, stop)
	return append(b, 0x00, 0x0b)
}

// Values of the stop flag: the host raises it at the deadline, and the
// guest acknowledges it just before it traps.
const (
	StopRaised = 1
	StopSeen   = 2
)

// appendStopGlobals appends the fuel, (mut i32) = fuelPerYield, and the
// stop flag, (mut i32) = 0.
func appendStopGlobals(b []byte) []byte {
	b = append(b, 0x7f, 0x01, 0x41)
	b = appendS32(b, fuelPerYield)
	return append(b, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendStopExport appends the stop flag's export entry.
func appendStopExport(b []byte, stop uint32) []byte {
	b = appendU32(b, uint32(len(StopFlagExport)))
	b = append(b, StopFlagExport...)
	b = append(b, 0x03)
	return appendU32(b, stop)
}

func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(payload)))
	return append(b, payload...)
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// scanTypes returns the number of parameters of each function type.
func scanTypes(p []byte) ([]uint32, error) {
	r := reader{b: p}
	n := r.vecLen()
	params := make([]uint32, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		if form := r.byte(); form != 0x60 && r.err == nil {
			r.fail(fmt.Errorf("type form 0x%02x", form))
		}
		np := r.u32()
		for i := np; i > 0 && r.err == nil; i-- {
			r.valType()
		}
		for i := r.u32(); i > 0 && r.err == nil; i-- {
			r.valType()
		}
		params = append(params, np)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("type section: %w", err)
	}
	return params, nil
}

// scanFunctions returns the type index of each function the module
// defines.
func scanFunctions(p []byte) ([]uint32, error) {
	r := reader{b: p}
	n := r.vecLen()
	types := make([]uint32, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		types = append(types, r.u32())
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("function section: %w", err)
	}
	return types, nil
}

// scanImports returns the number of imported globals and memories, and
// refuses an import named like the stop flag.
func scanImports(p []byte) (globals, memories uint32, err error) {
	r := reader{b: p}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		name := r.name()
		if string(name) == StopFlagExport {
			return 0, 0, ErrReservedName
		}
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
			memories++
		case 0x03: // global
			r.valType()
			r.byte()
			globals++
		default:
			r.fail(fmt.Errorf("import kind 0x%02x", kind))
		}
	}
	return globals, memories, r.end()
}

// scanExports returns the number of exports and refuses one named like the
// stop flag, and one of a global at or past globals (the original count),
// which the new globals would otherwise make valid.
func scanExports(p []byte, globals uint64) (uint32, error) {
	r := reader{b: p}
	count := r.u32()
	for n := count; n > 0 && r.err == nil; n-- {
		if string(r.name()) == StopFlagExport {
			return 0, ErrReservedName
		}
		kind := r.byte()
		if idx := r.u32(); kind == 0x03 && uint64(idx) >= globals && r.err == nil {
			return 0, fmt.Errorf("exports global %d, out of range", idx)
		}
	}
	return count, r.end()
}

// rewriteGlobals decodes the global section and appends the fuel and the
// stop flag. Initialisers may only read globals that existed before.
func rewriteGlobals(p []byte, globals uint32) ([]byte, error) {
	r := reader{b: p}
	count := r.u32()
	for n := count; n > 0 && r.err == nil; n-- {
		r.valType()
		r.byte()
		r.constExpr(globals)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("global section: %w", err)
	}
	if count >= 1<<32-2 {
		return nil, errors.New("too many globals")
	}
	hr := reader{b: p}
	hr.u32()
	out := appendU32(make([]byte, 0, len(p)+16), count+2)
	out = append(out, p[hr.off:]...)
	return appendStopGlobals(out), nil
}

// maxLocals bounds a function's locals, the counter included (wazero's
// limit is far higher; no real rule comes near it).
const maxLocals = 1 << 16

// rewriteCode rewrites every function body (see rewriteBody) and
// re-encodes the body sizes. params[i] is the parameter count of the i-th
// body's function.
func rewriteCode(p []byte, params []uint32, c *checks) ([]byte, error) {
	r := reader{b: p}
	count := r.u32()
	if r.err == nil && uint64(count) != uint64(len(params)) {
		return nil, fmt.Errorf("code section has %d bodies for %d functions", count, len(params))
	}
	out := appendU32(make([]byte, 0, len(p)+len(p)/8+16), count)
	var body []byte
	for i := uint32(0); i < count && r.err == nil; i++ {
		size := r.u32()
		src := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		body, err = rewriteBody(body[:0], src, params[i], c)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	return out, nil
}

// rewriteBody appends src, one function body, with its checks: the entry
// check when the function calls (a function that calls nothing cannot
// recurse), a loop check after every loop's block type, counting in a new
// i32 local appended to the body's locals, and the direct jumps of
// jumps.go. The inserted code is stack-neutral, and only the direct jumps
// change a branch depth.
func rewriteBody(out, src []byte, params uint32, c *checks) ([]byte, error) {
	r := reader{b: src}
	groups := r.u32()
	locals := uint64(params)
	for n := groups; n > 0 && r.err == nil; n-- {
		locals += uint64(r.u32())
		r.valType()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	if locals >= maxLocals {
		return nil, fmt.Errorf("%d locals", locals)
	}
	code := r.off

	// First pass: does the function call or loop, and which of its jumps
	// go backward (for the dispatch of jumps.go).
	var (
		pre          dispatch
		calls, loops bool
	)
	for r.off < len(src) && r.err == nil {
		start := r.off
		op := r.instr(c.globals)
		if r.err != nil {
			break
		}
		calls = calls || op == 0x10 || op == 0x11
		loops = loops || op == 0x03
		pre.observe(src, start, r.off, op)
	}
	if r.err != nil {
		return nil, r.err
	}

	hr := reader{b: src}
	hr.u32()
	counter := uint32(locals)
	if loops {
		out = appendU32(out, groups+1)
		out = append(out, src[hr.off:code]...)
		out = append(out, 0x01, 0x7f) // one i32: the loop counter
	} else {
		out = append(out, src[:code]...)
	}
	if calls {
		out = append(out, c.entry...)
	}
	loopCheck := appendLoopCheck(nil, counter, c.stop)
	// When only the jump pattern reaches the dispatch loop, its check
	// moves from the loop header to the backward jumps (see jumps.go):
	// the common path then branches straight back with no merge point.
	moved := pre.state == psDone && !pre.other

	r = reader{b: src, off: code}
	last := code
	var jumps dispatch
	for r.off < len(src) {
		start := r.off
		op := r.instr(c.globals)
		act := jumps.observe(src, start, r.off, op)
		switch {
		case op == 0x03 && !(moved && start == pre.loopAt): // loop
			out = append(out, src[last:r.off]...)
			out = append(out, loopCheck...)
			last = r.off
		case act.backward && moved:
			br := reader{b: src, off: start + 1}
			l := br.u32()
			out = append(out, src[last:start]...)
			out = appendBackCheck(out, counter, c.stop, l)
			last = r.off
		case act.direct:
			out = append(out, src[last:start]...)
			out = appendU32(append(out, 0x0c), act.depth)
			last = r.off
		case act.dispatchAt >= 0:
			out = append(out, src[last:act.dispatchAt]...)
			out = jumps.appendShortcuts(out, pre.backward)
			last = act.dispatchAt
		}
	}
	return append(out, src[last:]...), nil
}

// reader decodes a Wasm binary. The first error sticks; later reads return
// zero values.
type reader struct {
	b   []byte
	off int
	err error
}

var errEOF = errors.New("unexpected end")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// end reports the first error, or trailing bytes.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		return fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail(errEOF)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errEOF)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

// leb reads the seven-bit groups of a LEB128 number of at most five bytes:
// the value and how many bits it has.
func (r *reader) leb() (v uint64, n uint) {
	for n = 0; n < 35; n += 7 {
		c := r.byte()
		if r.err != nil {
			return 0, 7
		}
		v |= uint64(c&0x7f) << n
		if c < 0x80 {
			return v, n + 7
		}
	}
	r.fail(errors.New("integer too long"))
	return 0, 7
}

func (r *reader) u32() uint32 {
	v, _ := r.leb()
	if v > math.MaxUint32 {
		r.fail(errors.New("u32 out of range"))
		return 0
	}
	return uint32(v)
}

// vecLen reads a vector's length and refuses one longer than the bytes
// left (every element takes at least one), so that a few bytes cannot make
// the rewriter allocate gigabytes.
func (r *reader) vecLen() uint32 {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(errVectorLength)
		return 0
	}
	return n
}

// s32 reads a signed LEB128 32-bit integer.
func (r *reader) s32() int32 {
	v, n := r.leb()
	x := int64(v)
	if v&(1<<(n-1)) != 0 {
		x -= 1 << n // sign extension
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		r.fail(errors.New("s32 out of range"))
		return 0
	}
	return int32(x)
}

// skipLEB skips a LEB128 number of at most maxBytes bytes.
func (r *reader) skipLEB(maxBytes int) {
	for i := 0; i < maxBytes; i++ {
		if c := r.byte(); c < 0x80 || r.err != nil {
			return
		}
	}
	r.fail(errors.New("integer too long"))
}

func (r *reader) name() []byte {
	return r.bytes(int(r.u32()))
}

func (r *reader) limits() {
	switch flags := r.byte(); flags {
	case 0x00, 0x02:
		r.u32()
	case 0x01, 0x03:
		r.u32()
		r.u32()
	default:
		r.fail(fmt.Errorf("limits flags 0x%02x", flags))
	}
}

// valType reads a one-byte value type (numbers, v128, funcref, externref).
func (r *reader) valType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("value type 0x%02x", t))
		}
	}
}

// blockType reads a block type: empty, a value type, or a type index (s33).
func (r *reader) blockType() {
	if r.off >= len(r.b) {
		r.fail(errEOF)
		return
	}
	switch c := r.b[r.off]; {
	case c == 0x40: // empty
		r.off++
	case c&0xc0 == 0x40: // another one-byte negative s33: a value type
		r.valType()
	default: // a type index
		r.skipLEB(5)
	}
}

func (r *reader) memArg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.u32()
}

// constExpr reads a constant expression up to its end.
func (r *reader) constExpr(globals uint32) {
	for r.err == nil {
		if r.instr(globals) == 0x0b {
			return
		}
	}
}

// instr decodes one instruction and returns its opcode (the prefix byte
// for prefixed ones). globals is the number of globals of the original
// module: an index at or past it is refused, since the stop flag would
// otherwise make an invalid module valid. Opcodes outside the set wazero
// enables by default (MVP, sign extension, non-trapping conversions, bulk
// memory, reference types, multi-value) are refused, SIMD included.
func (r *reader) instr(globals uint32) byte {
	op := r.byte()
	if r.err != nil {
		return 0
	}
	switch {
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// no immediates
	case op >= 0x02 && op <= 0x04: // block, loop, if
		r.blockType()
	case op == 0x0c, op == 0x0d, op == 0x10, op >= 0x20 && op <= 0x22,
		op == 0x25, op == 0x26, op == 0x3f, op == 0x40, op == 0xd2:
		r.u32()
	case op == 0x23, op == 0x24: // global.get, global.set
		if idx := r.u32(); idx >= globals && r.err == nil {
			r.fail(fmt.Errorf("global index %d out of range", idx))
		}
	case op == 0x0e: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.valType()
		}
	case op >= 0x28 && op <= 0x3e:
		r.memArg()
	case op == 0x41:
		r.skipLEB(5)
	case op == 0x42:
		r.skipLEB(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null
		r.valType()
	case op == 0xfc:
		switch sub := r.u32(); {
		case sub <= 7: // saturating truncations
		case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
			r.u32()
			r.u32()
		case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
			r.u32()
		default:
			r.fail(fmt.Errorf("opcode 0xfc %d", sub))
		}
	default:
		r.fail(fmt.Errorf("opcode 0x%02x", op))
	}
	return op
}
