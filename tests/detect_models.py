"""Tiny real ONNX models for the leap-detect / leap-contact tests, built with onnx.helper.

``box_detector`` finds solid-coloured rectangles: per class, the pixels within a tolerance of
the class colour, and the box around them (first/last row and column that has such a pixel).
It is a real detector of those boxes, with the knobs a manifest describes: input layout, dtype,
channel order, box format, pixel or normalised boxes, TF-style float 1-based classes and a
count output, and duplicate boxes so that NMS has something to suppress.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


def lavfi_boxes(path: Path, seconds: float = 3.0, size=(160, 120), rate: int = 10) -> Path:
    """A lossless video of coloured boxes over grey: red 30x20 at x = 10 + 40 t, y = 20 (only
    while t < 1.2 s); lime 24x30 at x = 100, y = 70 - 20 t; yellow 20x20 still at (20, 80);
    blue 16x16 still at (130, 10). Positions are written with the frame number round(10 t) (exact
    integers; 20 * 2.3 in floating point would land one pixel off) and stay even (overlay
    rounds to even pixels), so the boxes are known to the pixel."""
    assert rate == 10, "the overlay expressions assume 10 fps"
    from leap_cli.media import ffmpeg_exe

    w, h = size
    graph = (f"color=c=gray:s={w}x{h}:d={seconds}:r={rate}[bg];"
             f"color=c=red:s=30x20:d={seconds}:r={rate}[r];"
             f"color=c=lime:s=24x30:d={seconds}:r={rate}[g];"
             f"color=c=yellow:s=20x20:d={seconds}:r={rate}[y];"
             f"color=c=blue:s=16x16:d={seconds}:r={rate}[b];"
             "[bg][r]overlay=x='10+4*round(10*t)':y=20:enable='lt(t,1.15)'[a];"
             "[a][g]overlay=x=100:y='70-2*round(10*t)'[c];"
             "[c][y]overlay=x=20:y=80[d];"
             "[d][b]overlay=x=130:y=10,format=rgb24")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", graph,
                    "-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)], check=True)
    return path


def red_box(t: float):
    return (10 + 40 * t, 20, 40 + 40 * t, 40) if t < 1.2 - 1e-9 else None


def lime_box(t: float):
    return (100, 70 - 20 * t, 124, 100 - 20 * t)


YELLOW_BOX = (20, 80, 40, 100)
BLUE_BOX = (130, 10, 146, 26)

# (rgb colour, score the detector gives it)
COLOURS = {"red": ((255, 0, 0), 0.95), "lime": ((0, 255, 0), 0.9),
           "yellow": ((255, 255, 0), 0.8), "blue": ((0, 0, 255), 0.4)}


def box_detector(path: Path, classes=("red", "lime", "yellow", "blue"), *, size=(160, 120),
                 layout="NCHW", dtype="float32", color="RGB", box_format="xyxy", normalized=False,
                 duplicates=True, class_ids=None, tf_classes=False, count=False, batch=None) -> Path:
    """Write the model; its outputs are ``boxes`` [B, K, 4], ``scores`` [B, K], ``classes``
    [B, K] (``class_ids[k]``, default k; floats when ``tf_classes``, as TF exports) and with
    ``count`` a ``num`` [B] output. Inputs: ``images`` in the given layout/dtype/colour order."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, h = size
    nodes, inits = [], []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    x = "images"
    if dtype == "uint8":
        x = node("Cast", [x], "x_float", to=TensorProto.FLOAT)
    if layout == "NHWC":
        x = node("Transpose", [x], "x_nchw", perm=[0, 3, 1, 2])   # [B, 3, H, W]
    unit = 255.0 if dtype == "uint8" else 1.0                      # float inputs come scaled 1/255
    boxes, scores, labels = [], [], []
    copies = 2 if duplicates else 1
    for k, name in enumerate(classes):
        rgb, score = COLOURS[name]
        c = [v * unit / 255.0 for v in (rgb[::-1] if color == "BGR" else rgb)]
        diff = node("Abs", [node("Sub", [x, const(f"c{k}", np.reshape(c, (1, 3, 1, 1)))], f"d{k}")], f"a{k}")
        worst = node("ReduceMax", [diff], f"w{k}", axes=[1], keepdims=0)           # [B, H, W]
        mask = node("Cast", [node("Less", [worst, const(f"tol{k}", 0.2 * unit)], f"l{k}")],
                    f"m{k}", to=TensorProto.FLOAT)
        cols = node("ReduceMax", [mask], f"cols{k}", axes=[1], keepdims=0)         # [B, W]
        rows = node("ReduceMax", [mask], f"rows{k}", axes=[2], keepdims=0)         # [B, H]
        one = const(f"one{k}", 1, np.int64)
        x1 = node("ArgMax", [cols], f"x1_{k}", axis=1, keepdims=1)                  # [B, 1]
        x2 = node("Add", [node("ArgMax", [cols], f"x2r{k}", axis=1, keepdims=1, select_last_index=1), one], f"x2_{k}")
        y1 = node("ArgMax", [rows], f"y1_{k}", axis=1, keepdims=1)
        y2 = node("Add", [node("ArgMax", [rows], f"y2r{k}", axis=1, keepdims=1, select_last_index=1), one], f"y2_{k}")
        order = [y1, x1, y2, x2] if box_format == "yxyx" else [x1, y1, x2, y2]
        box = node("Cast", [node("Concat", order, f"bi{k}", axis=1)], f"bf{k}", to=TensorProto.FLOAT)  # [B, 4]
        if normalized:
            scale = [h, w, h, w] if box_format == "yxyx" else [w, h, w, h]
            box = node("Div", [box, const(f"wh{k}", scale)], f"bn{k}")
        present = node("ReduceMax", [cols], f"p{k}", axes=[1], keepdims=1)          # [B, 1]
        for copy in range(copies):
            # the copy: one pixel wider, a lower score (what NMS exists for)
            b = box if copy == 0 else node("Add", [box, const(f"shift{k}", [0, 0, 1.0 / (w if normalized else 1), 0])], f"bd{k}")
            boxes.append(node("Unsqueeze", [b, const(f"ax{k}_{copy}", [1], np.int64)], f"bu{k}_{copy}"))
            scores.append(node("Mul", [present, const(f"s{k}_{copy}", score * (1 - 0.1 * copy))], f"sc{k}_{copy}"))
            label = class_ids[k] if class_ids else k
            labels.append(node("Add", [node("Mul", [present, const(f"z{k}_{copy}", 0.0)], f"zz{k}_{copy}"),
                                       const(f"lab{k}_{copy}", float(label))], f"lb{k}_{copy}"))
    node("Concat", boxes, "boxes", axis=1)                                           # [B, K, 4]
    node("Concat", scores, "scores", axis=1)                                         # [B, K]
    cls = node("Concat", labels, "classes_f", axis=1)
    if tf_classes:
        node("Identity", [cls], "classes")
    else:
        node("Cast", [cls], "classes", to=TensorProto.INT64)
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["B", len(boxes), 4]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["B", len(boxes)]),
               helper.make_tensor_value_info("classes", TensorProto.FLOAT if tf_classes else TensorProto.INT64,
                                             ["B", len(boxes)])]
    if count:
        ones = node("Add", [node("Mul", ["scores", const("zero", 0.0)], "sz"), const("uno", 1.0)], "s1")
        node("ReduceSum", [ones, const("sum_axes", [1], np.int64)], "num", keepdims=0)  # [B]
        outputs.append(helper.make_tensor_value_info("num", TensorProto.FLOAT, ["B"]))
    shape = [batch or "B", h, w, 3] if layout == "NHWC" else [batch or "B", 3, h, w]
    elem = TensorProto.UINT8 if dtype == "uint8" else TensorProto.FLOAT
    graph = helper.make_graph(nodes, "boxes", [helper.make_tensor_value_info("images", elem, shape)],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


HAND_BOX = (60, 60, 90, 100)       # pixels of the 160x120 video


def hand_object_detector(path: Path, size=(160, 120)) -> Path:
    """A hand-object detector in the detector demo's output format: ``hand_dets`` [B, 1, 10]
    (one right hand at HAND_BOX, in contact with a portable object (state 3) exactly while the
    red box is in the frame, its offset pointing at the yellow box) and ``obj_dets`` [B, 2, 10]
    (the yellow and blue boxes). Input ``images`` [B, 3, H, W] float RGB scaled 1/255."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, h = size
    inits = []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    hx, hy = (HAND_BOX[0] + HAND_BOX[2]) / 2, (HAND_BOX[1] + HAND_BOX[3]) / 2
    ox, oy = (YELLOW_BOX[0] + YELLOW_BOX[2]) / 2, (YELLOW_BOX[1] + YELLOW_BOX[3]) / 2
    mag = float(np.hypot(ox - hx, oy - hy))
    base = [[[*HAND_BOX, 0.97, 0, mag / 10000, (ox - hx) / mag, (oy - hy) / mag, 1]]]
    objs = [[[*YELLOW_BOX, 0.9, 0, 0, 0, 0, 0], [*BLUE_BOX, 0.8, 0, 0, 0, 0, 0]]]
    nodes = [
        helper.make_node("Sub", ["images", const("red", np.reshape([1.0, 0, 0], (1, 3, 1, 1)))], ["d"]),
        helper.make_node("Abs", ["d"], ["a"]),
        helper.make_node("ReduceMax", ["a"], ["w"], axes=[1], keepdims=0),                 # [B, H, W]
        helper.make_node("Less", ["w", const("tol", 0.2)], ["l"]),
        helper.make_node("Cast", ["l"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["m"], ["p3"], axes=[1, 2], keepdims=1),           # [B, 1, 1]
        helper.make_node("Mul", ["p3", const("state", [[[0, 0, 0, 0, 0, 3, 0, 0, 0, 0]]])], ["st"]),
        helper.make_node("Add", ["st", const("base", base)], ["hand_dets"]),             # [B, 1, 10]
        helper.make_node("Mul", ["p3", const("zero", 0.0)], ["z"]),
        helper.make_node("Add", ["z", const("objs", objs)], ["obj_dets"]),               # [B, 2, 10]
    ]
    graph = helper.make_graph(
        nodes, "hands", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["B", 3, h, w])],
        [helper.make_tensor_value_info("hand_dets", TensorProto.FLOAT, ["B", 1, 10]),
         helper.make_tensor_value_info("obj_dets", TensorProto.FLOAT, ["B", 2, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def layout_detector(path: Path, kind: str, *, size=(160, 120), objectness=False, attrs_first=True) -> Path:
    """``box_detector`` (NCHW float RGB, pixel xyxy boxes, one box per class k = 0..3) with its
    outputs repacked the way real exports are: ``packed`` -> ``detections`` [B, K, 6] (x1, y1, x2,
    y2, score, class: CenterNet), ``yolo`` -> ``output0`` [B, 4+o+C, K] (or [B, K, 4+o+C] when not
    ``attrs_first``): cx, cy, w, h, with ``objectness`` the score, then one column per class."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    box_detector(path, size=size, duplicates=False, tf_classes=True)
    model = onnx.load(str(path))
    g = model.graph
    k = len(COLOURS)

    def const(name, value, dtype=np.float32):
        g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(op, inputs, output, **attrs):
        g.node.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    axis = const("last_axis", [2], np.int64)
    score_col = node("Unsqueeze", ["scores", axis], "score_col")                       # [B, K, 1]
    if kind == "packed":
        node("Concat", ["boxes", score_col, node("Unsqueeze", ["classes", axis], "class_col")],
             "detections", axis=2)                                                     # [B, K, 6]
        outputs = [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["B", k, 6])]
    else:
        to_cxcywh = [[0.5, 0, -1, 0], [0, 0.5, 0, -1], [0.5, 0, 1, 0], [0, 0.5, 0, 1]]
        xywh = node("MatMul", ["boxes", const("to_cxcywh", to_cxcywh)], "xywh")         # [B, K, 4]
        eye = const("eye", np.eye(k)[None])                                           # box j is class j
        if objectness:
            cols = [xywh, score_col, node("Add", [node("Mul", [score_col, const("z0", 0.0)], "zc"), eye], "onehot")]
        else:
            cols = [xywh, node("Mul", [score_col, eye], "class_scores")]
        rows = node("Concat", cols, "rows", axis=2)                                   # [B, K, 4+o+C]
        attrs = 4 + int(objectness) + k
        if attrs_first:
            node("Transpose", [rows], "output0", perm=[0, 2, 1])
            shape = ["B", attrs, k]
        else:
            node("Identity", [rows], "output0")
            shape = ["B", k, attrs]
        outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, shape)]
    del g.output[:]
    g.output.extend(outputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
