"""EPIC-100 hand-object detections: the protobuf messages, the released pickles, the match rule.

The released files (one pickle per video, ``PXX/PXX_YY.pkl``) hold a Python list of serialized
``model.detections.Detections`` messages, list index i = frame i+1, coordinates normalised to
[0, 1]. The message classes are built here from a ``FileDescriptorProto`` written in code (the
same field numbers and types as the release's ``types.proto``), so no protoc and no generated
``_pb2`` module are needed and the bytes are wire-compatible both ways.

The detector's own demo output (``hand_dets``/``obj_dets`` rows in pixels) is read by
``raw_frame``. Everything here returns ``HandObs``/``ObjBox`` tuples that contact.py consumes.
"""
from __future__ import annotations

import functools
import io
import pickle
from typing import NamedTuple

# Hand states as the release numbers them, and the letters the paper (Shan et al. 2020) uses.
STATES = ("N", "S", "O", "P", "F")
STATE_NAMES = ("NO_CONTACT", "SELF_CONTACT", "ANOTHER_PERSON", "PORTABLE_OBJECT", "STATIONARY_OBJECT")
SIDES = ("left", "right")
# The raw demo multiplies its predicted offset magnitude by this before adding it to the hand
# centre (hand_object_detector lib/model/utils/net_utils.py, filter_object).
RAW_OFFSET_SCALE = 10000.0


class ObjBox(NamedTuple):
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 normalised to [0, 1]
    score: float


class HandObs(NamedTuple):
    """One detected hand in one frame."""
    side: str                                # "left" | "right"
    state: str                               # one of STATES
    score: float
    box: tuple[float, float, float, float]   # normalised xyxy
    offset: tuple[float, float]              # normalised, hand centre -> object centre
    object_index: int | None = None          # index into the frame's objects once matched


class HoaFrame(NamedTuple):
    frame: int                # 1-based frame number
    hands: tuple[HandObs, ...]
    objects: tuple[ObjBox, ...]


@functools.lru_cache(maxsize=None)
def messages():
    """The message classes (``Detections``, ``HandDetection``, ``ObjectDetection``, ``BBox``,
    ``FloatVector``) in a private descriptor pool, as a dict by name."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="leap_cli/hoa_types.proto", package="model.detections", syntax="proto3")

    def message(name, fields, enums=()):
        m = fdp.message_type.add(name=name)
        for enum_name, values in enums:
            e = m.enum_type.add(name=enum_name)
            for number, value in enumerate(values):
                e.value.add(name=value, number=number)
        for number, (fname, ftype, type_name, repeated) in enumerate(fields, start=1):
            f = m.field.add(name=fname, number=number, type=ftype,
                            label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = type_name
        return m

    msg, flt, enum = F.TYPE_MESSAGE, F.TYPE_FLOAT, F.TYPE_ENUM
    message("FloatVector", [("x", flt, None, False), ("y", flt, None, False)])
    # Field 1 was called top_left_x in older releases; the name never reaches the wire.
    message("BBox", [("left", flt, None, False), ("top", flt, None, False),
                     ("right", flt, None, False), ("bottom", flt, None, False)])
    message("HandDetection",
            [("bbox", msg, ".model.detections.BBox", False), ("score", flt, None, False),
             ("state", enum, ".model.detections.HandDetection.HandState", False),
             ("object_offset", msg, ".model.detections.FloatVector", False),
             ("side", enum, ".model.detections.HandDetection.HandSide", False)],
            enums=[("HandState", STATE_NAMES), ("HandSide", ("LEFT", "RIGHT"))])
    message("ObjectDetection", [("bbox", msg, ".model.detections.BBox", False),
                                ("score", flt, None, False)])
    message("Detections", [("video_id", F.TYPE_STRING, None, False),
                           ("frame_number", F.TYPE_INT32, None, False),
                           ("hands", msg, ".model.detections.HandDetection", True),
                           ("objects", msg, ".model.detections.ObjectDetection", True)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"model.detections.{m.name}"))
            for m in fdp.message_type}


def _box(b) -> tuple[float, float, float, float]:
    return (float(b.left), float(b.top), float(b.right), float(b.bottom))


def parse_detections(data: bytes) -> tuple[str, HoaFrame]:
    """One serialized ``Detections`` message -> (video_id, frame), hands unmatched."""
    d = messages()["Detections"]()
    d.ParseFromString(data)
    hands = tuple(
        HandObs(SIDES[h.side] if h.side < 2 else "right", STATES[h.state] if h.state < 5 else "N",
                float(h.score), _box(h.bbox), (float(h.object_offset.x), float(h.object_offset.y)))
        for h in d.hands)
    objects = tuple(ObjBox(_box(o.bbox), float(o.score)) for o in d.objects)
    return d.video_id, HoaFrame(int(d.frame_number), hands, objects)


def serialize_detections(video_id: str, frame: HoaFrame) -> bytes:
    """The inverse of ``parse_detections`` (tests and converters write release-format files)."""
    m = messages()
    d = m["Detections"](video_id=video_id, frame_number=frame.frame)
    for h in frame.hands:
        hd = d.hands.add(score=h.score, state=STATES.index(h.state), side=SIDES.index(h.side))
        hd.bbox.left, hd.bbox.top, hd.bbox.right, hd.bbox.bottom = h.box
        hd.object_offset.x, hd.object_offset.y = h.offset
    for o in frame.objects:
        od = d.objects.add(score=o.score)
        od.bbox.left, od.bbox.top, od.bbox.right, od.bbox.bottom = o.box
    return d.SerializeToString()


class _ListOfBytes(pickle.Unpickler):
    # The release pickles hold only a list of bytes; refusing every other global keeps a
    # hostile pickle from running code. Protocol 2 spells bytes as _codecs.encode(str, latin1)
    # and empty bytes as __builtin__.bytes().
    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            import codecs
            return codecs.encode
        if (module, name) in (("__builtin__", "bytes"), ("builtins", "bytes")):
            return bytes
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a detections pickle")


def load_pickle(data: bytes) -> list[bytes]:
    """The released pickle's content: the list of serialized messages (index i = frame i+1)."""
    items = _ListOfBytes(io.BytesIO(data)).load()
    if not isinstance(items, list) or not all(isinstance(x, (bytes, bytearray)) for x in items):
        raise ValueError("not a list of serialized Detections messages")
    return items


