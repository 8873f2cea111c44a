// Instructions per resize, ours against OpenCV's, counted by valgrind's callgrind: a figure that the
// load of a shared machine does not move. Prints counts, never asserts.
//
//   npm run build && node bench/resize-callgrind.mjs [--photos 000,016,023]
//
// For each photo of the corpus (bench/corpus.mjs; chosen by the number its name starts with) the
// decoded pixels are written to a temporary file, and each side resizes them to 448x448 two times
// and twelve times in a process of its own under callgrind; the difference over ten is one resize,
// without start-up or loading. Ours: `resizeRaw` of dist/cjs (node --no-liftoff, so that the
// kernels run as TurboFan compiles them). OpenCV's: `cv::hal::resize`, which `cv2.resize` calls
// (INTER_LINEAR, one thread), from a 30-line C++ program linked against Debian's
// libopencv_imgproc (python3-opencv's): python3 with cv2 cannot run under valgrind here, as
// importing cv2 loads libhwy, whose start-up executes RDTSCP, which valgrind does not decode.
//
// Callgrind counts each byte a `rep movsb` moves as one instruction: our copies of the source rows
// into WebAssembly memory and of the result out of it (memcpy) are shown apart, and their cost is a
// matter of memory traffic, not of instructions. Needs valgrind, g++ and libopencv-imgproc4.6
// (python3-opencv depends on it); says what is missing otherwise.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { distDir } from './lib.mjs';
import { photoCorpus } from './corpus.mjs';

const { values } = parseArgs({ options: { photos: { type: 'string', default: '000,016,023' } } });
const require = createRequire(import.meta.url);
const { decodeRaw } = require(join(distDir(), 'preprocess', 'decode.js'));

const HARNESS = `#include <cstdio>
#include <cstdlib>
#include <vector>
namespace cv { namespace hal {
void resize(int src_type, const unsigned char *src_data, size_t src_step, int src_width, int src_height,
            unsigned char *dst_data, size_t dst_step, int dst_width, int dst_height,
            double inv_scale_x, double inv_scale_y, int interpolation);
} }
int main(int argc, char **argv) {
  int w = atoi(argv[2]), h = atoi(argv[3]), n = atoi(argv[4]);
  std::vector<unsigned char> src((size_t)w * h * 3);
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(src.data(), 1, src.size(), f) != src.size()) return 1;
  fclose(f);
  unsigned sum = 0;
  for (int i = 0; i < n; i++) {
    std::vector<unsigned char> dst(448 * 448 * 3);
    cv::hal::resize(16 /* CV_8UC3 */, src.data(), (size_t)w * 3, w, h, dst.data(), 448 * 3, 448, 448,
                    448.0 / w, 448.0 / h, 1 /* INTER_LINEAR */);
    sum += dst[1000];
  }
  printf("%u\\n", sum);
  return 0;
}
`;

const NODE_SIDE = `const { readFileSync } = require('fs');
const { resizeRaw } = require(process.argv[2]);
const [file, w, h, n] = process.argv.slice(3);
const src = { data: readFileSync(file), width: +w, height: +h, channels: 3, order: 'rgb' };
for (let i = 0; i < +n; i++) resizeRaw(src, 448, 448);
`;

/** The first of the tools this needs that cannot be run, or undefined. */
function missing() {
  return ['valgrind', 'g++'].find((cmd) => spawnSync(cmd, ['--version']).status !== 0);
}

/** Instructions of one run under callgrind, and those of memcpy (its `rep movsb` bytes). */
function callgrind(dir, argv) {
  const out = join(dir, 'cg.out');
  const env = { ...process.env, OPENCV_FOR_THREADS_NUM: '1' };
  execFileSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...argv], { env, stdio: 'ignore' });
  const report = execFileSync('callgrind_annotate', ['--threshold=100', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const number = (line) => Number(line.trim().split(/\s+/)[0].replace(/,/g, ''));
  const total = number(report.split('\n').find((l) => l.includes('PROGRAM TOTALS')));
  const copies = report
    .split('\n')
    .filter((l) => /memmove|memcpy/.test(l) && /^\s*[\d,]+ \(/.test(l))
    .reduce((s, l) => s + number(l), 0);
  return { total, copies };
}

const absent = missing();
if (absent) {
  console.log(`resize-callgrind: not measured (${absent} is missing)`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'athena-resize-cg-'));
try {
  const exe = join(dir, 'cvhal');
  writeFileSync(join(dir, 'cvhal.cpp'), HARNESS);
  const built = spawnSync('g++', ['-O2', join(dir, 'cvhal.cpp'), '-o', exe, '-l:libopencv_imgproc.so.406', '-l:libopencv_core.so.406']);
  if (built.status !== 0) {
    console.log('resize-callgrind: not measured (cannot link libopencv_imgproc.so.406; install python3-opencv)');
    process.exit(0);
  }
  writeFileSync(join(dir, 'ours.cjs'), NODE_SIDE);
  const resizeJs = join(distDir(), 'preprocess', 'resize.js');
  const wanted = String(values.photos).split(',');
  const photos = (await photoCorpus()).filter((p) => wanted.some((w) => p.name.startsWith(w)));
  console.log(
    `load average at the start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log('| photo | ours: instructions per resize | of which memcpy (bytes copied) | ours without memcpy | OpenCV cv::hal::resize |');
  console.log('|---|--:|--:|--:|--:|');
  for (const photo of photos) {
    const image = await decodeRaw(readFileSync(photo.path));
    if (image.channels !== 3) continue;
    const raw = join(dir, 'image.raw');
    writeFileSync(raw, image.data.subarray(0, image.width * image.height * 3));
    const size = [String(image.width), String(image.height)];
    const per = (argv) => {
      const a = callgrind(dir, [...argv, raw, ...size, '2']);
      const b = callgrind(dir, [...argv, raw, ...size, '12']);
      return { total: (b.total - a.total) / 10, copies: (b.copies - a.copies) / 10 };
    };
    const ours = per([process.execPath, '--no-liftoff', join(dir, 'ours.cjs'), resizeJs]);
    const theirs = per([exe]);
    const m = (x) => `${(x / 1e6).toFixed(2)} M`;
    console.log(`| ${photo.name} | ${m(ours.total)} | ${m(ours.copies)} | ${m(ours.total - ours.copies)} | ${m(theirs.total)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
