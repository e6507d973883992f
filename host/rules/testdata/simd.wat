;; simd: uses a SIMD instruction, which the rewriter does not decode, so the
;; engine falls back to wazero's context check; loops forever when the input
;; contains "loop-forever", otherwise routes to mock/mock-small.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"fixture\"}")
  (func (export "sy_route") (param $p i32) (param $n i32) (result i64)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.sub (local.get $n) (i32.const 8))))
    (block $no
      (loop $scan
        (br_if $no (i32.gt_s (local.get $p) (local.get $end)))
        ;; "-forever" compared through a v128 lane
        (if (i64.eq (i64x2.extract_lane 0 (v128.load64_zero (local.get $p))) (i64.const 0x72657665726f662d))
          (then (loop $forever (br $forever))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 73)))
)