def match(frame: HoaFrame, hand_threshold: float = 0.5, object_threshold: float = 0.5) -> HoaFrame:
    """The release's rule (FrameDetections.get_hand_object_interactions): every hand scoring
    above ``hand_threshold`` and not NO_CONTACT gets the object (score >= ``object_threshold``)
    whose box centre is nearest to hand centre + offset. Hands at or below the threshold are
    dropped; a contact hand with no object left keeps ``object_index`` None."""
    candidates = [i for i, o in enumerate(frame.objects) if o.score >= object_threshold]
    hands = []
    for h in frame.hands:
        if h.score <= hand_threshold:
            continue
        idx = None
        if h.state != "N" and candidates:
            px = (h.box[0] + h.box[2]) / 2 + h.offset[0]
            py = (h.box[1] + h.box[3]) / 2 + h.offset[1]

            def dist(i):
                b = frame.objects[i].box
                return ((b[0] + b[2]) / 2 - px) ** 2 + ((b[1] + b[3]) / 2 - py) ** 2
            idx = min(candidates, key=dist)  # first of equals, as numpy's argmin
        hands.append(h._replace(object_index=idx))
    return frame._replace(hands=tuple(hands))


def raw_frame(frame: int, hand_dets, obj_dets, width: float, height: float) -> HoaFrame:
    """The detector demo's arrays -> a frame. Rows: ``[x1, y1, x2, y2, score, state, magnitude,
    dx, dy, side]`` in pixels of a ``width`` x ``height`` image (obj_dets: first 5 used)."""
    hands = []
    for r in ([] if hand_dets is None else hand_dets):
        r = [float(v) for v in r]
        if len(r) < 10:
            raise ValueError(f"hand_dets row has {len(r)} columns, expected 10")
        mag = r[6] * RAW_OFFSET_SCALE
        state = int(round(r[5]))
        hands.append(HandObs(
            SIDES[1 if r[9] >= 0.5 else 0], STATES[state] if 0 <= state < 5 else "N", r[4],
            (r[0] / width, r[1] / height, r[2] / width, r[3] / height),
            (mag * r[7] / width, mag * r[8] / height)))
    objects = []
    for r in ([] if obj_dets is None else obj_dets):
        r = [float(v) for v in r]
        if len(r) < 5:
            raise ValueError(f"obj_dets row has {len(r)} columns, expected at least 5")
        objects.append(ObjBox((r[0] / width, r[1] / height, r[2] / width, r[3] / height), r[4]))
    return HoaFrame(frame, tuple(hands), tuple(objects))
