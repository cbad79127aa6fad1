"""Times ONNX Runtime's MatMulInteger (u8 A x s8 B, B a constant initializer) on n x n x n,
as qlab's INT8 GEMM is timed: the median of `runs` timed runs after one warm-up, in GOPS
(2 ops per multiply-add). Prints one JSON object."""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model(n: int) -> bytes:
    rng = np.random.default_rng(0)
    b = rng.integers(-127, 128, size=(n, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B", "a_zp", "b_zp"], ["Y"])],
        "mmi",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [n, n])],
        [
            numpy_helper.from_array(b, "B"),
            numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zp"),
            numpy_helper.from_array(np.array(0, dtype=np.int8), "b_zp"),
        ],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def main() -> None:
    n, threads, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(model(n), opts, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(1).integers(0, 256, size=(n, n), dtype=np.uint8)
    s.run(None, {"A": a})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {"A": a})
        times.append(time.perf_counter() - t)
    med = sorted(times)[len(times) // 2]
    print(json.dumps({"n": n, "threads": threads, "gops": 2 * n**3 / med / 1e9,
                      "ort": ort.__version__}))


if __name__ == "__main__":
    main()
