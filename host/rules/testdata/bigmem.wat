;; bigmem: declares a maximum memory (4 GiB) far over any rule's limit.
(module
  (memory (export "memory") 1 65536)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sy_route") (param i32 i32) (result i64) (i64.const 0))
)
