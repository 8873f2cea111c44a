"""The reference recipe of the official Python client, for bench/peers.mjs.

OpenCV decode (`cv2.imdecode(buf, IMREAD_COLOR)`), then, unless already 448x448,
`cv2.resize(img, (448, 448), interpolation=INTER_LINEAR)`, then optionally Brotli at a quality
(through libbrotlienc, the C library Python's `brotli` module wraps, loaded with ctypes so that
no pip package is needed). Measures process CPU time (every thread) per image.

Protocol (one JSON object per line): the first stdin line is {"files": [paths]}; answers
{"ready": true, "cv2": version, "brotli": bool}. Then each line {"run": mode, "reps": n} runs
every file n times and answers {"cpu_ms": [per file, mean over reps], "bytes": [...]}, where mode
is "decode" (imdecode of the bytes in memory), "resize" (cv2.resize of the decoded image, decoded
just before, outside the count), "resizeInMemory" (the same after one resize outside the count:
an image that has been in memory a while), "prepare" (read the file, decode, resize), "client" (the Python client's
own preparation: read the file, MD5 and SHA-256 of its bytes, decode, resize) or "brotli<q>"
(prepare + Brotli at q).
{"md5": true} answers the MD5 of each file's prepared B,G,R pixels (or null when OpenCV cannot
decode it); {"decode_md5": [paths]} the MD5 of imdecode's output for other files (the compact
PNG wire, checked against the reference decoder); {"faults": true} the minor page faults so far.
Exits at the end of stdin.
"""
import ctypes
import ctypes.util
import hashlib
import json
import resource
import sys
import time

import cv2
import numpy as np

SIDE = 448


def load_brotli():
    for name in ("libbrotlienc.so.1", ctypes.util.find_library("brotlienc")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.BrotliEncoderMaxCompressedSize.restype = ctypes.c_size_t
        lib.BrotliEncoderMaxCompressedSize.argtypes = [ctypes.c_size_t]
        lib.BrotliEncoderCompress.restype = ctypes.c_int
        lib.BrotliEncoderCompress.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_size_t,
            ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p,
        ]
        return lib
    return None


BROTLI = load_brotli()


def brotli_compress(data, quality):
    # Python brotli.compress defaults: lgwin 22, mode generic (0).
    size = ctypes.c_size_t(BROTLI.BrotliEncoderMaxCompressedSize(len(data)))
    out = ctypes.create_string_buffer(size.value)
    if not BROTLI.BrotliEncoderCompress(quality, 22, 0, len(data), data, ctypes.byref(size), out):
        raise RuntimeError("BrotliEncoderCompress failed")
    return out.raw[: size.value]


def prepare(data):
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    if img.shape[0] != SIDE or img.shape[1] != SIDE:
        img = cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    return img.tobytes()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def run(paths, files, mode, reps):
    cpu, sizes = [], []
    for path, data in zip(paths, files):
        if mode in ("resize", "resizeInMemory"):
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if mode == "resizeInMemory":
                cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR).tobytes()
            start = time.process_time()
            for _ in range(reps):
                out = cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR).tobytes()
            cpu.append((time.process_time() - start) * 1000 / reps)
            sizes.append(len(out))
            del img
            continue
        start = time.process_time()
        size = 0
        for _ in range(reps):
            if mode == "client":
                data = read(path)
                _hashes = (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
                pixels = prepare(data)
                size = 0 if pixels is None else len(pixels)
            elif mode == "decode":
                img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
                size = 0 if img is None else img.nbytes
            else:
                pixels = prepare(read(path) if mode == "prepare" else data)
                if pixels is None:
                    size = 0
                elif mode.startswith("brotli"):
                    size = len(brotli_compress(pixels, int(mode[len("brotli"):])))
                else:
                    size = len(pixels)
        cpu.append((time.process_time() - start) * 1000 / reps)
        sizes.append(size)
    return {"cpu_ms": cpu, "bytes": sizes}


def main():
    first = json.loads(sys.stdin.readline())
    paths = first["files"]
    files = [read(path) for path in paths]
    print(json.dumps({"ready": True, "cv2": cv2.__version__, "brotli": BROTLI is not None}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("faults"):
            print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt}), flush=True)
        elif cmd.get("decode_md5"):
            # The MD5 of what imdecode(IMREAD_COLOR) makes of each file, as is (no resize).
            out = []
            for path in cmd["decode_md5"]:
                with open(path, "rb") as f:
                    img = cv2.imdecode(np.frombuffer(f.read(), dtype=np.uint8), cv2.IMREAD_COLOR)
                out.append(None if img is None else hashlib.md5(img.tobytes()).hexdigest())
            print(json.dumps({"md5": out}), flush=True)
        elif cmd.get("md5"):
            out = []
            for data in files:
                pixels = prepare(data)
                out.append(None if pixels is None else hashlib.md5(pixels).hexdigest())
            print(json.dumps({"md5": out}), flush=True)
        else:
            print(json.dumps(run(paths, files, cmd["run"], cmd.get("reps", 1))), flush=True)


if __name__ == "__main__":
    main()
