"""The Python client end to end, for bench/peers-e2e.mjs: the official client's recipe over gRPC.

For every file: read it, MD5 and SHA-256 of its bytes (the client's own preparation; MD5 goes on
the wire, which has no SHA-256 hash type), `cv2.imdecode(IMREAD_COLOR)`, `cv2.resize` to 448x448
INTER_LINEAR, compression off (raw B,G,R). Requests of --batch images on one Classify stream (grpcio,
messages built from proto/ by protoc into a temporary folder), one image prepared at a time as
the client does, until every correlation id has its answer. Prints one JSON line: CPU ms of this
process (every thread, grpcio's included), images answered, wall seconds.

    python3 bench/peers_e2e.py --address HOST:PORT --batch 32 FILE...
"""
import argparse
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import cv2
import grpc
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "proto")


def load_messages():
    out = tempfile.mkdtemp(prefix="athena-peers-pb2-")
    subprocess.run(
        ["protoc", f"-I{PROTO}", f"--python_out={out}", "athena/models.proto"],
        check=True,
    )
    sys.path.insert(0, out)
    from athena import models_pb2  # noqa: E402

    return models_pb2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    pb = load_messages()
    channel = grpc.insecure_channel(
        args.address,
        options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
    )
    classify = channel.stream_stream(
        "/athena.ClassifierService/Classify",
        request_serializer=pb.ClassifyRequest.SerializeToString,
        response_deserializer=pb.ClassifyResponse.FromString,
    )
    deployment = "bench-py-" + uuid.uuid4().hex[:12]
    requests = queue.Queue(maxsize=4)

    def produce():
        batch = []
        for i, path in enumerate(args.files):
            with open(path, "rb") as f:
                data = f.read()
            md5 = hashlib.md5(data).hexdigest()
            hashlib.sha256(data).hexdigest()
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if img.shape[0] != 448 or img.shape[1] != 448:
                img = cv2.resize(img, (448, 448), interpolation=cv2.INTER_LINEAR)
            batch.append(
                pb.ClassificationInput(
                    affiliate="bench",
                    correlation_id=f"py-{i}",
                    encoding=pb.REQUEST_ENCODING_UNCOMPRESSED,
                    data=img.tobytes(),
                    format=pb.IMAGE_FORMAT_RAW_UINT8_BGR,
                    hashes=[pb.ImageHash(value=md5, type=pb.HASH_TYPE_MD5)],
                )
            )
            if len(batch) == args.batch:
                requests.put(pb.ClassifyRequest(deployment_id=deployment, inputs=batch))
                batch = []
        if batch:
            requests.put(pb.ClassifyRequest(deployment_id=deployment, inputs=batch))
        requests.put(None)

    answered = set()
    done = threading.Event()

    def request_iter():
        while True:
            r = requests.get()
            if r is None:
                # Keep the stream open until every answer is in, as the client does.
                done.wait()
                return
            yield r

    c0 = time.process_time()
    t0 = time.perf_counter()
    threading.Thread(target=produce, daemon=True).start()
    failures = 0
    for response in classify(request_iter()):
        for out in response.outputs:
            answered.add(out.correlation_id)
            if out.HasField("error") and out.error.code != 0:
                failures += 1
        if len(answered) == len(args.files):
            done.set()
            break
    cpu_ms = (time.process_time() - c0) * 1000
    print(json.dumps({"cpu_ms": cpu_ms, "images": len(answered), "failures": failures, "wall_s": time.perf_counter() - t0}))
    channel.close()


if __name__ == "__main__":
    main()
