package instrument

import "slices"

// This file makes the jumps of Go's Wasm code cheaper.
//
// Go's Wasm backend compiles every function into one dispatch loop:
//
//	loop                          ;; the dispatch loop
//	  block block ... block       ;; one per basic block that can be jumped to
//	    local.get $PC_B
//	    br_table ...              ;; PC_B -> the block whose end precedes that code
//	  end  code of block 0
//	  end  code of block 1 ...
//
// and every taken jump between basic blocks, forward ones included, as
//
//	i32.const K  local.set $PC_B  br $dispatch_loop
//
// so each one costs an indirect jump through a table of up to hundreds of
// entries, from one site that serves every jump of the function (so often
// mispredicted), plus the loop check. Two rewrites, each exact:
//
//   - Forward jumps. Where the block br_table would pick for K still
//     encloses the jump, a br to that block lands on the same instruction
//     with the same locals: the path from the loop header to br_table only
//     opens void blocks and reads $PC_B, which the jump has just set (the
//     local.set stays). A forward br cannot repeat code, so every cycle
//     still passes a loop header (and its check) or a function entry.
//   - Backward jumps still go through the loop. Before its br_table, one
//     compare and br_if per backward target K of the function (the loop
//     heads of the Go code, a few per function) sends those to their block
//     through a direct, well-predicted branch; br_table serves the rest
//     (function entry, resumption after a goroutine switch).
//
// Nothing here depends on the module being Go's: a function without a loop
// that starts exactly this way is left alone, and a jump is rewritten only
// when it matches the three-instruction pattern.

// maxShortcuts bounds the compares inserted before a dispatch br_table: a
// function with more backward targets keeps br_table for the rest.
const maxShortcuts = 8

// Prologue states of dispatch.
const (
	psSeek   = iota // looking for a void loop
	psLoop          // after the loop: the first block
	psBlocks        // more blocks, or local.get $PC_B
	psGet           // br_table
	psDone          // matched: jumps are rewritten
)

// dispatch recognises the dispatch loop of one function body and rewrites
// its jumps. Feed it every instruction of the body in order.
type dispatch struct {
	frames []int // ids of the open blocks, loops and ifs, outermost first
	nextID int

	state   int
	loopID  int    // the dispatch loop's frame id
	pcLocal uint32 // the local br_table reads
	getAt   int    // offset of that local.get
	// The frame br_table picks for each K (the last is the default), and
	// the label it names.
	targets []target
	// backward lists the K of the function's backward jumps, in order of
	// first appearance; a first pass over the body fills it.
	backward []uint32
	loopAt   int  // offset of the dispatch loop instruction
	other    bool // a branch other than the jump pattern targets the dispatch loop

	// The two instructions before the current one: opcode and offset.
	prev [2]struct {
		op    byte
		start int
	}
}

// target is a frame: its position on the control stack, its id, and the
// label br_table uses for it.
type target struct {
	pos, id int
	label   uint32
}

// action says what to do with the instruction observe was given: replace
// a br's depth (direct), or insert the shortcuts before dispatchAt (-1:
// nothing).
type action struct {
	direct     bool
	backward   bool // a jump to the dispatch loop, matching the pattern
	depth      uint32
	dispatchAt int
}

// observe takes the instruction at src[start:end] with opcode op.
func (d *dispatch) observe(src []byte, start, end int, op byte) action {
	act := action{dispatchAt: -1}
	if d.state < psDone {
		if d.prologue(src[:end], start, op) {
			act.dispatchAt = d.getAt
		}
	} else {
		switch op {
		case 0x0c: // br
			act.depth, act.direct, act.backward = d.jump(src[:end], start)
			if !act.direct && !act.backward {
				d.otherBranch(src[:end], start, op)
			}
		case 0x0d, 0x0e: // br_if, br_table
			d.otherBranch(src[:end], start, op)
		}
	}
	switch op {
	case 0x02, 0x03, 0x04: // block, loop, if
		d.nextID++
		d.frames = append(d.frames, d.nextID)
	case 0x0b: // end
		if len(d.frames) > 0 {
			d.frames = d.frames[:len(d.frames)-1]
		}
	}
	d.prev[0] = d.prev[1]
	d.prev[1].op, d.prev[1].start = op, start
	return act
}

