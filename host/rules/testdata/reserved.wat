;; reserved: exports a global under the stop flag's reserved name.
(module
  (memory (export "memory") 2)
  (global (export "sy_stop_flag") (mut i32) (i32.const 0))
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "sy_route") (param i32 i32) (result i64) (i64.const 0))
)
