// Assembles src/preprocess/resize.wat (hand-written WebAssembly with SIMD) into
// src/preprocess/resize.wasm with wabt, the JS build of the WebAssembly Binary Toolkit (a
// devDependency: no C/Rust wasm toolchain is needed). The .wasm is committed, so that neither
// installing nor building the package needs wabt.
//
//   node scripts/build-wasm.mjs           write resize.wasm
//   node scripts/build-wasm.mjs --check   exit 1 if the committed resize.wasm is not exactly what
//                                         resize.wat assembles to (run by test/preprocess)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const watPath = join(root, 'src/preprocess/resize.wat');
const wasmPath = join(root, 'src/preprocess/resize.wasm');

const wabt = await createRequire(import.meta.url)('wabt')();
const module = wabt.parseWat('resize.wat', readFileSync(watPath, 'utf8'), { simd: true });
let buffer;
try {
  module.resolveNames();
  module.validate();
  // No names section: the binary depends on the code alone, and stays small.
  ({ buffer } = module.toBinary({ log: false, write_debug_names: false }));
} finally {
  module.destroy();
}
const bytes = Buffer.from(buffer);
// Every engine the package supports (Node >= 20) compiles it; fail here rather than at load time.
new WebAssembly.Module(bytes);

if (process.argv.includes('--check')) {
  let committed;
  try {
    committed = readFileSync(wasmPath);
  } catch {
    committed = Buffer.alloc(0);
  }
  if (!committed.equals(bytes)) {
    console.error(`${wasmPath} is not what ${watPath} assembles to: run node scripts/build-wasm.mjs`);
    process.exit(1);
  }
  console.log(`resize.wasm matches resize.wat (${bytes.length} bytes)`);
} else {
  writeFileSync(wasmPath, bytes);
  console.log(`wrote ${wasmPath} (${bytes.length} bytes)`);
}
