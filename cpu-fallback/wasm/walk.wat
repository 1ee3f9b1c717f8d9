;; The training section walks (forward with border adaptation, backward replaying the walk
;; log) in WebAssembly: the same rules and the same arithmetic, in the same order, as
;; forwardSectionsTrain and backwardSections in cpu-fallback/steps.ts (the reference), so the
;; networks come out byte-identical (test/cpu-fallback/wasm-walk.test.ts).
;;
;; Compiled by scripts/build-wasm.js (wabt) into dist/cpu-fallback/wasm/walk.wasm; loaded and
;; fed by cpu-fallback/wasm-walk.ts, which maps the network's arrays into this memory for a
;; training slice. Every address below is a byte address in this module's memory.
;;
;; Records (kernels/layout.ts): a section is 16 words (64 B): tgtHex @8, tgtBlock @12,
;; synPage @16, synOffset @20, synCount @24, lower @32, range @36, tolerance @40, uses @44,
;; next @48. A neuron is 4 words (16 B): firstSection @0, outputRow @4. A synapse page is
;; three columns of 65,536 words: weight, border (+262144), meta (+524288).
;;
;; Tables the loader writes: the page table (one i32 per page: address of its weight column)
;; and the hexagon table (32 B per hexagon: input0 @0, input1 @4, delta @8, dpart0 @12,
;; dpart1 @16, act @20, all addresses; @24 is 1 for an input hexagon).
;;
;; Walk log entries (40 B): section @0, page @4, first @8, length @12, tgtHex @16,
;; tgtBase @20, srcNeuron @24, share (f64) @32.
;; Growth requests (24 B): lane @0, kind @4, a @8, b @12, value (f64) @16; replayed in order
;; by the loader into the context's per-lane request lists.
(module
  ;; Raw input values feeding output links are compressed with the same function as in
  ;; TypeScript (Math.log2), so the results cannot differ.
  (import "Math" "log2" (func $log2 (param f64) (result f64)))
  (memory (export "memory") 1)
  (global $pageTab (mut i32) (i32.const 0))
  (global $hexTab (mut i32) (i32.const 0))
  (global $log (mut i32) (i32.const 0))
  (global $req (mut i32) (i32.const 0))
  ;; Outputs of the last call.
  (global $visits (mut i32) (i32.const 0))
  (global $logCount (mut i32) (i32.const 0))
  (global $reqCount (mut i32) (i32.const 0))

  (func (export "configure") (param $pageTab i32) (param $hexTab i32) (param $log i32) (param $req i32)
    (global.set $pageTab (local.get $pageTab))
    (global.set $hexTab (local.get $hexTab))
    (global.set $log (local.get $log))
    (global.set $req (local.get $req)))

  (func (export "visits") (result i32) (global.get $visits))
  (func (export "logCount") (result i32) (global.get $logCount))
  (func (export "reqCount") (result i32) (global.get $reqCount))

  ;; Appends a growth request.
  (func $request (param $lane i32) (param $kind i32) (param $a i32) (param $b i32) (param $value f64)
    (local $r i32)
    (local.set $r (i32.add (global.get $req) (i32.mul (global.get $reqCount) (i32.const 24))))
    (i32.store (local.get $r) (local.get $lane))
    (i32.store offset=4 (local.get $r) (local.get $kind))
    (i32.store offset=8 (local.get $r) (local.get $a))
    (i32.store offset=12 (local.get $r) (local.get $b))
    (f64.store offset=16 (local.get $r) (local.get $value))
    (global.set $reqCount (i32.add (global.get $reqCount) (i32.const 1))))

  ;; forwardSectionsTrain for one hexagon, every lane, plain sections only. $logCount is the
  ;; walk log's length on entry; the log, request count and visits are read back after.
  (func (export "forwardTrain")
    (param $h i32) (param $act i32) (param $active i32) (param $count i32) (param $neu i32)
    (param $sec i32) (param $logIn i32)
    (local $a i32) (local $n i32) (local $potential f64) (local $s i32) (local $o i32)
    (local $p f64) (local $range f64) (local $eps f64) (local $pw i32) (local $pb i32) (local $pm i32)
    (local $tgtHex i32) (local $tin i32) (local $base i32) (local $first i32) (local $synapses i32)
    (local $end i32) (local $tol f64) (local $lo f64) (local $hi f64) (local $i i32) (local $share f64)
    (local $b f64) (local $t i32) (local $visits i32) (local $walked i32) (local $e i32)
    (local $q i32) (local $q0 i32) (local $qend i32) (local $tb i32)
    (global.set $reqCount (i32.const 0))
    (global.set $logCount (local.get $logIn))
    (local.set $a (i32.const 0))
    (block $neuronsDone
      (loop $neurons
        (br_if $neuronsDone (i32.ge_s (local.get $a) (local.get $count)))
        (local.set $n (i32.load (i32.add (local.get $active) (i32.shl (local.get $a) (i32.const 2)))))
        (local.set $potential (f64.promote_f32 (f32.load (i32.add (local.get $act) (i32.shl (local.get $n) (i32.const 2))))))
        (local.set $s (i32.load (i32.add (local.get $neu) (i32.shl (local.get $n) (i32.const 4)))))
        (if (i32.lt_s (local.get $s) (i32.const 0))
          (then
            ;; No section yet: ask for a first one (unless the neuron feeds output links).
            (if (i32.lt_s (i32.load offset=4 (i32.add (local.get $neu) (i32.shl (local.get $n) (i32.const 4)))) (i32.const 0))
              (then (call $request (i32.const 0) (i32.const 1) (local.get $h) (local.get $n) (local.get $potential))))))
        (block $sectionsDone
          (loop $sections
            (br_if $sectionsDone (i32.lt_s (local.get $s) (i32.const 0)))
            (local.set $o (i32.add (local.get $sec) (i32.shl (local.get $s) (i32.const 6))))
            (block $nextSection
              (local.set $p (f64.sub (local.get $potential) (f64.promote_f32 (f32.load offset=32 (local.get $o)))))
              (br_if $nextSection (f64.le (local.get $p) (f64.const 0)))
              (local.set $range (f64.promote_f32 (f32.load offset=36 (local.get $o))))
              (if (f64.gt (local.get $p) (local.get $range)) (then (local.set $p (local.get $range))))
              (local.set $eps (f64.mul (local.get $p) (f64.const 1e-5)))
              (local.set $pw (i32.load (i32.add (global.get $pageTab) (i32.shl (i32.load offset=16 (local.get $o)) (i32.const 2)))))
              (local.set $pb (i32.add (local.get $pw) (i32.const 262144)))
              (local.set $pm (i32.add (local.get $pw) (i32.const 524288)))
              (local.set $tgtHex (i32.load offset=8 (local.get $o)))
              (local.set $tin
                (i32.load
                  (i32.add
                    (i32.add (global.get $hexTab) (i32.shl (local.get $tgtHex) (i32.const 5)))
                    (i32.shl (i32.and (local.get $s) (i32.const 1)) (i32.const 2)))))
              (local.set $base (i32.shl (i32.load offset=12 (local.get $o)) (i32.const 7)))
              (local.set $first (i32.load offset=20 (local.get $o)))
              (local.set $synapses (i32.load offset=24 (local.get $o)))
              (local.set $end (i32.add (local.get $first) (local.get $synapses)))
              (local.set $tol (f64.promote_f32 (f32.load offset=40 (local.get $o))))
              (local.set $lo (f64.sub (f64.const 0.5) (local.get $tol)))
              (local.set $hi (f64.add (f64.const 0.5) (local.get $tol)))
              ;; $q walks the weight column; border and meta are at fixed offsets from it.
              (local.set $q (i32.add (local.get $pw) (i32.shl (local.get $first) (i32.const 2))))
              (local.set $q0 (local.get $q))
              (local.set $qend (i32.add (local.get $pw) (i32.shl (local.get $end) (i32.const 2))))
              (local.set $tb (i32.add (local.get $tin) (i32.shl (local.get $base) (i32.const 3))))
              (local.set $share (f64.const 1))
              (block $walkDone
                (loop $walk
                  (br_if $walkDone (i32.ge_u (local.get $q) (local.get $qend)))
                  (local.set $b (f64.promote_f32 (f32.load offset=262144 (local.get $q))))
                  (local.set $t
                    (i32.add (local.get $tb) (i32.shl (i32.and (i32.load offset=524288 (local.get $q)) (i32.const 255)) (i32.const 3))))
                  ;; A fully covered synapse (p >= b) can never be inside its tolerance window
                  ;; (that needs p < (0.5 + tol)·b < b), so only p < b takes this branch: the
                  ;; same decisions as the reference, which checks the window first.
                  (if (f64.lt (local.get $p) (local.get $b))
                    (then
                      ;; The remaining potential lands inside the tolerance window: shrink.
                      (if (i32.and
                            (f64.gt (local.get $p) (f64.mul (local.get $lo) (local.get $b)))
                            (f64.lt (local.get $p) (f64.mul (local.get $hi) (local.get $b))))
                        (then
                          (local.set $b (f64.promote_f32 (f32.demote_f64 (f64.div (local.get $b) (f64.const 1.5)))))
                          (f32.store offset=262144 (local.get $q) (f32.demote_f64 (local.get $b)))
                          (f32.store (local.get $q) (f32.demote_f64 (f64.div (f64.promote_f32 (f32.load (local.get $q))) (f64.const 1.5))))
                          (local.set $tol (f64.promote_f32 (f32.demote_f64 (f64.div (local.get $tol) (f64.const 1.3)))))
                          (local.set $lo (f64.sub (f64.const 0.5) (local.get $tol)))
                          (local.set $hi (f64.add (f64.const 0.5) (local.get $tol)))))
                      ;; Partially covered (still, or no longer after the shrink): the last one.
                      (if (f64.lt (local.get $p) (local.get $b))
                        (then
                          (local.set $share (f64.div (local.get $p) (local.get $b)))
                          (f64.store (local.get $t)
                            (f64.add (f64.load (local.get $t)) (f64.mul (f64.promote_f32 (f32.load (local.get $q))) (local.get $share))))
                          (local.set $q (i32.add (local.get $q) (i32.const 4)))
                          (local.set $p (f64.const 0))
                          (br $walkDone)))))
                  (f64.store (local.get $t) (f64.add (f64.load (local.get $t)) (f64.promote_f32 (f32.load (local.get $q)))))
                  (local.set $p (f64.sub (local.get $p) (local.get $b)))
                  (local.set $q (i32.add (local.get $q) (i32.const 4)))
                  (br_if $walk (f64.gt (local.get $p) (local.get $eps)))
                  (local.set $p (f64.const 0))))
              (f32.store offset=40 (local.get $o) (f32.demote_f64 (local.get $tol)))
              (local.set $walked (i32.shr_u (i32.sub (local.get $q) (local.get $q0)) (i32.const 2)))
              (local.set $visits (i32.add (local.get $visits) (local.get $walked)))
              (if (i32.gt_s (local.get $walked) (i32.const 0))
                (then
                  (local.set $e (i32.add (global.get $log) (i32.mul (global.get $logCount) (i32.const 40))))
                  (i32.store (local.get $e) (local.get $s))
                  (i32.store offset=4 (local.get $e) (i32.load offset=16 (local.get $o)))
                  (i32.store offset=8 (local.get $e) (local.get $first))
                  (i32.store offset=12 (local.get $e) (local.get $walked))
                  (i32.store offset=16 (local.get $e) (local.get $tgtHex))
                  (i32.store offset=20 (local.get $e) (local.get $base))
                  (i32.store offset=24 (local.get $e) (local.get $n))
                  (f64.store offset=32 (local.get $e) (local.get $share))
                  (global.set $logCount (i32.add (global.get $logCount) (i32.const 1)))))
              ;; Potential left past the end: one more synapse, or a split of a full section.
              (if (f64.gt (local.get $p) (local.get $eps))
                (then
                  (call $request
                    (i32.and (local.get $s) (i32.const 1))
                    (select (i32.const 2) (i32.const 3) (i32.lt_s (local.get $synapses) (i32.const 128)))
                    (local.get $s) (i32.const 0) (local.get $p)))))
            (local.set $s (i32.load offset=48 (local.get $o)))
            (br $sections)))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (br $neurons)))
    (global.set $visits (local.get $visits)))

  ;; backwardSections for the log entries [from, to) of one hexagon.
  (func (export "backward")
    (param $h i32) (param $hidden i32) (param $reinforce i32) (param $from i32) (param $to i32) (param $sec i32)
    (local $e i32) (local $o i32) (local $uses f64) (local $lr f64) (local $pw i32) (local $pm i32)
    (local $tdelta i32) (local $base i32) (local $first i32) (local $last i32) (local $i i32) (local $ia i32)
    (local $d f64) (local $td f64) (local $w f64) (local $visits i32) (local $s i32) (local $dp i32) (local $m i32)
    (local $c i32) (local $q i32) (local $qlast i32) (local $tb i32)
    (local.set $e (i32.add (global.get $log) (i32.mul (local.get $from) (i32.const 40))))
    (local.set $to (i32.add (global.get $log) (i32.mul (local.get $to) (i32.const 40))))
    (block $entriesDone
      (loop $entries
        (br_if $entriesDone (i32.ge_u (local.get $e) (local.get $to)))
        (local.set $s (i32.load (local.get $e)))
        (local.set $o (i32.add (local.get $sec) (i32.shl (local.get $s) (i32.const 6))))
        (local.set $uses (f64.promote_f32 (f32.load offset=44 (local.get $o))))
        (f32.store offset=44 (local.get $o) (f32.demote_f64 (f64.add (local.get $uses) (f64.const 1))))
        (local.set $lr (f64.div (f64.const 0.7) (f64.add (f64.const 1) (f64.div (local.get $uses) (f64.const 300)))))
        (local.set $pw (i32.load (i32.add (global.get $pageTab) (i32.shl (i32.load offset=4 (local.get $e)) (i32.const 2)))))
        (local.set $pm (i32.add (local.get $pw) (i32.const 524288)))
        (local.set $tdelta (i32.load offset=8 (i32.add (global.get $hexTab) (i32.shl (i32.load offset=16 (local.get $e)) (i32.const 5)))))
        (local.set $base (i32.load offset=20 (local.get $e)))
        (local.set $first (i32.load offset=8 (local.get $e)))
        (local.set $last (i32.sub (i32.add (local.get $first) (i32.load offset=12 (local.get $e))) (i32.const 1)))
        ;; $q walks the weight column (meta at a fixed offset), $qlast is the last reached
        ;; synapse, $tb the target block's deltas.
        (local.set $q (i32.add (local.get $pw) (i32.shl (local.get $first) (i32.const 2))))
        (local.set $qlast (i32.add (local.get $pw) (i32.shl (local.get $last) (i32.const 2))))
        (local.set $tb (i32.add (local.get $tdelta) (i32.shl (local.get $base) (i32.const 2))))
        (if (local.get $hidden)
          (then
            (local.set $d (f64.const 0))
            (block $done
              (loop $syn
                (br_if $done (i32.ge_u (local.get $q) (local.get $qlast)))
                (local.set $td
                  (f64.promote_f32
                    (f32.load (i32.add (local.get $tb) (i32.shl (i32.and (i32.load offset=524288 (local.get $q)) (i32.const 255)) (i32.const 2))))))
                (local.set $w (f64.promote_f32 (f32.load (local.get $q))))
                (local.set $d (f64.add (local.get $d) (f64.mul (local.get $w) (local.get $td))))
                (f32.store (local.get $q) (f32.demote_f64 (f64.sub (local.get $w) (f64.mul (local.get $lr) (local.get $td)))))
                (local.set $q (i32.add (local.get $q) (i32.const 4)))
                (br $syn)))
            (local.set $d
              (f64.add (local.get $d)
                (f64.mul
                  (f64.promote_f32 (f32.load (local.get $qlast)))
                  (f64.promote_f32
                    (f32.load (i32.add (local.get $tb) (i32.shl (i32.and (i32.load offset=524288 (local.get $qlast)) (i32.const 255)) (i32.const 2))))))))
            (local.set $dp
              (i32.add
                (i32.load
                  (i32.add
                    (i32.add (global.get $hexTab) (i32.shl (local.get $h) (i32.const 5)))
                    (select (i32.const 16) (i32.const 12) (i32.and (local.get $s) (i32.const 1)))))
                (i32.shl (i32.load offset=24 (local.get $e)) (i32.const 3))))
            (f64.store (local.get $dp) (f64.add (f64.load (local.get $dp)) (local.get $d))))
          (else
            (block $done
              (loop $syn
                (br_if $done (i32.ge_u (local.get $q) (local.get $qlast)))
                (f32.store (local.get $q)
                  (f32.demote_f64
                    (f64.sub
                      (f64.promote_f32 (f32.load (local.get $q)))
                      (f64.mul (local.get $lr)
                        (f64.promote_f32
                          (f32.load (i32.add (local.get $tb) (i32.shl (i32.and (i32.load offset=524288 (local.get $q)) (i32.const 255)) (i32.const 2)))))))))
                (local.set $q (i32.add (local.get $q) (i32.const 4)))
                (br $syn)))))
        ;; The last reached synapse moves in proportion to its covered share.
        (f32.store (local.get $qlast)
          (f32.demote_f64
            (f64.sub
              (f64.promote_f32 (f32.load (local.get $qlast)))
              (f64.mul
                (f64.mul (local.get $lr)
                  (f64.promote_f32
                    (f32.load (i32.add (local.get $tb) (i32.shl (i32.and (i32.load offset=524288 (local.get $qlast)) (i32.const 255)) (i32.const 2))))))
                (f64.load offset=32 (local.get $e))))))
        ;; Reduction bookkeeping: each reached synapse gains one activity count (up to 10).
        (if (local.get $reinforce)
          (then
            (local.set $i (local.get $first))
            (block $done
              (loop $syn
                (br_if $done (i32.gt_s (local.get $i) (local.get $last)))
                (local.set $ia (i32.add (local.get $pm) (i32.shl (local.get $i) (i32.const 2))))
                (local.set $m (i32.load (local.get $ia)))
                (local.set $c (i32.shr_u (local.get $m) (i32.const 8)))
                (if (i32.lt_u (local.get $c) (i32.const 10))
                  (then
                    (i32.store (local.get $ia)
                      (i32.or (i32.and (local.get $m) (i32.const 255)) (i32.shl (i32.add (local.get $c) (i32.const 1)) (i32.const 8))))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $syn)))))
        (local.set $visits (i32.add (local.get $visits) (i32.add (i32.sub (local.get $last) (local.get $first)) (i32.const 1))))
        (local.set $e (i32.add (local.get $e) (i32.const 40)))
        (br $entries)))
    (global.set $visits (local.get $visits)))
  ;; The link part of computeOutputs for one output group: z[k] += y · W[r][k] over the rows
  ;; whose source is active (in row order, so every z[k] sums in the reference's order; the
  ;; two lanes of a SIMD add are two independent z[k]). Records the active rows and their y.
  (func (export "outputsForward")
    (param $z i32) (param $width i32) (param $wc i32) (param $W i32) (param $rows i32)
    (param $srcHex i32) (param $srcNeuron i32) (param $activeRows i32) (param $rowY i32)
    (result i32)
    (local $r i32) (local $h i32) (local $e i32) (local $v f64) (local $y f64) (local $count i32)
    (local $wp i32) (local $zp i32) (local $zend i32) (local $pairs i32) (local $yy v128)
    (local.set $pairs (i32.add (local.get $z) (i32.shl (i32.and (local.get $width) (i32.const -2)) (i32.const 3))))
    (local.set $zend (i32.add (local.get $z) (i32.shl (local.get $width) (i32.const 3))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_s (local.get $r) (local.get $rows)))
        (local.set $h (i32.load (i32.add (local.get $srcHex) (i32.shl (local.get $r) (i32.const 2)))))
        (local.set $e (i32.add (global.get $hexTab) (i32.shl (local.get $h) (i32.const 5))))
        (local.set $v
          (f64.promote_f32
            (f32.load (i32.add (i32.load offset=20 (local.get $e)) (i32.shl (i32.load (i32.add (local.get $srcNeuron) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 2))))))
        (local.set $y (local.get $v))
        (if (i32.load offset=24 (local.get $e))
          (then
            (local.set $y
              (if (result f64) (f64.gt (local.get $v) (f64.const 0))
                (then (call $log2 (f64.add (f64.const 1) (local.get $v))))
                (else (f64.const 0))))))
        (if (f64.ne (local.get $y) (f64.const 0))
          (then
            (i32.store (i32.add (local.get $activeRows) (i32.shl (local.get $count) (i32.const 2))) (local.get $r))
            (f64.store (i32.add (local.get $rowY) (i32.shl (local.get $count) (i32.const 3))) (local.get $y))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (local.set $wp (i32.add (local.get $W) (i32.shl (i32.mul (local.get $r) (local.get $wc)) (i32.const 2))))
            (local.set $zp (local.get $z))
            (local.set $yy (f64x2.splat (local.get $y)))
            (block $pairsDone
              (loop $pair
                (br_if $pairsDone (i32.ge_u (local.get $zp) (local.get $pairs)))
                (v128.store (local.get $zp)
                  (f64x2.add (v128.load (local.get $zp))
                    (f64x2.mul (local.get $yy) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $wp))))))
                (local.set $zp (i32.add (local.get $zp) (i32.const 16)))
                (local.set $wp (i32.add (local.get $wp) (i32.const 8)))
                (br $pair)))
            (if (i32.lt_u (local.get $zp) (local.get $zend))
              (then
                (f64.store (local.get $zp)
                  (f64.add (f64.load (local.get $zp)) (f64.mul (local.get $y) (f64.promote_f32 (f32.load (local.get $wp))))))))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowsLoop)))
    (local.get $count))

  ;; The link part of backwardOutputs: for each active row (recorded by outputsForward), the
  ;; source's delta collects sum(grad · w) and each link moves by lr · grad · y.
  (func (export "outputsBackward")
    (param $grad i32) (param $width i32) (param $wc i32) (param $W i32) (param $srcHex i32)
    (param $srcNeuron i32) (param $uses i32) (param $activeRows i32) (param $rowY i32) (param $count i32)
    (local $a i32) (local $r i32) (local $y f64) (local $u i32) (local $lr f64) (local $d f64)
    (local $wp i32) (local $gp i32) (local $gend i32) (local $g f64) (local $w f64) (local $dp i32)
    (local.set $gend (i32.add (local.get $grad) (i32.shl (local.get $width) (i32.const 3))))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_s (local.get $a) (local.get $count)))
        (local.set $r (i32.load (i32.add (local.get $activeRows) (i32.shl (local.get $a) (i32.const 2)))))
        (local.set $y (f64.load (i32.add (local.get $rowY) (i32.shl (local.get $a) (i32.const 3)))))
        (local.set $u (i32.add (local.get $uses) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $lr
          (f64.div (f64.const 0.05)
            (f64.add (f64.const 1) (f64.div (f64.promote_f32 (f32.load (local.get $u))) (f64.const 1000)))))
        (f32.store (local.get $u) (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $u))) (f64.const 1))))
        (local.set $wp (i32.add (local.get $W) (i32.shl (i32.mul (local.get $r) (local.get $wc)) (i32.const 2))))
        (local.set $gp (local.get $grad))
        (local.set $d (f64.const 0))
        (block $linksDone
          (loop $links
            (br_if $linksDone (i32.ge_u (local.get $gp) (local.get $gend)))
            (local.set $g (f64.load (local.get $gp)))
            (local.set $w (f64.promote_f32 (f32.load (local.get $wp))))
            (local.set $d (f64.add (local.get $d) (f64.mul (local.get $g) (local.get $w))))
            (f32.store (local.get $wp)
              (f32.demote_f64 (f64.sub (local.get $w) (f64.mul (f64.mul (local.get $lr) (local.get $g)) (local.get $y)))))
            (local.set $gp (i32.add (local.get $gp) (i32.const 8)))
            (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
            (br $links)))
        (local.set $dp
          (i32.add
            (i32.load offset=8
              (i32.add (global.get $hexTab) (i32.shl (i32.load (i32.add (local.get $srcHex) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 5))))
            (i32.shl (i32.load (i32.add (local.get $srcNeuron) (i32.shl (local.get $r) (i32.const 2)))) (i32.const 2))))
        (f32.store (local.get $dp) (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $dp))) (local.get $d))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (br $rowsLoop))))

  ;; loadRow for one input binding: values staged at $stage (f32, or bytes when $bytes) go
  ;; into act[to + i] (non-positive ones as 0) and the positive ones onto the active list,
  ;; without a branch per value. Returns the new active count.
  (func (export "loadValues")
    (param $stage i32) (param $bytes i32) (param $size i32) (param $act i32) (param $active i32) (param $count i32) (param $to i32)
    (result i32)
    (local $i i32) (local $v f32) (local $on i32)
    (block $done
      (loop $values
        (br_if $done (i32.ge_s (local.get $i) (local.get $size)))
        (local.set $v
          (if (result f32) (local.get $bytes)
            (then (f32.convert_i32_u (i32.load8_u (i32.add (local.get $stage) (local.get $i)))))
            (else (f32.load (i32.add (local.get $stage) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $on (f32.gt (local.get $v) (f32.const 0)))
        (f32.store (i32.add (local.get $act) (i32.shl (i32.add (local.get $to) (local.get $i)) (i32.const 2)))
          (select (local.get $v) (f32.const 0) (local.get $on)))
        (i32.store (i32.add (local.get $active) (i32.shl (local.get $count) (i32.const 2))) (i32.add (local.get $to) (local.get $i)))
        (local.set $count (i32.add (local.get $count) (local.get $on)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $values)))
    (local.get $count))

  ;; act[active[a]] = 0 for a < count: clears the previous row's active input neurons.
  (func (export "clearActive") (param $act i32) (param $active i32) (param $count i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $active) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $clear
        (br_if $done (i32.ge_u (local.get $active) (local.get $end)))
        (f32.store (i32.add (local.get $act) (i32.shl (i32.load (local.get $active)) (i32.const 2))) (f32.const 0))
        (local.set $active (i32.add (local.get $active) (i32.const 4)))
        (br $clear))))
)
