;; template.wat: the Switchyard WAT kit (Rule ABI v1, api/rules/ABI.md).
;; Copy this file to rules-wasm/<name>/<name>.wat and fill in THE RULE below;
;; everything above it is the kit (keep it unchanged, so kit fixes can be
;; copied over). As it stands the template builds and has no opinion.
;; Build:
;;   wat2wasm rules-wasm/<name>/<name>.wat -o bin/rules/<name>.wasm
;; See README.md beside this file for the helpers and their conventions.
;;
;; Memory (grows on demand):
;;   0      .. 127    the kit's constant strings
;;   128    .. 1023   the rule's constant strings (data segments)
;;   1024   .. 3839   the rule's own fixed scratch
;;   3840   .. 4023   the kit's table of powers of ten
;;   65536  .. +cap   the sy_alloc input buffer (cap grows, never moves)
;;   then            the per-call arena ($alloc), reset at every call; the
;;                   64 KiB output buffer is its first allocation
(module
  (import "switchyard" "log" (func $host_log (param i32 i32 i32)))
  (memory (export "memory") 2)

  ;; ---- kit constants (offsets 16..127) ----
  (data (i32.const 16) "null")
  (data (i32.const 24) "{\22error\22:\22input is not valid JSON\22}") ;; 35 bytes
  ;; 10^0 .. 10^22 as f64, for $number
  (data (i32.const 3840) "\00\00\00\00\00\00\f0\3f\00\00\00\00\00\00\24\40\00\00\00\00\00\00\59\40\00\00\00\00\00\40\8f\40\00\00\00\00\00\88\c3\40\00\00\00\00\00\6a\f8\40\00\00\00\00\80\84\2e\41\00\00\00\00\d0\12\63\41\00\00\00\00\84\d7\97\41\00\00\00\00\65\cd\cd\41\00\00\00\20\5f\a0\02\42\00\00\00\e8\76\48\37\42\00\00\00\a2\94\1a\6d\42\00\00\40\e5\9c\30\a2\42\00\00\90\1e\c4\bc\d6\42\00\00\34\26\f5\6b\0c\43\00\80\e0\37\79\c3\41\43\00\a0\d8\85\57\34\76\43\00\c8\4e\67\6d\c1\ab\43\00\3d\91\60\e4\58\e1\43\40\8c\b5\78\1d\af\15\44\50\ef\e2\d6\e4\1a\4b\44\92\d5\4d\06\cf\f0\80\44")

  ;; ---- kit state ----
  (global $HEAP i32 (i32.const 65536))
  (global $in_cap (mut i32) (i32.const 0))   ;; capacity of the input buffer at $HEAP
  (global $arena (mut i32) (i32.const 65536)) ;; first byte after the input buffer
  (global $top (mut i32) (i32.const 65536))   ;; arena bump pointer
  (global $end (mut i32) (i32.const 0))       ;; end of the JSON being read
  (global $err (mut i32) (i32.const 0))       ;; set by any reader on malformed input
  (global $done (mut i32) (i32.const 0))      ;; $member/$element: the object/array ended
  (global $sp (mut i32) (i32.const 0))        ;; $string: raw (still escaped) contents
  (global $sn (mut i32) (i32.const 0))
  (global $kp (mut i32) (i32.const 0))        ;; $member: the key (raw contents)
  (global $kn (mut i32) (i32.const 0))
  (global $f (mut f64) (f64.const 0))         ;; $number: the value
  (global $i (mut i64) (i64.const 0))         ;; $number: the value truncated to an integer
  (global $b (mut i32) (i32.const 0))         ;; $bool: the value
  (global $out (mut i32) (i32.const 0))       ;; output buffer (64 KiB, in the arena)
  (global $on (mut i32) (i32.const 0))        ;; output length

  (func (export "sy_abi_v1"))

  ;; $reserve grows memory so that [0, end) exists; 0 when it cannot.
  (func $reserve (param $end i32) (result i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)))
    (if (i32.le_u (local.get $need) (memory.size)) (then (return (i32.const 1))))
    (i32.ne (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1)))

  ;; sy_alloc: the input buffer always starts at $HEAP; it grows in place and
  ;; stays valid until the next sy_alloc. The arena starts after it.
  (func (export "sy_alloc") (param $size i32) (result i32)
    (local $cap i32)
    (if (i32.gt_u (local.get $size) (global.get $in_cap))
      (then
        (local.set $cap (i32.and (i32.add (local.get $size) (i32.const 4095)) (i32.const -4096)))
        (if (i32.or (i32.gt_u (local.get $size) (i32.const 0x40000000))
                    (i32.eqz (call $reserve (i32.add (global.get $HEAP) (local.get $cap)))))
          (then (return (i32.const 0))))
        (global.set $in_cap (local.get $cap))))
    (global.set $arena (i32.add (global.get $HEAP) (global.get $in_cap)))
    (global.get $HEAP))

  ;; $begin starts a call: resets the arena and the reader on [ptr, ptr+len).
  (func $begin (param $ptr i32) (param $len i32)
    (global.set $top (global.get $arena))
    (global.set $end (i32.add (local.get $ptr) (local.get $len)))
    (global.set $err (i32.const 0)))

  ;; $alloc returns n bytes (8-aligned) of the per-call arena; 0 when memory
  ;; is exhausted.
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $e i32)
    (local.set $p (i32.and (i32.add (global.get $top) (i32.const 7)) (i32.const -8)))
    (local.set $e (i32.add (local.get $p) (local.get $n)))
    (if (i32.eqz (call $reserve (local.get $e))) (then (return (i32.const 0))))
    (global.set $top (local.get $e))
    (local.get $p))

  ;; $log writes n bytes at p to the host log (level 0 debug .. 3 error).
  (func $log (param $level i32) (param $p i32) (param $n i32)
    (call $host_log (local.get $level) (local.get $p) (local.get $n)))

  ;; ---- JSON reading. Every reader takes the position of a value (white
  ;; space allowed before it), returns the position after it and leaves
  ;; what it read in a global. On malformed input it sets $err and returns
  ;; $end, so loops stop. The kit trusts the router's JSON to be well formed
  ;; where that saves work (commas and literals are not checked strictly).

  ;; $ws skips white space. The first test avoids entering the loop on
  ;; compact JSON: every loop entry costs a deadline check in the router.
  (func $ws (param $p i32) (result i32)
    (local $c i32)
    (if (i32.ge_u (local.get $p) (global.get $end)) (then (return (local.get $p))))
    (if (i32.gt_u (i32.load8_u (local.get $p)) (i32.const 32)) (then (return (local.get $p))))
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $p) (global.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $out (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 10)))
                                     (i32.or (i32.eq (local.get $c) (i32.const 9)) (i32.eq (local.get $c) (i32.const 13))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $l)))
    (local.get $p))

  ;; $fail marks the input malformed.
  (func $fail (result i32)
    (global.set $err (i32.const 1))
    (global.get $end))

  ;; $peek is the byte at p after white space, or -1 at the end.
  (func $peek (param $p i32) (result i32)
    (local.set $p (call $ws (local.get $p)))
    (if (result i32) (i32.lt_u (local.get $p) (global.get $end))
      (then (i32.load8_u (local.get $p))) (else (i32.const -1))))

  ;; $eq compares n bytes at a and b (word loads, no loop up to 24 bytes).
  (func $eq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (local $i i32)
    (if (i32.ge_u (local.get $n) (i32.const 8))
      (then
        (if (i32.le_u (local.get $n) (i32.const 16))
          (then (return (i32.and
            (i64.eq (i64.load (local.get $a)) (i64.load (local.get $b)))
            (i64.eq (i64.load (i32.sub (i32.add (local.get $a) (local.get $n)) (i32.const 8)))
                    (i64.load (i32.sub (i32.add (local.get $b) (local.get $n)) (i32.const 8))))))))
        (if (i32.le_u (local.get $n) (i32.const 24))
          (then (return (i32.and (i32.and
            (i64.eq (i64.load (local.get $a)) (i64.load (local.get $b)))
            (i64.eq (i64.load offset=8 (local.get $a)) (i64.load offset=8 (local.get $b))))
            (i64.eq (i64.load (i32.sub (i32.add (local.get $a) (local.get $n)) (i32.const 8)))
                    (i64.load (i32.sub (i32.add (local.get $b) (local.get $n)) (i32.const 8))))))))
        (loop $l
          (if (i64.ne (i64.load (i32.add (local.get $a) (local.get $i))) (i64.load (i32.add (local.get $b) (local.get $i))))
            (then (return (i32.const 0))))
          (local.set $i (i32.add (local.get $i) (i32.const 8)))
          (br_if $l (i32.le_u (i32.add (local.get $i) (i32.const 8)) (local.get $n))))
        (return (i64.eq (i64.load (i32.sub (i32.add (local.get $a) (local.get $n)) (i32.const 8)))
                        (i64.load (i32.sub (i32.add (local.get $b) (local.get $n)) (i32.const 8)))))))
    (if (i32.ge_u (local.get $n) (i32.const 4))
      (then (return (i32.and
        (i32.eq (i32.load (local.get $a)) (i32.load (local.get $b)))
        (i32.eq (i32.load (i32.sub (i32.add (local.get $a) (local.get $n)) (i32.const 4)))
                (i32.load (i32.sub (i32.add (local.get $b) (local.get $n)) (i32.const 4))))))))
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then (return (i32.and
        (i32.eq (i32.load16_u (local.get $a)) (i32.load16_u (local.get $b)))
        (i32.eq (i32.load16_u (i32.sub (i32.add (local.get $a) (local.get $n)) (i32.const 2)))
                (i32.load16_u (i32.sub (i32.add (local.get $b) (local.get $n)) (i32.const 2))))))))
    (if (result i32) (local.get $n)
      (then (i32.eq (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
      (else (i32.const 1))))

  ;; $key_is: the last key read by $member is the n bytes at lit.
  (func $key_is (param $lit i32) (param $n i32) (result i32)
    (if (i32.ne (global.get $kn) (local.get $n)) (then (return (i32.const 0))))
    (call $eq (global.get $kp) (local.get $lit) (local.get $n)))

  ;; $str_is: the last string read by $string is the n bytes at lit (raw
  ;; comparison: fine for names without escapes, such as "open").
  (func $str_is (param $lit i32) (param $n i32) (result i32)
    (if (i32.ne (global.get $sn) (local.get $n)) (then (return (i32.const 0))))
    (call $eq (global.get $sp) (local.get $lit) (local.get $n)))

  ;; $string reads a string: $sp/$sn get its raw contents, still escaped
  ;; (copy them into output as they are). Eight bytes a step while none is
  ;; a quote, a backslash or a control byte.
  (func $string (param $p i32) (result i32)
    (local $start i32) (local $w i64) (local $q i64) (local $e i64) (local $c i32)
    (local.set $p (call $ws (local.get $p)))
    (if (i32.or (i32.ge_u (local.get $p) (global.get $end)) (i32.ne (i32.load8_u (local.get $p)) (i32.const 34)))
      (then (return (call $fail))))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (local.set $start (local.get $p))
    (block $closed
      (loop $scan
        (block $slow
          (loop $fast
            (br_if $slow (i32.lt_s (i32.sub (global.get $end) (local.get $p)) (i32.const 8)))
            (local.set $w (i64.load (local.get $p)))
            (local.set $q (i64.xor (local.get $w) (i64.const 0x2222222222222222)))
            (local.set $e (i64.xor (local.get $w) (i64.const 0x5c5c5c5c5c5c5c5c)))
            (br_if $slow (i64.ne (i64.const 0) (i64.and (i64.const 0x8080808080808080) (i64.or (i64.or
              (i64.and (i64.sub (local.get $q) (i64.const 0x0101010101010101)) (i64.xor (local.get $q) (i64.const -1)))
              (i64.and (i64.sub (local.get $e) (i64.const 0x0101010101010101)) (i64.xor (local.get $e) (i64.const -1))))
              (i64.and (i64.sub (local.get $w) (i64.const 0x2020202020202020)) (i64.xor (local.get $w) (i64.const -1)))))))
            (local.set $p (i32.add (local.get $p) (i32.const 8)))
            (br $fast)))
        ;; then a byte at a time up to the quote, backslash or control byte
        (block $stop
          (loop $bytes
            (br_if $stop (i32.ge_u (local.get $p) (global.get $end)))
            (local.set $c (i32.load8_u (local.get $p)))
            (br_if $stop (i32.or (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
                                 (i32.lt_u (local.get $c) (i32.const 32))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $bytes)))
        (if (i32.ge_u (local.get $p) (global.get $end)) (then (return (call $fail))))
        (br_if $closed (i32.eq (local.get $c) (i32.const 34)))
        (if (i32.lt_u (local.get $c) (i32.const 32)) (then (return (call $fail))))
        (local.set $p (i32.add (local.get $p) (i32.const 2))) ;; a backslash and the byte it escapes
        (br $scan)))
    (global.set $sp (local.get $start))
    (global.set $sn (i32.sub (local.get $p) (local.get $start)))
    (i32.add (local.get $p) (i32.const 1)))

  ;; $number reads a number (null reads as 0): $f gets it, $i gets it
  ;; truncated toward zero (exact for integers up to 10^17).
  (func $number (param $p i32) (result i32)
    (local $neg i32) (local $m i64) (local $digits i32) (local $exp i32) (local $e i32)
    (local $eneg i32) (local $c i32) (local $scale f64) (local $v f64)
    (local.set $p (call $ws (local.get $p)))
    (if (i32.ge_u (local.get $p) (global.get $end)) (then (return (call $fail))))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 110)) ;; n(ull)
      (then (global.set $f (f64.const 0)) (global.set $i (i64.const 0))
            (return (i32.add (local.get $p) (i32.const 4)))))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45))
      (then (local.set $neg (i32.const 1)) (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    ;; integer part
    (block $x
      (loop $l
        (br_if $x (i32.ge_u (local.get $p) (global.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $x (i32.gt_u (local.get $c) (i32.const 9)))
        (if (i64.lt_u (local.get $m) (i64.const 100000000000000000))
          (then (local.set $m (i64.add (i64.mul (local.get $m) (i64.const 10)) (i64.extend_i32_u (local.get $c)))))
          (else (local.set $exp (i32.add (local.get $exp) (i32.const 1)))))
        (local.set $digits (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $l)))
    (if (i32.eqz (local.get $digits)) (then (return (call $fail))))
    ;; fraction
    (if (i32.and (i32.lt_u (local.get $p) (global.get $end)) (i32.eq (i32.load8_u (local.get $p)) (i32.const 46)))
      (then
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (block $x
          (loop $l
            (br_if $x (i32.ge_u (local.get $p) (global.get $end)))
            (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
            (br_if $x (i32.gt_u (local.get $c) (i32.const 9)))
            (if (i64.lt_u (local.get $m) (i64.const 100000000000000000))
              (then
                (local.set $m (i64.add (i64.mul (local.get $m) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
                (local.set $exp (i32.sub (local.get $exp) (i32.const 1)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $l)))))
    ;; exponent
    (if (i32.and (i32.lt_u (local.get $p) (global.get $end))
                 (i32.eq (i32.or (i32.load8_u (local.get $p)) (i32.const 32)) (i32.const 101)))
      (then
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.lt_u (local.get $p) (global.get $end))
          (then
            (local.set $c (i32.load8_u (local.get $p)))
            (if (i32.or (i32.eq (local.get $c) (i32.const 43)) (i32.eq (local.get $c) (i32.const 45)))
              (then
                (local.set $eneg (i32.eq (local.get $c) (i32.const 45)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))))))
        (block $x
          (loop $l
            (br_if $x (i32.ge_u (local.get $p) (global.get $end)))
            (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
            (br_if $x (i32.gt_u (local.get $c) (i32.const 9)))
            (if (i32.lt_u (local.get $e) (i32.const 10000))
              (then (local.set $e (i32.add (i32.mul (local.get $e) (i32.const 10)) (local.get $c)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $l)))
        (local.set $exp (select (i32.sub (local.get $exp) (local.get $e)) (i32.add (local.get $exp) (local.get $e))
                                (local.get $eneg)))))
    (local.set $v (f64.convert_i64_u (local.get $m)))
    (if (local.get $exp)
      (then
        (local.set $scale (f64.const 1))
        (local.set $e (select (i32.sub (i32.const 0) (local.get $exp)) (local.get $exp) (i32.lt_s (local.get $exp) (i32.const 0))))
        (if (i32.gt_u (local.get $e) (i32.const 22))
          (then
            (if (i32.gt_u (local.get $e) (i32.const 400)) (then (local.set $e (i32.const 400))))
            (loop $l
              (local.set $scale (f64.mul (local.get $scale) (f64.const 1e22)))
              (local.set $e (i32.sub (local.get $e) (i32.const 22)))
              (br_if $l (i32.gt_u (local.get $e) (i32.const 22))))))
        (local.set $scale (f64.mul (local.get $scale) (f64.load (i32.add (i32.const 3840) (i32.shl (local.get $e) (i32.const 3))))))
        (local.set $v (select (f64.div (local.get $v) (local.get $scale)) (f64.mul (local.get $v) (local.get $scale))
                              (i32.lt_s (local.get $exp) (i32.const 0))))))
    (if (local.get $neg) (then (local.set $v (f64.neg (local.get $v))) (local.set $m (i64.sub (i64.const 0) (local.get $m)))))
    (global.set $f (local.get $v))
    (global.set $i
      (if (result i64) (i32.eqz (local.get $exp))
        (then (local.get $m))
        (else (if (result i64) (f64.lt (f64.abs (local.get $v)) (f64.const 9.2e18))
          (then (i64.trunc_f64_s (local.get $v)))
          (else (select (i64.const 0x8000000000000000) (i64.const 0x7fffffffffffffff) (local.get $neg)))))))
    (local.get $p))

  ;; $bool reads true, false or null (false) into $b.
  (func $bool (param $p i32) (result i32)
    (local $c i32)
    (local.set $p (call $ws (local.get $p)))
    (local.set $c (call $peek (local.get $p)))
    (global.set $b (i32.eq (local.get $c) (i32.const 116)))
    (if (i32.eq (local.get $c) (i32.const 116)) (then (return (i32.add (local.get $p) (i32.const 4)))))
    (if (i32.eq (local.get $c) (i32.const 102)) (then (return (i32.add (local.get $p) (i32.const 5)))))
    (if (i32.eq (local.get $c) (i32.const 110)) (then (return (i32.add (local.get $p) (i32.const 4)))))
    (call $fail))

  ;; $skip skips any value.
  (func $skip (param $p i32) (result i32)
    (local $depth i32) (local $c i32)
    (loop $l
      (local.set $p (call $ws (local.get $p)))
      (if (i32.ge_u (local.get $p) (global.get $end)) (then (return (call $fail))))
      (local.set $c (i32.load8_u (local.get $p)))
      (block $next
        (block $value
          (if (i32.eq (i32.and (local.get $c) (i32.const 0xdf)) (i32.const 91)) ;; [ or {
            (then
              (local.set $depth (i32.add (local.get $depth) (i32.const 1)))
              (if (i32.gt_u (local.get $depth) (i32.const 64)) (then (return (call $fail))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $l)))
          (if (i32.eq (i32.and (local.get $c) (i32.const 0xdf)) (i32.const 93)) ;; ] or }
            (then
              (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
              (if (i32.lt_s (local.get $depth) (i32.const 0)) (then (return (call $fail))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $next)))
          (if (i32.or (i32.eq (local.get $c) (i32.const 44)) (i32.eq (local.get $c) (i32.const 58))) ;; , :
            (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $l)))
          (if (i32.eq (local.get $c) (i32.const 34)) (then (local.set $p (call $string (local.get $p))) (br $next)))
          (if (i32.or (i32.eq (local.get $c) (i32.const 116)) (i32.or (i32.eq (local.get $c) (i32.const 102)) (i32.eq (local.get $c) (i32.const 110))))
            (then (local.set $p (call $bool (local.get $p))) (br $next)))
          (br $value))
        (local.set $p (call $number (local.get $p))))
      (if (global.get $err) (then (return (global.get $end))))
      (br_if $l (i32.gt_s (local.get $depth) (i32.const 0))))
    (local.get $p))

  ;; $open reads the opening byte ch ('{' 123 or '[' 91); 0 (and no error)
  ;; for null, so optional objects read as empty.
  (func $open (param $p i32) (param $ch i32) (result i32)
    (local.set $p (call $ws (local.get $p)))
    (if (i32.eq (call $peek (local.get $p)) (local.get $ch)) (then (return (i32.add (local.get $p) (i32.const 1)))))
    (if (i32.ne (call $peek (local.get $p)) (i32.const 110)) (then (drop (call $fail))))
    (i32.const 0))

  ;; $member moves to the next member of an object opened with $open: sets
  ;; $kp/$kn to the key and returns the position of its value, or sets
  ;; $done (and returns the position after '}') at the end. Read or $skip
  ;; the value before the next $member.
  (func $member (param $p i32) (result i32)
    (local.set $p (call $ws (local.get $p)))
    (if (i32.eq (call $peek (local.get $p)) (i32.const 44)) (then (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1))))))
    (global.set $done (i32.const 0))
    (if (i32.eq (call $peek (local.get $p)) (i32.const 125))
      (then (global.set $done (i32.const 1)) (return (i32.add (local.get $p) (i32.const 1)))))
    (local.set $p (call $string (local.get $p)))
    (global.set $kp (global.get $sp))
    (global.set $kn (global.get $sn))
    (if (i32.ne (call $peek (local.get $p)) (i32.const 58)) (then (global.set $done (i32.const 1)) (return (call $fail))))
    (call $ws (i32.add (call $ws (local.get $p)) (i32.const 1))))

  ;; $element moves to the next element of an array opened with $open:
  ;; returns its position, or sets $done at the end.
  (func $element (param $p i32) (result i32)
    (local.set $p (call $ws (local.get $p)))
    (if (i32.eq (call $peek (local.get $p)) (i32.const 44)) (then (local.set $p (call $ws (i32.add (local.get $p) (i32.const 1))))))
    (global.set $done (i32.const 0))
    (if (i32.eq (call $peek (local.get $p)) (i32.const 93))
      (then (global.set $done (i32.const 1)) (return (i32.add (local.get $p) (i32.const 1)))))
    (if (i32.lt_u (local.get $p) (global.get $end)) (then (return (local.get $p))))
    (global.set $done (i32.const 1))
    (call $fail))

  ;; $find returns the position of the value of key (n bytes at lit) in the
  ;; object at p, or 0 when it is absent.
  (func $find (param $p i32) (param $lit i32) (param $n i32) (result i32)
    (local.set $p (call $open (local.get $p) (i32.const 123)))
    (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))
    (loop $l
      (local.set $p (call $member (local.get $p)))
      (if (i32.or (global.get $done) (global.get $err)) (then (return (i32.const 0))))
      (if (call $key_is (local.get $lit) (local.get $n)) (then (return (local.get $p))))
      (local.set $p (call $skip (local.get $p)))
      (br $l))
    (i32.const 0))

  ;; ---- output ----
  ;; $out_begin allocates the 64 KiB output buffer in the arena.
  (func $out_begin (result i32)
    (global.set $out (call $alloc (i32.const 65536)))
    (global.set $on (i32.const 0))
    (global.get $out))

  ;; $put appends n bytes at src (bytes past 64 KiB set $err).
  (func $put (param $src i32) (param $n i32)
    (if (i32.gt_u (i32.add (global.get $on) (local.get $n)) (i32.const 65536))
      (then (global.set $err (i32.const 1)) (return)))
    (memory.copy (i32.add (global.get $out) (global.get $on)) (local.get $src) (local.get $n))
    (global.set $on (i32.add (global.get $on) (local.get $n))))

  ;; $put_int appends a decimal integer.
  (func $put_int (param $v i64)
    (local $t i32) (local $n i32) (local $u i64)
    (local.set $t (call $alloc (i32.const 24)))
    (local.set $n (i32.const 24))
    (local.set $u (select (i64.sub (i64.const 0) (local.get $v)) (local.get $v) (i64.lt_s (local.get $v) (i64.const 0))))
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (i64.store8 (i32.add (local.get $t) (local.get $n)) (i64.add (i64.const 48) (i64.rem_u (local.get $u) (i64.const 10))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $l (i64.ne (local.get $u) (i64.const 0))))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (i32.store8 (i32.add (local.get $t) (local.get $n)) (i32.const 45))))
    (call $put (i32.add (local.get $t) (local.get $n)) (i32.sub (i32.const 24) (local.get $n))))

  ;; $out_result packs the output for sy_route: out<<32 | len, or an error
  ;; output when the input was malformed or the output overflowed.
  (func $out_result (result i64)
    (if (global.get $err)
      (then (global.set $on (i32.const 0)) (global.set $err (i32.const 0))
            (call $put (i32.const 24) (i32.const 35))))
    (i64.or (i64.shl (i64.extend_i32_u (global.get $out)) (i64.const 32)) (i64.extend_i32_u (global.get $on))))

;; ============================== THE RULE ==============================
  ;; Your constant strings go at 128 .. 1023, e.g.
  (data (i32.const 128) "candidates")          ;; 10
  (data (i32.const 144) "request")             ;; 7
  (data (i32.const 152) "priority")            ;; 8
  (data (i32.const 160) "min_priority")        ;; 12
  (data (i32.const 176) "{\22targets\22:[")  ;; 12

  (global $min_priority (mut i64) (i64.const 1))

  ;; sy_init (optional export) gets the rule's config JSON once per instance;
  ;; non-zero refuses the load. This one reads {"min_priority": N}.
  (func (export "sy_init") (param $ptr i32) (param $len i32) (result i32)
    (local $p i32)
    (call $begin (local.get $ptr) (local.get $len))
    (local.set $p (call $find (local.get $ptr) (i32.const 160) (i32.const 12)))
    (if (local.get $p)
      (then (drop (call $number (local.get $p)))
            (global.set $min_priority (global.get $i))))
    (global.get $err))

  ;; sy_route returns $out_result (out<<32 | len) for a decision, or 0 for
  ;; no opinion. The skeleton reads request.priority and walks the
  ;; candidates; fill in the decision.
  (func (export "sy_route") (param $ptr i32) (param $len i32) (result i64)
    (local $p i32) (local $req i32) (local $prio i64)
    (call $begin (local.get $ptr) (local.get $len))
    (drop (call $out_begin))
    ;; a member inside an object: request.priority (5 when absent)
    (local.set $prio (i64.const 5))
    (local.set $req (call $find (local.get $ptr) (i32.const 144) (i32.const 7)))
    (if (local.get $req)
      (then
        (local.set $p (call $find (local.get $req) (i32.const 152) (i32.const 8)))
        (if (local.get $p) (then (drop (call $number (local.get $p))) (local.set $prio (global.get $i))))))
    (if (i64.lt_s (local.get $prio) (global.get $min_priority)) (then (return (i64.const 0))))
    ;; the candidates array
    (local.set $p (call $find (local.get $ptr) (i32.const 128) (i32.const 10)))
    (if (i32.eqz (local.get $p)) (then (return (i64.const 0))))
    (local.set $p (call $open (local.get $p) (i32.const 91)))
    (if (i32.eqz (local.get $p)) (then (return (i64.const 0))))
    (loop $each
      (local.set $p (call $element (local.get $p)))
      (if (global.get $err) (then (return (call $out_result))))
      (if (i32.eqz (global.get $done))
        (then
          ;; $p is a candidate object: read its members with $open/$member
          ;; (see rules-wasm/example-wat) or look one up with $find; then
          ;; skip past it.
          (local.set $p (call $skip (local.get $p)))
          (br $each))))
    ;; to decide: (call $put (i32.const 176) (i32.const 12)) ... then
    ;; (return (call $out_result))
    (i64.const 0))
)
