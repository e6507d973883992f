;; validate_retry: routes to mock/mock-small; sy_validate answers by the answer's content:
;; "RETRY" -> retry, "BADVERDICT" -> {"verdict":"maybe"} (an error), "LOOP" -> loops
;; forever, anything else -> {"verdict":"accept","reason":"fine"}.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 200) "RETRY")
  (data (i32.const 220) "BADVERDICT")
  (data (i32.const 240) "LOOP")
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"fixture\"}")
  (data (i32.const 100100) "{\"verdict\":\"retry\",\"reason\":\"asked to retry\"}")
  (data (i32.const 100200) "{\"verdict\":\"maybe\"}")
  (data (i32.const 100300) "{\"verdict\":\"accept\",\"reason\":\"fine\"}")
  ;; find reports whether needle occurs in [hay, hay+len).
  (func $find (param $hay i32) (param $len i32) (param $needle i32) (param $nlen i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $outer
        (br_if $done (i32.gt_s (local.get $i) (i32.sub (local.get $len) (local.get $nlen))))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nlen)) (then (return (i32.const 1))))
            (br_if $miss (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $hay) (local.get $i)) (local.get $j)))
              (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))
  (func (export "sy_route") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 73)))
  (func (export "sy_validate") (param $p i32) (param $n i32) (result i64)
    (if (call $find (local.get $p) (local.get $n) (i32.const 200) (i32.const 5))
      (then (return (i64.or (i64.shl (i64.const 100100) (i64.const 32)) (i64.const 45)))))
    (if (call $find (local.get $p) (local.get $n) (i32.const 220) (i32.const 10))
      (then (return (i64.or (i64.shl (i64.const 100200) (i64.const 32)) (i64.const 19)))))
    (if (call $find (local.get $p) (local.get $n) (i32.const 240) (i32.const 4))
      (then (loop $forever (br $forever))))
    (i64.or (i64.shl (i64.const 100300) (i64.const 32)) (i64.const 36)))
)
