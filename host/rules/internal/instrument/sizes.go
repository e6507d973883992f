package instrument

import (
	"errors"
	"fmt"
	"math"
)

// CheckSizes refuses a module whose vector lengths claim more elements
// than the bytes that follow could hold. wazero allocates a vector's
// length before it reads the elements (the elements of the element
// section, a data segment's bytes, a function's locals), so a module of
// a few bytes could make the router allocate gigabytes, and fail on
// memory, while it loads a rule. Checked before wazero sees the module.
func CheckSizes(wasm []byte) error {
	const header = "\x00asm\x01\x00\x00\x00"
	if len(wasm) < len(header) || string(wasm[:len(header)]) != header {
		return nil // wazero says what is wrong
	}
	r := reader{b: wasm, off: len(header)}
	for r.off < len(r.b) {
		id := r.byte()
		p := r.bytes(int(r.u32()))
		if r.err != nil {
			return nil // malformed: wazero refuses it before allocating by it
		}
		var err error
		switch id {
		case 0:
			err = checkNames(p)
		case 1:
			err = checkTypes(p)
		case 2, 3, 4, 5, 6, 7, 13: // import, function, table, memory, global, export, tag
			s := reader{b: p}
			s.vecLen()
			err = s.err
		case 9:
			err = checkElements(p)
		case 10:
			err = checkCode(p)
		case 11:
			err = checkData(p)
		}
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
	}
	return nil
}

// checkTypes checks the function types' parameter and result vectors.
func checkTypes(p []byte) error {
	r := reader{b: p}
	for n := r.vecLen(); n > 0 && r.err == nil; n-- {
		if r.byte() != 0x60 {
			return nil // wazero refuses it
		}
		r.bytes(int(r.vecLen())) // one byte a value type
		r.bytes(int(r.vecLen()))
	}
	return lengthError(r.err)
}

// checkNames checks the name section's function and local name maps
// (wazero decodes them for its stack traces).
func checkNames(p []byte) error {
	r := reader{b: p}
	if string(r.name()) != "name" || r.err != nil {
		return nil
	}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := reader{b: r.bytes(int(r.u32()))}
		switch id {
		case 1: // function names
			sub.vecLen()
		case 2: // local names: a map of maps
			for n := sub.vecLen(); n > 0 && sub.err == nil; n-- {
				sub.u32()
				for m := sub.vecLen(); m > 0 && sub.err == nil; m-- {
					sub.u32()
					sub.name()
				}
			}
		}
		if err := lengthError(sub.err); err != nil {
			return fmt.Errorf("name section: %w", err)
		}
	}
	return nil
}

// checkElements checks the element segments' vectors (all eight forms).
func checkElements(p []byte) error {
	r := reader{b: p}
	for n := r.vecLen(); n > 0 && r.err == nil; n-- {
		flags := r.u32()
		if flags > 7 {
			return nil // wazero refuses it
		}
		if flags&3 == 2 { // active with an explicit table index
			r.u32()
		}
		if flags&1 == 0 { // active: an offset expression
			r.constExpr(math.MaxUint32)
		}
		if flags&3 != 0 { // an element kind or a reference type
			r.byte()
		}
		count := r.vecLen()
		for ; count > 0 && r.err == nil; count-- {
			if flags&4 != 0 {
				r.constExpr(math.MaxUint32)
			} else {
				r.u32()
			}
		}
	}
	return lengthError(r.err)
}

// checkCode checks each function's locals: their total, which wazero
// allocates, at most maxLocals.
func checkCode(p []byte) error {
	r := reader{b: p}
	for n := r.vecLen(); n > 0 && r.err == nil; n-- {
		body := reader{b: r.bytes(int(r.u32()))}
		var locals uint64
		for g := body.vecLen(); g > 0 && body.err == nil; g-- {
			locals += uint64(body.u32())
			body.byte()
		}
		if locals > maxLocals {
			return fmt.Errorf("a function declares %d locals, over %d", locals, maxLocals)
		}
		if err := lengthError(body.err); err != nil {
			return err
		}
	}
	return lengthError(r.err)
}

// checkData checks each data segment's length.
func checkData(p []byte) error {
	r := reader{b: p}
	for n := r.vecLen(); n > 0 && r.err == nil; n-- {
		switch flags := r.u32(); flags {
		case 0:
			r.constExpr(math.MaxUint32)
		case 1:
		case 2:
			r.u32()
			r.constExpr(math.MaxUint32)
		default:
			return nil // wazero refuses it
		}
		r.bytes(int(r.vecLen()))
	}
	return lengthError(r.err)
}

// errVectorLength is the error of a vector longer than its bytes.
var errVectorLength = errors.New("vector longer than the bytes left")

// lengthError keeps only errVectorLength: other malformations are left to
// wazero, which reports them without allocating by them.
func lengthError(err error) error {
	if errors.Is(err, errVectorLength) {
		return err
	}
	return nil
}