// prologue advances the match of loop block+ local.get $x br_table, with
// the loop and every block void, and reports true at the br_table that
// completes it. What comes before the loop does not matter (Go caches its
// stack pointer in a local and may open a block to unwind through); a loop
// that does not start this way is not a dispatch loop, and the search goes
// on.
func (d *dispatch) prologue(src []byte, start int, op byte) bool {
	void := start+1 < len(src) && src[start+1] == 0x40
	imm := reader{b: src, off: start + 1}
	next := psSeek
	switch {
	case op == 0x03 && void: // loop
		d.loopID = d.nextID + 1 // the id observe gives this loop
		d.loopAt = start
		next = psLoop
	case (d.state == psLoop || d.state == psBlocks) && op == 0x02 && void:
		next = psBlocks
	case d.state == psBlocks && op == 0x20: // local.get
		d.pcLocal, d.getAt = imm.u32(), start
		next = psGet
	case d.state == psGet && op == 0x0e: // br_table
		n := imm.vecLen()
		if imm.err != nil {
			break
		}
		targets := make([]target, 0, n+1)
		for i := uint32(0); i <= n; i++ {
			l := imm.u32()
			if imm.err != nil || uint64(l) >= uint64(len(d.frames)) {
				break
			}
			pos := len(d.frames) - 1 - int(l)
			targets = append(targets, target{pos: pos, id: d.frames[pos], label: l})
			d.other = d.other || d.frames[pos] == d.loopID
		}
		if len(targets) == int(n)+1 {
			d.targets, next = targets, psDone
		}
	}
	if imm.err != nil {
		next = psSeek
	}
	d.state = next
	return next == psDone
}

// pick returns the frame br_table picks for k.
func (d *dispatch) pick(k uint32) target {
	if uint64(k) < uint64(len(d.targets)-1) {
		return d.targets[k]
	}
	return d.targets[len(d.targets)-1]
}

// jump looks at the br at start. When it ends i32.const K; local.set $PC_B;
// br $dispatch_loop, it reports the direct depth if the frame br_table
// picks for K still encloses the br, and backward otherwise (adding K to
// d.backward).
func (d *dispatch) jump(src []byte, start int) (depth uint32, direct, backward bool) {
	if d.prev[0].op != 0x41 || d.prev[1].op != 0x21 {
		return 0, false, false
	}
	k := reader{b: src, off: d.prev[0].start + 1}
	kv := uint32(k.s32())
	set := reader{b: src, off: d.prev[1].start + 1}
	br := reader{b: src, off: start + 1}
	l := br.u32()
	if k.err != nil || set.u32() != d.pcLocal || set.err != nil || br.err != nil ||
		uint64(l) >= uint64(len(d.frames)) || d.frames[len(d.frames)-1-int(l)] != d.loopID {
		return 0, false, false
	}
	t := d.pick(kv)
	if t.id == d.loopID || t.pos >= len(d.frames) || d.frames[t.pos] != t.id {
		if !slices.Contains(d.backward, kv) {
			d.backward = append(d.backward, kv)
		}
		return 0, false, true
	}
	return uint32(len(d.frames) - 1 - t.pos), true, false
}

// otherBranch notes whether the br, br_if or br_table at start can branch
// to the dispatch loop.
func (d *dispatch) otherBranch(src []byte, start int, op byte) {
	r := reader{b: src, off: start + 1}
	n := uint32(0)
	if op == 0x0e {
		n = r.u32()
	}
	for i := uint64(0); i <= uint64(n) && r.err == nil; i++ {
		l := r.u32()
		if r.err == nil && uint64(l) < uint64(len(d.frames)) && d.frames[len(d.frames)-1-int(l)] == d.loopID {
			d.other = true
			return
		}
	}
}

// appendShortcuts appends, for the first maxShortcuts backward targets K
// in backward,
//
//	local.get $PC_B  i32.const K  i32.eq  br_if <br_table's label for K>
//
// to be placed right before the prologue's local.get $PC_B, where the
// labels mean what they mean to br_table. (Ordering them by the number of
// jumps to each, or allowing 32, measured the same.)
func (d *dispatch) appendShortcuts(b []byte, backward []uint32) []byte {
	for i, k := range backward {
		if i == maxShortcuts {
			break
		}
		b = append(b, 0x20)
		b = appendU32(b, d.pcLocal)
		b = append(b, 0x41)
		b = appendS32(b, int32(k))
		b = append(b, 0x46, 0x0d) // i32.eq, br_if
		b = appendU32(b, d.pick(k).label)
	}
	return b
}
