;; badtarget: routes to a target that is not a candidate.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"elsewhere\",\"model\":\"gpt-9\"}]}")
  (func (export "sy_route") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 54)))
)
