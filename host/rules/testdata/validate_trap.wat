;; validate_trap: sy_route has no opinion; sy_validate executes unreachable.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (func (export "sy_route") (param i32 i32) (result i64) (i64.const 0))
  (func (export "sy_validate") (param i32 i32) (result i64) unreachable)
)
