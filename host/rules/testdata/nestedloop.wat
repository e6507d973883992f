;; nestedloop: a loop inside nested blocks, left with br to an outer block (a
;; check inserted after the loop header must not shift these label depths).
;; Counts to 1000 and routes to mock/mock-small; with "loop-forever" in the
;; input the loop never reaches its exit.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"fixture\"}")
  ;; has reports whether the input contains the byte sequence "-forever".
  (func $has (param $p i32) (param $n i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.sub (local.get $n) (i32.const 8))))
    (block $no
      (loop $scan
        (br_if $no (i32.gt_s (local.get $p) (local.get $end)))
        (if (i64.eq (i64.load (local.get $p)) (i64.const 0x72657665726f662d)) ;; "-forever" little-endian
          (then (return (i32.const 1))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))
  (func (export "sy_route") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $limit i32)
    (local.set $limit (select (i32.const -1) (i32.const 1000) (call $has (local.get $p) (local.get $n))))
    (block $done
      (block $mid (result i32)
        (i32.const 7)
        (loop $count (param i32) (result i32)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $done (i32.eq (local.get $i) (local.get $limit)))
          (br $count)))
      (drop)
      unreachable)
    (if (i32.ne (local.get $i) (i32.const 1000)) (then unreachable))
    (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 73)))
)
