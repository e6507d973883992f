package rules

import (
	"errors"
	"fmt"
)

// This file compiles the deadline check into the rule itself.
//
// instrument rewrites a rule's Wasm binary so that every function, on
// entry and at the head of every loop, counts down a budget of checks
// (fuel). When the budget runs out, the guest calls memory.grow(0), which
// leaves native code for Go (so the Go scheduler can preempt the goroutine
// and run timers), traps with unreachable if the stop flag is set, and
// refills the budget. The host sets the flag when the rule's deadline
// passes (see instance.arm). Fuel and flag are two new mutable i32 globals,
// appended after every existing global; the flag is exported as
// stopFlagExport.
//
// wazero's own mechanism (WithCloseOnContextDone) calls back into Go at
// every loop header, which costs a Go rule ~2,000 exits per evaluation; a
// global.get and a branch cost about a nanosecond. Why this is safe, and
// what falls back to wazero's mechanism, is written down in README.md.

// stopFlagExport is the export name of the stop flag. A module that
// already imports or exports it is refused at load.
const stopFlagExport = "sy_stop_flag"

// fuelPerYield is the number of checks between two visits to Go: a Go
// rule passes ~2,000 checks per evaluation, a tight loop one per
// iteration (~1 ns), so a stopped guest notices within tens of µs.
const fuelPerYield = 1 << 14

// errReservedName refuses a module that uses the stop flag's name.
var errReservedName = errors.New("uses the export name " + stopFlagExport + ", which the host reserves")

// Section ids of the Wasm binary format.
const (
	secCustom    = 0
	secImport    = 2
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

// instrument returns a copy of wasm with the stop flag and its checks (see
// the top of this file). Sections other than global, export and code are
// copied byte for byte; no function, global, table or memory index of the
// original changes. An error means the module cannot be rewritten with
// certainty (an unknown opcode, a start function, a malformed binary): the
// caller then keeps the original and wazero's context check, except for
// errReservedName, which refuses the module.
func instrument(wasm []byte) ([]byte, error) {
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

	var importedGlobals, definedGlobals, memories uint32
	for _, s := range secs {
		var err error
		switch s.id {
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
			_, err = scanExports(s.payload)
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
	fuel, stop := uint32(globals), uint32(globals)+1
	check := appendCheck(nil, fuel, stop)

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
			n, err := scanExports(s.payload)
			if err != nil {
				return nil, err
			}
			pr := reader{b: s.payload}
			pr.u32()
			p := appendU32(make([]byte, 0, len(s.payload)+len(stopFlagExport)+8), n+1)
			p = append(p, s.payload[pr.off:]...)
			out = appendSection(out, secExport, appendStopExport(p, stop))
			wroteExport = true
		case secCode:
			p, err := rewriteCode(s.payload, fuel, check)
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

// appendCheck appends the check:
//
//	global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//	global.get $fuel  i32.eqz
//	if
//	  i32.const 0  memory.grow 0  drop      ;; a visit to Go
//	  global.get $stop  if  unreachable  end
//	  i32.const fuelPerYield  global.set $fuel
//	end
func appendCheck(b []byte, fuel, stop uint32) []byte {
	b = append(b, 0x23)
	b = appendU32(b, fuel)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	b = appendU32(b, fuel)
	b = append(b, 0x23)
	b = appendU32(b, fuel)
	b = append(b, 0x45, 0x04, 0x40, 0x41, 0x00, 0x40, 0x00, 0x1a, 0x23)
	b = appendU32(b, stop)
	b = append(b, 0x04, 0x40, 0x00, 0x0b, 0x41)
	b = appendS32(b, fuelPerYield)
	b = append(b, 0x24)
	b = appendU32(b, fuel)
	return append(b, 0x0b)
}

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
	b = appendU32(b, uint32(len(stopFlagExport)))
	b = append(b, stopFlagExport...)
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

// scanImports returns the number of imported globals and memories, and
// refuses an import named like the stop flag.
func scanImports(p []byte) (globals, memories uint32, err error) {
	r := reader{b: p}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		name := r.name()
		if string(name) == stopFlagExport {
			return 0, 0, errReservedName
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
// stop flag.
func scanExports(p []byte) (uint32, error) {
	r := reader{b: p}
	count := r.u32()
	for n := count; n > 0 && r.err == nil; n-- {
		if string(r.name()) == stopFlagExport {
			return 0, errReservedName
		}
		r.byte()
		r.u32()
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

// rewriteCode inserts check at the entry of every function body and after
// every loop's block type, and re-encodes the body sizes.
func rewriteCode(p []byte, stop uint32, check []byte) ([]byte, error) {
	r := reader{b: p}
	count := r.u32()
	out := appendU32(make([]byte, 0, len(p)+len(p)/8+16), count)
	var body []byte
	for i := uint32(0); i < count && r.err == nil; i++ {
		size := r.u32()
		src := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		body, err = rewriteBody(body[:0], src, stop, check)
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

func rewriteBody(out, src []byte, stop uint32, check []byte) ([]byte, error) {
	r := reader{b: src}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.u32()
		r.valType()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	out = append(out, src[:r.off]...)
	out = append(out, check...)
	last := r.off
	for r.off < len(r.b) && r.err == nil {
		if op := r.instr(stop); op == 0x03 && r.err == nil { // loop
			out = append(out, src[last:r.off]...)
			out = append(out, check...)
			last = r.off
		}
	}
	if r.err != nil {
		return nil, r.err
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

func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && c > 0x0f {
			r.fail(errors.New("u32 out of range"))
			return 0
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v
		}
	}
	return v
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
