;; trapnear: logs one line through switchyard.log (the test's log handler
;; holds it until the deadline has passed, or cancels the request), then
;; executes unreachable: a trap of the rule's own, right at the deadline.
(module
  (import "switchyard" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 200) "about to trap")
  (func (export "sy_route") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 200) (i32.const 13))
    unreachable)
)
