;; probe: THE RULE part of a module made of template.wat's kit and this: it answers
;; with mock/mock-small and, as its reason, what $find reads of request.team,
;; request.budget and request.limits, as README.md says to read them. Not a rule to
;; ship: host/rules/abi's TestSDKsReadKeyState assembles it (the kit up to the
;; "THE RULE" line, then this file), builds it and holds its reason to the input.
  (data (i32.const 128) "request")        ;; 7
  (data (i32.const 136) "team")           ;; 4
  (data (i32.const 144) "budget")         ;; 6
  (data (i32.const 152) "limits")         ;; 6
  (data (i32.const 160) "usd")            ;; 3
  (data (i32.const 168) "period")         ;; 6
  (data (i32.const 176) "spent_usd")      ;; 9
  (data (i32.const 192) "remaining_usd")  ;; 13
  (data (i32.const 208) "resets_unix_ms") ;; 14
  (data (i32.const 224) "rpm")            ;; 3
  (data (i32.const 232) "rpm_remaining")  ;; 13
  (data (i32.const 248) "tpm")            ;; 3
  (data (i32.const 256) "tpm_remaining")  ;; 13
  (data (i32.const 272) "{\22targets\22:[{\22provider\22:\22mock\22,\22model\22:\22mock-small\22}],\22reason\22:\22team=") ;; 69
  (data (i32.const 352) " budget=")       ;; 8
  (data (i32.const 368) " budget=none")   ;; 12
  (data (i32.const 384) " limits=")       ;; 8
  (data (i32.const 400) " limits=none")   ;; 12
  (data (i32.const 416) ",")              ;; 1
  (data (i32.const 420) "\22}")           ;; 2

  ;; $object returns the position of the object that is member lit (n bytes) of the
  ;; object at p, or 0 when it is absent or null.
  (func $object (param $p i32) (param $lit i32) (param $n i32) (result i32)
    (local.set $p (call $find (local.get $p) (local.get $lit) (local.get $n)))
    (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))
    (if (i32.ne (call $peek (local.get $p)) (i32.const 123)) (then (return (i32.const 0))))
    (local.get $p))

  ;; $put_str writes the raw (still escaped) string member lit of the object at p.
  (func $put_str (param $p i32) (param $lit i32) (param $n i32)
    (local.set $p (call $find (local.get $p) (local.get $lit) (local.get $n)))
    (if (local.get $p)
      (then (drop (call $string (local.get $p))) (call $put (global.get $sp) (global.get $sn)))))

  ;; $put_num writes the number member lit of the object at p (0 when absent), in
  ;; thousandths when milli is set.
  (func $put_num (param $p i32) (param $lit i32) (param $n i32) (param $milli i32)
    (global.set $f (f64.const 0))
    (global.set $i (i64.const 0))
    (local.set $p (call $find (local.get $p) (local.get $lit) (local.get $n)))
    (if (local.get $p) (then (drop (call $number (local.get $p)))))
    (if (local.get $milli)
      (then (call $put_int (i64.trunc_f64_s (f64.add (f64.mul (global.get $f) (f64.const 1000)) (f64.const 0.5)))))
      (else (call $put_int (global.get $i)))))

  (func (export "sy_route") (param $ptr i32) (param $len i32) (result i64)
    (local $req i32) (local $b i32) (local $l i32)
    (call $begin (local.get $ptr) (local.get $len))
    (drop (call $out_begin))
    (local.set $req (call $find (local.get $ptr) (i32.const 128) (i32.const 7)))
    (if (i32.eqz (local.get $req)) (then (return (i64.const 0))))
    (call $put (i32.const 272) (i32.const 69))
    (call $put_str (local.get $req) (i32.const 136) (i32.const 4))
    (local.set $b (call $object (local.get $req) (i32.const 144) (i32.const 6)))
    (if (local.get $b)
      (then
        (call $put (i32.const 352) (i32.const 8))
        (call $put_num (local.get $b) (i32.const 160) (i32.const 3) (i32.const 1))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_str (local.get $b) (i32.const 168) (i32.const 6))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $b) (i32.const 176) (i32.const 9) (i32.const 1))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $b) (i32.const 192) (i32.const 13) (i32.const 1))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $b) (i32.const 208) (i32.const 14) (i32.const 0)))
      (else (call $put (i32.const 368) (i32.const 12))))
    (local.set $l (call $object (local.get $req) (i32.const 152) (i32.const 6)))
    (if (local.get $l)
      (then
        (call $put (i32.const 384) (i32.const 8))
        (call $put_num (local.get $l) (i32.const 224) (i32.const 3) (i32.const 0))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $l) (i32.const 232) (i32.const 13) (i32.const 0))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $l) (i32.const 248) (i32.const 3) (i32.const 0))
        (call $put (i32.const 416) (i32.const 1))
        (call $put_num (local.get $l) (i32.const 256) (i32.const 13) (i32.const 0)))
      (else (call $put (i32.const 400) (i32.const 12))))
    (call $put (i32.const 420) (i32.const 2))
    (call $out_result))
)
