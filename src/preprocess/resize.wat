;; WebAssembly SIMD kernels of the exact OpenCV 4.6 INTER_LINEAR resize (see resize.ts for the
;; arithmetic and resizeWasm.ts for the driver that lays out memory and calls these per row).
;; Assembled by scripts/build-wasm.mjs (wabt) into resize.wasm, which is committed; a test checks
;; that the committed binary is exactly what this text assembles to.
;;
;; Memory is owned by the driver: every pointer below is a byte offset it chose, and every buffer
;; has slack after its end (the kernels read and write whole vectors past the last element).
(module
  (memory (export "memory") 1)

  ;; hrow: one source row to one row of int16 horizontal sums, `(S[x0] * w0 + S[x1] * w1) >> shift`
  ;; for each output channel (OpenCV's HResizeLinear, then the `>> 4` of the vertical pass).
  ;;   $src   the source row (decoder layout: R,G,B, B,G,R or grey), 4 bytes of slack
  ;;   $tab   per output pixel three i32: byte offset in the row of the left neighbour, of the
  ;;          right neighbour, and the two weights packed as (w1 << 16) | w0
  ;;   $out   3 * $n int16 results, 2 bytes of slack (each pixel stores 4 lanes; the 4th is
  ;;          overwritten by the next pixel)
  ;;   $mask  16 bytes for i8x16.swizzle over [p0 p1 p2 p3 q0 q1 q2 q3]: the (p, q) pairs of the
  ;;          B, G and R outputs, then indices >= 16 (zero)
  ;; One pixel per iteration: the two neighbours are loaded as 4 bytes each, interleaved per channel
  ;; by the swizzle, widened to int16, and i32x4.dot_i16x8_s multiplies each pair by (w0, w1) and
  ;; adds, exactly (every product fits in int32).
  (func (export "hrow")
    (param $src i32) (param $tab i32) (param $out i32) (param $n i32) (param $shift i32) (param $mask i32)
    (local $m v128) (local $v v128) (local $end i32)
    (local.set $m (v128.load (local.get $mask)))
    (local.set $end (i32.add (local.get $tab) (i32.mul (local.get $n) (i32.const 12))))
    (block $done
      (br_if $done (i32.ge_u (local.get $tab) (local.get $end)))
      (loop $pixel
        (local.set $v
          (v128.load32_zero (i32.add (local.get $src) (i32.load (local.get $tab)))))
        (local.set $v
          (v128.load32_lane 1
            (i32.add (local.get $src) (i32.load offset=4 (local.get $tab)))
            (local.get $v)))
        (local.set $v
          (i32x4.shr_s
            (i32x4.dot_i16x8_s
              (i16x8.extend_low_i8x16_u (i8x16.swizzle (local.get $v) (local.get $m)))
              (i32x4.splat (i32.load offset=8 (local.get $tab))))
            (local.get $shift)))
        (v128.store64_lane 0 (local.get $out) (i16x8.narrow_i32x4_s (local.get $v) (local.get $v)))
        (local.set $out (i32.add (local.get $out) (i32.const 6)))
        (local.set $tab (i32.add (local.get $tab) (i32.const 12)))
        (br_if $pixel (i32.lt_u (local.get $tab) (local.get $end))))))

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
        (br_if $block (i32.lt_u (local.get $out) (local.get $end)))))))
