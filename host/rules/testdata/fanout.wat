;; fanout: two mutually recursive functions, each calling the other twice,
;; 2^40 calls deep 40 at most: no loop, no stack overflow, runs for hours.
;; Only the check at function entry can stop it.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (func $a (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add (call $b (i32.sub (local.get $n) (i32.const 1)))
                     (call $b (i32.sub (local.get $n) (i32.const 1)))))))
  (func $b (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add (call $a (i32.sub (local.get $n) (i32.const 1)))
                     (call $a (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "sy_route") (param i32 i32) (result i64)
    (i64.extend_i32_u (call $a (i32.const 40))))
)
