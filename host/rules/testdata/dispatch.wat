;; dispatch: control flow shaped like Go's Wasm code (one dispatch loop per
;; function, every jump as "i32.const K  local.set $pc  br $dispatch"), with
;; forward jumps, a backward jump (the loop of $sum) and, when the input
;; contains "loop-forever", a cycle made only of such jumps ($spin).
;; Routes to mock/mock-small when $sum(1000) = 499500.
(module
  (memory (export "memory") 2)
  (func (export "sy_abi_v1"))
  (func (export "sy_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 1024))
  (data (i32.const 100000) "{\"targets\":[{\"provider\":\"mock\",\"model\":\"mock-small\"}],\"reason\":\"fixture\"}")
  (data (i32.const 200) "loop-forever")

  ;; sum returns 0 + 1 + ... + n-1.
  (func $sum (param $pc i32) (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    loop $dispatch
      block $b3
        block $b2
          block $b1
            block $b0
              local.get $pc
              br_table $b0 $b1 $b2 $b3
            end
            ;; block 0: start
            i32.const 0
            local.set $i
            i32.const 1
            local.set $pc
            br $dispatch            ;; forward
          end
          ;; block 1: the loop head
          local.get $i
          local.get $n
          i32.ge_u
          if
            i32.const 3
            local.set $pc
            br $dispatch            ;; forward, from inside an if
          end
          i32.const 2
          local.set $pc
          br $dispatch              ;; forward
        end
        ;; block 2: the loop body
        local.get $acc
        local.get $i
        i32.add
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        i32.const 1
        local.set $pc
        br $dispatch                ;; backward
      end
      ;; block 3: done
      local.get $acc
      return
    end
    unreachable)

  ;; spin never returns: block 1 jumps back to block 0 and 0 to 1.
  (func $spin (param $pc i32)
    loop $dispatch
      block $b1
        block $b0
          local.get $pc
          br_table $b0 $b1 $b1
        end
        i32.const 1
        local.set $pc
        br $dispatch                ;; forward
      end
      i32.const 0
      local.set $pc
      br $dispatch                  ;; backward
    end)

  ;; find reports whether the 12 bytes at 200 occur in [hay, hay+len).
  (func $find (param $hay i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $outer
        (br_if $done (i32.gt_s (local.get $i) (i32.sub (local.get $len) (i32.const 12))))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (if (i32.eq (local.get $j) (i32.const 12)) (then (return (i32.const 1))))
            (br_if $miss (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $hay) (local.get $i)) (local.get $j)))
              (i32.load8_u (i32.add (i32.const 200) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  (func (export "sy_route") (param $p i32) (param $n i32) (result i64)
    (if (call $find (local.get $p) (local.get $n))
      (then (call $spin (i32.const 0))))
    (if (i32.ne (call $sum (i32.const 0) (i32.const 1000)) (i32.const 499500))
      (then unreachable))
    (i64.or (i64.shl (i64.const 100000) (i64.const 32)) (i64.const 73)))
)
