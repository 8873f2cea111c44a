;; WebAssembly SIMD kernels of the exact OpenCV 4.6 INTER_LINEAR resize (see resize.ts for the
;; arithmetic and resizeWasm.ts for the driver that lays out memory and calls these per row).
;; Assembled by scripts/build-wasm.mjs (wabt) into resize.wasm, which is committed; a test checks
;; that the committed binary is exactly what this text assembles to.
;;
;; Memory is owned by the driver: every pointer below is a byte offset it chose, and every buffer
;; has slack after its end (the kernels read and write whole vectors past the last element).
(module
  (memory (export "memory") 1)

  ;; Channels are never reordered in the passes (each output byte depends on its own channel
  ;; only): hrow3/hrow1 and vrow keep the decoder's layout (R,G,B, B,G,R or grey), and swaprb or
  ;; grey3 make B,G,R of the finished image in one cheap pass.

  ;; The horizontal pass gathers, per group of four output pixels a, b, c, d, each pixel's 8 source
  ;; bytes at its left neighbour (ab holds a and b, cd holds c and d; the right neighbour is 3 bytes
  ;; on), then swizzles them into (left, right) pairs of int16 for i32x4.dot_i16x8_s: [a0 a1 a2 b0],
  ;; [b1 b2 c0 c1], [c2 d0 d1 d2]. The swizzle masks are constants whose other lanes have the top
  ;; bit set, so each is one pshufb that also zero-extends (V8 skips the range fix-up for such
  ;; constants and keeps them in registers across the loop); the middle vector takes two and an or.
  ;; Before, two-input i8x16.shuffle and extends did this: V8 builds each two-input shuffle from two
  ;; masks materialized in the loop (about 12 x86 instructions).

  ;; hrow3: one 3-channel source row to one row of int16 horizontal sums,
  ;; `(S[x] * w0 + S[x + 3] * w1) >> shift` per channel (OpenCV's HResizeLinear, then the `>> 4`
  ;; of the vertical pass), four output pixels per iteration.
  ;;   $src     the source row, 8 bytes of slack (each pixel loads 8 bytes at its left neighbour)
  ;;   $tab     per group of 4 output pixels a, b, c, d, 64 bytes: the byte offsets of their left
  ;;            neighbours (4 x i32; the right one is 3 bytes on, weighted 0 at the border), then
  ;;            the int16 weight pairs (w0, w1) for i32x4.dot_i16x8_s: [a a a b] [b b c c] [c d d d]
  ;;   $out     12 int16 per group
  ;;   $groups  number of groups (the last one padded with offset 0, weights 0)
  (func (export "hrow3")
    (param $src i32) (param $tab i32) (param $out i32) (param $groups i32) (param $shift i32)
    (local $ab v128) (local $cd v128) (local $s v128) (local $end i32)
    (local $m1 v128) (local $m2ab v128) (local $m2cd v128) (local $m3 v128)
    (local.set $m1 (v128.const i8x16 0 128 3 128 1 128 4 128 2 128 5 128 8 128 11 128))
    (local.set $m2ab (v128.const i8x16 9 128 12 128 10 128 13 128 128 128 128 128 128 128 128 128))
    (local.set $m2cd (v128.const i8x16 128 128 128 128 128 128 128 128 0 128 3 128 1 128 4 128))
    (local.set $m3 (v128.const i8x16 2 128 5 128 8 128 11 128 9 128 12 128 10 128 13 128))
    (local.set $end (i32.add (local.get $tab) (i32.shl (local.get $groups) (i32.const 6))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $group
        (local.set $ab
          (v128.load64_lane 1
            (i32.add (local.get $src) (i32.load offset=4 (local.get $tab)))
            (v128.load64_zero (i32.add (local.get $src) (i32.load (local.get $tab))))))
        (local.set $cd
          (v128.load64_lane 1
            (i32.add (local.get $src) (i32.load offset=12 (local.get $tab)))
            (v128.load64_zero (i32.add (local.get $src) (i32.load offset=8 (local.get $tab))))))
        (v128.store (local.get $out)
          (i16x8.narrow_i32x4_s
            (i32x4.shr_s
              (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab) (local.get $m1)) (v128.load offset=16 (local.get $tab)))
              (local.get $shift))
            (i32x4.shr_s
              (i32x4.dot_i16x8_s
                (v128.or (i8x16.swizzle (local.get $ab) (local.get $m2ab)) (i8x16.swizzle (local.get $cd) (local.get $m2cd)))
                (v128.load offset=32 (local.get $tab)))
              (local.get $shift))))
        (local.set $s
          (i32x4.shr_s
            (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd) (local.get $m3)) (v128.load offset=48 (local.get $tab)))
            (local.get $shift)))
        (v128.store64_lane offset=16 0 (local.get $out) (i16x8.narrow_i32x4_s (local.get $s) (local.get $s)))
        (local.set $out (i32.add (local.get $out) (i32.const 24)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 64)))
        (br_if $group (i32.lt_u (local.get $tab) (local.get $end))))))

  ;; hrow3swap: hrow3 that also reverses the channels of each pixel (R,G,B in, int16 sums in
  ;; B,G,R order out), so that vrow writes B,G,R rows and no swaprb pass is needed.
  (func (export "hrow3swap")
    (param $src i32) (param $tab i32) (param $out i32) (param $groups i32) (param $shift i32)
    (local $ab v128) (local $cd v128) (local $s v128) (local $end i32)
    (local $m1 v128) (local $m2ab v128) (local $m2cd v128) (local $m3 v128)
    (local.set $m1 (v128.const i8x16 2 128 5 128 1 128 4 128 0 128 3 128 10 128 13 128))
    (local.set $m2ab (v128.const i8x16 9 128 12 128 8 128 11 128 128 128 128 128 128 128 128 128))
    (local.set $m2cd (v128.const i8x16 128 128 128 128 128 128 128 128 2 128 5 128 1 128 4 128))
    (local.set $m3 (v128.const i8x16 0 128 3 128 10 128 13 128 9 128 12 128 8 128 11 128))
    (local.set $end (i32.add (local.get $tab) (i32.shl (local.get $groups) (i32.const 6))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $group
        (local.set $ab
          (v128.load64_lane 1
            (i32.add (local.get $src) (i32.load offset=4 (local.get $tab)))
            (v128.load64_zero (i32.add (local.get $src) (i32.load (local.get $tab))))))
        (local.set $cd
          (v128.load64_lane 1
            (i32.add (local.get $src) (i32.load offset=12 (local.get $tab)))
            (v128.load64_zero (i32.add (local.get $src) (i32.load offset=8 (local.get $tab))))))
        (v128.store (local.get $out)
          (i16x8.narrow_i32x4_s
            (i32x4.shr_s
              (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab) (local.get $m1)) (v128.load offset=16 (local.get $tab)))
              (local.get $shift))
            (i32x4.shr_s
              (i32x4.dot_i16x8_s
                (v128.or (i8x16.swizzle (local.get $ab) (local.get $m2ab)) (i8x16.swizzle (local.get $cd) (local.get $m2cd)))
                (v128.load offset=32 (local.get $tab)))
              (local.get $shift))))
        (local.set $s
          (i32x4.shr_s
            (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd) (local.get $m3)) (v128.load offset=48 (local.get $tab)))
            (local.get $shift)))
        (v128.store64_lane offset=16 0 (local.get $out) (i16x8.narrow_i32x4_s (local.get $s) (local.get $s)))
        (local.set $out (i32.add (local.get $out) (i32.const 24)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 64)))
        (br_if $group (i32.lt_u (local.get $tab) (local.get $end))))))

  ;; hv3: one output row of a 3-channel image straight from its two source rows, for downscales
  ;; where a source row serves one output row only (so the horizontal rows are not worth keeping):
  ;; hrow3 on both rows (shift 4) and vrow on the two results, in registers, with no int16 rows in
  ;; memory. The same arithmetic, so the same bytes: `(dot >> 4) * b` in i32 is `v_mul_hi`'s
  ;; product of the int16 value (`dot >> 4 <= 32640`) and the int16 weight, before its `>> 16`.
  ;;   $r0, $r1  the two source rows (may be one row twice), 8 bytes of slack as for hrow3
  ;;   $tab      hrow3's table
  ;;   $out      12 bytes per group, 16 bytes of slack (whole vectors are stored, each overlapping
  ;;             the next group's)
  ;;   $b0, $b1  the row weights
  (func (export "hv3")
    (param $r0 i32) (param $r1 i32) (param $tab i32) (param $out i32) (param $groups i32)
    (param $b0 i32) (param $b1 i32)
    (local $ab0 v128) (local $cd0 v128) (local $ab1 v128) (local $cd1 v128) (local $w0 v128)
    (local $w1 v128) (local $two v128) (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $end i32) (local $m1 v128) (local $m2ab v128) (local $m2cd v128) (local $m3 v128)
    (local.set $w0 (i32x4.splat (local.get $b0)))
    (local.set $w1 (i32x4.splat (local.get $b1)))
    (local.set $two (i32x4.splat (i32.const 2)))
    (local.set $m1 (v128.const i8x16 0 128 3 128 1 128 4 128 2 128 5 128 8 128 11 128))
    (local.set $m2ab (v128.const i8x16 9 128 12 128 10 128 13 128 128 128 128 128 128 128 128 128))
    (local.set $m2cd (v128.const i8x16 128 128 128 128 128 128 128 128 0 128 3 128 1 128 4 128))
    (local.set $m3 (v128.const i8x16 2 128 5 128 8 128 11 128 9 128 12 128 10 128 13 128))
    (local.set $end (i32.add (local.get $tab) (i32.shl (local.get $groups) (i32.const 6))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $group
        (local.set $o0 (i32.load (local.get $tab)))
        (local.set $o1 (i32.load offset=4 (local.get $tab)))
        (local.set $o2 (i32.load offset=8 (local.get $tab)))
        (local.set $o3 (i32.load offset=12 (local.get $tab)))
        (local.set $ab0
          (v128.load64_lane 1 (i32.add (local.get $r0) (local.get $o1))
            (v128.load64_zero (i32.add (local.get $r0) (local.get $o0)))))
        (local.set $cd0
          (v128.load64_lane 1 (i32.add (local.get $r0) (local.get $o3))
            (v128.load64_zero (i32.add (local.get $r0) (local.get $o2)))))
        (local.set $ab1
          (v128.load64_lane 1 (i32.add (local.get $r1) (local.get $o1))
            (v128.load64_zero (i32.add (local.get $r1) (local.get $o0)))))
        (local.set $cd1
          (v128.load64_lane 1 (i32.add (local.get $r1) (local.get $o3))
            (v128.load64_zero (i32.add (local.get $r1) (local.get $o2)))))
        ;; per vector of four output values: both rows' horizontal sums (shift 4) times the row
        ;; weights, each product `>> 16`, added, `(v + 2) >> 2`
        (v128.store (local.get $out)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab0) (local.get $m1)) (v128.load offset=16 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab1) (local.get $m1)) (v128.load offset=16 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2))
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (v128.or (i8x16.swizzle (local.get $ab0) (local.get $m2ab)) (i8x16.swizzle (local.get $cd0) (local.get $m2cd))) (v128.load offset=32 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (v128.or (i8x16.swizzle (local.get $ab1) (local.get $m2ab)) (i8x16.swizzle (local.get $cd1) (local.get $m2cd))) (v128.load offset=32 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2)))
            ;; the last four values twice: the store's last four bytes are the next group's
            (i16x8.narrow_i32x4_s
              (local.tee $ab0
                (i32x4.shr_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd0) (local.get $m3)) (v128.load offset=48 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                      (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd1) (local.get $m3)) (v128.load offset=48 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                    (local.get $two))
                  (i32.const 2)))
              (local.get $ab0))))
        (local.set $out (i32.add (local.get $out) (i32.const 12)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 64)))
        (br_if $group (i32.lt_u (local.get $tab) (local.get $end))))))

  ;; hv3swap: hv3 that also reverses the channels of each pixel (R,G,B in, B,G,R out): only the
  ;; swizzle masks differ (the weights are per pixel, the same for its three channels).
  (func (export "hv3swap")
    (param $r0 i32) (param $r1 i32) (param $tab i32) (param $out i32) (param $groups i32)
    (param $b0 i32) (param $b1 i32)
    (local $ab0 v128) (local $cd0 v128) (local $ab1 v128) (local $cd1 v128) (local $w0 v128)
    (local $w1 v128) (local $two v128) (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $end i32) (local $m1 v128) (local $m2ab v128) (local $m2cd v128) (local $m3 v128)
    (local.set $w0 (i32x4.splat (local.get $b0)))
    (local.set $w1 (i32x4.splat (local.get $b1)))
    (local.set $two (i32x4.splat (i32.const 2)))
    (local.set $m1 (v128.const i8x16 2 128 5 128 1 128 4 128 0 128 3 128 10 128 13 128))
    (local.set $m2ab (v128.const i8x16 9 128 12 128 8 128 11 128 128 128 128 128 128 128 128 128))
    (local.set $m2cd (v128.const i8x16 128 128 128 128 128 128 128 128 2 128 5 128 1 128 4 128))
    (local.set $m3 (v128.const i8x16 0 128 3 128 10 128 13 128 9 128 12 128 8 128 11 128))
    (local.set $end (i32.add (local.get $tab) (i32.shl (local.get $groups) (i32.const 6))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $group
        (local.set $o0 (i32.load (local.get $tab)))
        (local.set $o1 (i32.load offset=4 (local.get $tab)))
        (local.set $o2 (i32.load offset=8 (local.get $tab)))
        (local.set $o3 (i32.load offset=12 (local.get $tab)))
        (local.set $ab0
          (v128.load64_lane 1 (i32.add (local.get $r0) (local.get $o1))
            (v128.load64_zero (i32.add (local.get $r0) (local.get $o0)))))
        (local.set $cd0
          (v128.load64_lane 1 (i32.add (local.get $r0) (local.get $o3))
            (v128.load64_zero (i32.add (local.get $r0) (local.get $o2)))))
        (local.set $ab1
          (v128.load64_lane 1 (i32.add (local.get $r1) (local.get $o1))
            (v128.load64_zero (i32.add (local.get $r1) (local.get $o0)))))
        (local.set $cd1
          (v128.load64_lane 1 (i32.add (local.get $r1) (local.get $o3))
            (v128.load64_zero (i32.add (local.get $r1) (local.get $o2)))))
        ;; per vector of four output values: both rows' horizontal sums (shift 4) times the row
        ;; weights, each product `>> 16`, added, `(v + 2) >> 2`
        (v128.store (local.get $out)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab0) (local.get $m1)) (v128.load offset=16 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $ab1) (local.get $m1)) (v128.load offset=16 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2))
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (v128.or (i8x16.swizzle (local.get $ab0) (local.get $m2ab)) (i8x16.swizzle (local.get $cd0) (local.get $m2cd))) (v128.load offset=32 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (v128.or (i8x16.swizzle (local.get $ab1) (local.get $m2ab)) (i8x16.swizzle (local.get $cd1) (local.get $m2cd))) (v128.load offset=32 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2)))
            ;; the last four values twice: the store's last four bytes are the next group's
            (i16x8.narrow_i32x4_s
              (local.tee $ab0
                (i32x4.shr_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd0) (local.get $m3)) (v128.load offset=48 (local.get $tab))) (i32.const 4)) (local.get $w0)) (i32.const 16))
                      (i32x4.shr_s (i32x4.mul (i32x4.shr_s (i32x4.dot_i16x8_s (i8x16.swizzle (local.get $cd1) (local.get $m3)) (v128.load offset=48 (local.get $tab))) (i32.const 4)) (local.get $w1)) (i32.const 16)))
                    (local.get $two))
                  (i32.const 2)))
              (local.get $ab0))))
        (local.set $out (i32.add (local.get $out) (i32.const 12)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 64)))
        (br_if $group (i32.lt_u (local.get $tab) (local.get $end))))))

  ;; hrow1: hrow3 for grey, `(S[x] * w0 + S[x + 1] * w1) >> shift`, one int16 per output pixel.
  ;;   $tab  per group of 4 output pixels, 32 bytes: 4 x i32 offsets, then the pairs [a b c d]
  ;;   $out  4 int16 per group
  (func (export "hrow1")
    (param $src i32) (param $tab i32) (param $out i32) (param $groups i32) (param $shift i32)
    (local $v v128) (local $end i32)
    (local.set $end (i32.add (local.get $tab) (i32.shl (local.get $groups) (i32.const 5))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $group
        (local.set $v (v128.load16_splat (i32.add (local.get $src) (i32.load (local.get $tab)))))
        (local.set $v (v128.load16_lane 1 (i32.add (local.get $src) (i32.load offset=4 (local.get $tab))) (local.get $v)))
        (local.set $v (v128.load16_lane 2 (i32.add (local.get $src) (i32.load offset=8 (local.get $tab))) (local.get $v)))
        (local.set $v (v128.load16_lane 3 (i32.add (local.get $src) (i32.load offset=12 (local.get $tab))) (local.get $v)))
        (local.set $v
          (i32x4.shr_s
            (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $v)) (v128.load offset=16 (local.get $tab)))
            (local.get $shift)))
        (v128.store64_lane 0 (local.get $out) (i16x8.narrow_i32x4_s (local.get $v) (local.get $v)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 32)))
        (br_if $group (i32.lt_u (local.get $tab) (local.get $end))))))

  ;; vrow: two rows of int16 horizontal sums (already `>> 4`) to one row of bytes, as OpenCV's
  ;; VResizeLinearVec_32s8u: `((h0 * b0) >> 16) + ((h1 * b1) >> 16)`, then `(v + 2) >> 2`
  ;; saturated to 0..255 (the saturation never binds; it is the narrowing below anyway).
  ;;   $h0, $h1  $n int16 each, rounded up to 16 values of slack
  ;;   $out      $n bytes, rounded up to 16 bytes of slack (whole vectors are stored)
  (func (export "vrow")
    (param $h0 i32) (param $h1 i32) (param $b0 i32) (param $b1 i32) (param $out i32) (param $n i32)
    (local $w0 v128) (local $w1 v128) (local $two v128) (local $a v128) (local $c v128)
    (local $r0 v128) (local $end i32)
    (local.set $w0 (i16x8.splat (local.get $b0)))
    (local.set $w1 (i16x8.splat (local.get $b1)))
    (local.set $two (i32x4.splat (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (block $done
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (loop $block
        ;; values 0..7
        (local.set $a (v128.load (local.get $h0)))
        (local.set $c (v128.load (local.get $h1)))
        (local.set $r0
          (i16x8.narrow_i32x4_s
            (i32x4.shr_s
              (i32x4.add
                (i32x4.add
                  (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $a) (local.get $w0)) (i32.const 16))
                  (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $c) (local.get $w1)) (i32.const 16)))
                (local.get $two))
              (i32.const 2))
            (i32x4.shr_s
              (i32x4.add
                (i32x4.add
                  (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $a) (local.get $w0)) (i32.const 16))
                  (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $c) (local.get $w1)) (i32.const 16)))
                (local.get $two))
              (i32.const 2))))
        ;; values 8..15
        (local.set $a (v128.load offset=16 (local.get $h0)))
        (local.set $c (v128.load offset=16 (local.get $h1)))
        (v128.store (local.get $out)
          (i8x16.narrow_i16x8_u
            (local.get $r0)
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $a) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.extmul_low_i16x8_s (local.get $c) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2))
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add
                    (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $a) (local.get $w0)) (i32.const 16))
                    (i32x4.shr_s (i32x4.extmul_high_i16x8_s (local.get $c) (local.get $w1)) (i32.const 16)))
                  (local.get $two))
                (i32.const 2)))))
        (local.set $h0 (i32.add (local.get $h0) (i32.const 32)))
        (local.set $h1 (i32.add (local.get $h1) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br_if $block (i32.lt_u (local.get $out) (local.get $end))))))

  ;; vbox: the exact-2x INTER_AREA path after hrow has summed horizontal pairs (weights 1, 1,
  ;; shift 0): `(h0 + h1 + 2) >> 2` per byte, the rounded mean of each 2x2 block.
  ;;   $h0, $h1, $out, $n as for vrow
  (func (export "vbox")
    (param $h0 i32) (param $h1 i32) (param $out i32) (param $n i32)
    (local $two v128) (local $end i32)
    (local.set $two (i16x8.splat (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (block $done
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (loop $block
        (v128.store (local.get $out)
          (i8x16.narrow_i16x8_u
            (i16x8.shr_u
              (i16x8.add
                (i16x8.add (v128.load (local.get $h0)) (v128.load (local.get $h1)))
                (local.get $two))
              (i32.const 2))
            (i16x8.shr_u
              (i16x8.add
                (i16x8.add (v128.load offset=16 (local.get $h0)) (v128.load offset=16 (local.get $h1)))
                (local.get $two))
              (i32.const 2))))
        (local.set $h0 (i32.add (local.get $h0) (i32.const 32)))
        (local.set $h1 (i32.add (local.get $h1) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br_if $block (i32.lt_u (local.get $out) (local.get $end))))))

  ;; swaprb: $n bytes of R,G,B at $src to B,G,R at $dst (another region: in place, each load
  ;; would overlap the previous store and stall), five pixels per 15-byte step; the 16th byte stored
  ;; is rewritten by the next step. 16 bytes of slack after both.
  (func (export "swaprb") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (loop $step
        (v128.store (local.get $dst)
          (i8x16.swizzle (v128.load (local.get $src)) (v128.const i8x16 2 1 0 5 4 3 8 7 6 11 10 9 14 13 12 15)))
        (local.set $src (i32.add (local.get $src) (i32.const 15)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 15)))
        (br_if $step (i32.lt_u (local.get $src) (local.get $end))))))

  ;; grey3: $n grey bytes at $src to 3 * $n bytes at $dst, each grey value three times (OpenCV's
  ;; IMREAD_COLOR). 16 bytes of slack after the source, 48 after the destination.
  (func (export "grey3") (param $src i32) (param $dst i32) (param $n i32)
    (local $v v128) (local $end i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (loop $step
        (local.set $v (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (i8x16.shuffle 0 0 0 1 1 1 2 2 2 3 3 3 4 4 4 5 (local.get $v) (local.get $v)))
        (v128.store offset=16 (local.get $dst)
          (i8x16.shuffle 5 5 6 6 6 7 7 7 8 8 8 9 9 9 10 10 (local.get $v) (local.get $v)))
        (v128.store offset=32 (local.get $dst)
          (i8x16.shuffle 10 11 11 11 12 12 12 13 13 13 14 14 14 15 15 15 (local.get $v) (local.get $v)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 48)))
        (br_if $step (i32.lt_u (local.get $src) (local.get $end))))))

  ;; paeth: PNG's Paeth filter (spec 9.4) of one row of $n bytes at $cur, the row above at $prev,
  ;; pixels of 3 bytes: $out[i] = $cur[i] - predict(left $cur[i-3], up $prev[i], up-left
  ;; $prev[i-3]) mod 256, for i from 3 to $n (the first pixel, which has no left neighbour, is the
  ;; caller's). Encoding reads only original bytes, so every lane is independent: 16 per step, the
  ;; predictor in i16 lanes. 16 bytes of slack after $cur, $prev and $out.
  (func (export "paeth") (param $cur i32) (param $prev i32) (param $out i32) (param $n i32)
    (local $i i32) (local $x v128) (local $a v128) (local $b v128) (local $c v128)
    (local $lo v128) (local $hi v128)
    (local $al v128) (local $bl v128) (local $cl v128) (local $pa v128) (local $pb v128) (local $pc v128)
    (local.set $i (i32.const 3))
    (block $done
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (loop $step
        (local.set $x (v128.load (i32.add (local.get $cur) (local.get $i))))
        (local.set $a (v128.load (i32.sub (i32.add (local.get $cur) (local.get $i)) (i32.const 3))))
        (local.set $b (v128.load (i32.add (local.get $prev) (local.get $i))))
        (local.set $c (v128.load (i32.sub (i32.add (local.get $prev) (local.get $i)) (i32.const 3))))
        ;; low eight lanes
        (local.set $al (i16x8.extend_low_i8x16_u (local.get $a)))
        (local.set $bl (i16x8.extend_low_i8x16_u (local.get $b)))
        (local.set $cl (i16x8.extend_low_i8x16_u (local.get $c)))
        (local.set $pb (i16x8.sub (local.get $al) (local.get $cl))) ;; a - c
        (local.set $pa (i16x8.sub (local.get $bl) (local.get $cl))) ;; b - c
        (local.set $pc (i16x8.abs (i16x8.add (local.get $pa) (local.get $pb))))
        (local.set $pa (i16x8.abs (local.get $pa)))
        (local.set $pb (i16x8.abs (local.get $pb)))
        (local.set $lo
          (v128.bitselect
            (local.get $al)
            (v128.bitselect (local.get $bl) (local.get $cl) (i16x8.le_s (local.get $pb) (local.get $pc)))
            (v128.and (i16x8.le_s (local.get $pa) (local.get $pb)) (i16x8.le_s (local.get $pa) (local.get $pc)))))
        ;; high eight lanes
        (local.set $al (i16x8.extend_high_i8x16_u (local.get $a)))
        (local.set $bl (i16x8.extend_high_i8x16_u (local.get $b)))
        (local.set $cl (i16x8.extend_high_i8x16_u (local.get $c)))
        (local.set $pb (i16x8.sub (local.get $al) (local.get $cl)))
        (local.set $pa (i16x8.sub (local.get $bl) (local.get $cl)))
        (local.set $pc (i16x8.abs (i16x8.add (local.get $pa) (local.get $pb))))
        (local.set $pa (i16x8.abs (local.get $pa)))
        (local.set $pb (i16x8.abs (local.get $pb)))
        (local.set $hi
          (v128.bitselect
            (local.get $al)
            (v128.bitselect (local.get $bl) (local.get $cl) (i16x8.le_s (local.get $pb) (local.get $pc)))
            (v128.and (i16x8.le_s (local.get $pa) (local.get $pb)) (i16x8.le_s (local.get $pa) (local.get $pc)))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (i8x16.sub (local.get $x) (i8x16.narrow_i16x8_u (local.get $lo) (local.get $hi))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br_if $step (i32.lt_u (local.get $i) (local.get $n))))))
)
