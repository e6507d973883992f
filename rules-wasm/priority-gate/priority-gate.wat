;; priority-gate: a Switchyard rule (ABI v1) in plain WebAssembly text.
;; Rejects requests whose priority is below a configured minimum; no
;; opinion on everything else. Build:
;;   wat2wasm rules-wasm/priority-gate/priority-gate.wat -o bin/rules/priority-gate.wasm
;;
;; Memory layout (2 pages, 128 KiB):
;;   0     .. 4095   constant strings
;;   4096  .. 69631  the sy_alloc buffer (inputs up to 64 KiB)
;;   69632 .. 70655  the output
(module
  (memory (export "memory") 2 2)

  (data (i32.const 16) "\22priority\22:")            ;; 11 bytes
  (data (i32.const 32) "\22min_priority\22:")        ;; 15 bytes
  (data (i32.const 64) "\22status\22:")              ;; 9 bytes
  (data (i32.const 128) "{\22reject\22:{\22status\22:") ;; 20 bytes
  (data (i32.const 160) ",\22message\22:\22priority-gate: priority ") ;; 36 bytes
  (data (i32.const 208) " is below ")              ;; 10 bytes
  (data (i32.const 224) "\22},\22reason\22:\22below the priority gate\22,\22tags\22:[\22shed\22]}") ;; 54 bytes

  (global $min (mut i32) (i32.const 2))     ;; reject priority < $min
  (global $status (mut i32) (i32.const 429))

  (func (export "sy_abi_v1"))

  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 4096))

  ;; find returns the offset just past needle in [hay, hay+len), or -1.
  (func $find (param $hay i32) (param $len i32) (param $needle i32) (param $nlen i32) (result i32)
    (local $i i32) (local $j i32) (local $last i32)
    (local.set $last (i32.sub (local.get $len) (local.get $nlen)))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_s (local.get $i) (local.get $last)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nlen))
              (then (return (i32.add (i32.add (local.get $hay) (local.get $i)) (local.get $nlen)))))
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (i32.add (local.get $hay) (local.get $i)) (local.get $j)))
                (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const -1))

  ;; int reads a non-negative decimal integer at p (spaces skipped) before
  ;; end; -1 when there is none. Values are capped at 1,000,000.
  (func $int (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $n i32) (local $seen i32)
    (block $done
      (loop $sp
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 32))
                    (i32.or (i32.eq (local.get $c) (i32.const 9))
                            (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13)))))
          (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $sp))))
      (loop $dig
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $seen (i32.const 1))
        (if (i32.lt_u (local.get $n) (i32.const 1000000))
          (then (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $dig)))
    (if (result i32) (local.get $seen) (then (local.get $n)) (else (i32.const -1))))

  ;; copy copies n bytes from src to dst and returns dst+n.
  (func $copy (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $n))
    (i32.add (local.get $dst) (local.get $n)))

  ;; itoa writes a non-negative integer at dst and returns the end.
  (func $itoa (param $dst i32) (param $v i32) (result i32)
    (local $div i32) (local $started i32)
    (local.set $div (i32.const 1000000000))
    (loop $l
      (if (i32.or (local.get $started)
                  (i32.or (i32.ge_u (local.get $v) (local.get $div)) (i32.eq (local.get $div) (i32.const 1))))
        (then
          (i32.store8 (local.get $dst) (i32.add (i32.const 48) (i32.div_u (local.get $v) (local.get $div))))
          (local.set $v (i32.rem_u (local.get $v) (local.get $div)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
          (local.set $started (i32.const 1))))
      (local.set $div (i32.div_u (local.get $div) (i32.const 10)))
      (br_if $l (local.get $div)))
    (local.get $dst))

  ;; sy_init reads {"min_priority": N, "status": S}; both optional.
  ;; N must be 0..11 (0 or 1: gate open, 11: reject everything);
  ;; S must be 429 or 503.
  (func (export "sy_init") (param $ptr i32) (param $len i32) (result i32)
    (local $at i32) (local $v i32) (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $at (call $find (local.get $ptr) (local.get $len) (i32.const 32) (i32.const 15)))
    (if (i32.ge_s (local.get $at) (i32.const 0))
      (then
        (local.set $v (call $int (local.get $at) (local.get $end)))
        (if (i32.or (i32.lt_s (local.get $v) (i32.const 0)) (i32.gt_s (local.get $v) (i32.const 11)))
          (then (return (i32.const 1))))
        (global.set $min (local.get $v))))
    (local.set $at (call $find (local.get $ptr) (local.get $len) (i32.const 64) (i32.const 9)))
    (if (i32.ge_s (local.get $at) (i32.const 0))
      (then
        (local.set $v (call $int (local.get $at) (local.get $end)))
        (if (i32.and (i32.ne (local.get $v) (i32.const 429)) (i32.ne (local.get $v) (i32.const 503)))
          (then (return (i32.const 2))))
        (global.set $status (local.get $v))))
    (i32.const 0))

  ;; sy_route rejects when the request's priority is below the gate. The
  ;; host writes request.priority before any client-controlled object, so
  ;; the first "priority": key is the request's.
  (func (export "sy_route") (param $ptr i32) (param $len i32) (result i64)
    (local $at i32) (local $prio i32) (local $o i32)
    (local.set $at (call $find (local.get $ptr) (local.get $len) (i32.const 16) (i32.const 11)))
    (if (i32.lt_s (local.get $at) (i32.const 0)) (then (return (i64.const 0))))
    (local.set $prio (call $int (local.get $at) (i32.add (local.get $ptr) (local.get $len))))
    (if (i32.or (i32.lt_s (local.get $prio) (i32.const 0))
                (i32.ge_s (local.get $prio) (global.get $min)))
      (then (return (i64.const 0))))
    (local.set $o (call $copy (i32.const 69632) (i32.const 128) (i32.const 20)))
    (local.set $o (call $itoa (local.get $o) (global.get $status)))
    (local.set $o (call $copy (local.get $o) (i32.const 160) (i32.const 36)))
    (local.set $o (call $itoa (local.get $o) (local.get $prio)))
    (local.set $o (call $copy (local.get $o) (i32.const 208) (i32.const 10)))
    (local.set $o (call $itoa (local.get $o) (global.get $min)))
    (local.set $o (call $copy (local.get $o) (i32.const 224) (i32.const 54)))
    (i64.or (i64.shl (i64.const 69632) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $o) (i32.const 69632)))))
)
