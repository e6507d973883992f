;; openfile: tries to open /etc/passwd through WASI (must fail with an errno), then routes.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"fixture\"}")
  (data (i32.const 200) "/etc/passwd")
  (func (export "sy_route") (param i32 i32) (result i64)
    (local $fd i32)
    ;; try the fds a preopened directory would have: 3, 4 and 5
    (local.set $fd (i32.const 3))
    (loop $next
      (if (i32.eqz (call $path_open (local.get $fd) (i32.const 0) (i32.const 200) (i32.const 11)
                         (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 300)))
        (then unreachable)) ;; opened: fail loudly
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 6))))
    (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 73)))
)
