;; validate_fallback: sy_route has no opinion; sy_validate answers fallback when the
;; answer's content is empty, otherwise 0 (accept).
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 200) "\"content\":\"\"")
  (data (i32.const 100000) "{\"verdict\":\"fallback\",\"reason\":\"empty content\"}")
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
  (func (export "sy_route") (param i32 i32) (result i64) (i64.const 0))
  (func (export "sy_validate") (param $p i32) (param $n i32) (result i64)
    (if (call $find (local.get $p) (local.get $n) (i32.const 200) (i32.const 12))
      (then (return (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 47)))))
    (i64.const 0))
)
