"""One clip's evidence as a timeline, beside its stub and its parsed program (leap-show)."""
from __future__ import annotations

import textwrap
from typing import NamedTuple

from . import stages

GRAB, RELEASE, BOTH = "+", "-", "±"


def _present(record: dict, key: str) -> dict:
    value = record.get(key)
    return value if isinstance(value, dict) and not value.get("missing") else {}


# The timeline rows of each evidence stage's value (the registry, leap_cli/stages.py, names them).
def sound_lanes(value: dict) -> list[tuple[str, list]]:
    return [("sound", [(e["start"], e["stop"], e.get("label") or "sound") for e in value.get("events", [])])]


def walk_lanes(value: dict) -> list[tuple[str, list]]:
    return [("walk", [(g["start"], g["stop"], "goto") for g in value.get("goto", [])])]


def hand_lanes(value: dict) -> list[tuple[str, list]]:
    return [(f"{hand} hand", [(e["t"], e["t"], f"{GRAB if e['kind'] == 'grab' else RELEASE}{e.get('object') or '?'}")
                              for e in value.get("events", []) if e.get("hand") == hand])
            for hand in ("left", "right")]


def object_lanes(value: dict) -> list[tuple[str, list]]:
    return [("objects", [(f["t"], f["t"], ",".join(f.get("nouns", []))) for f in value.get("frames", [])
                         if f.get("nouns")])]


class Lane(NamedTuple):
    """One timeline row: items are (start, stop, label) in clip seconds (instants: start == stop);
    state says why a row is empty: "none found", "missing (reason)" or "not run"."""
    name: str
    stage: str
    items: list
    state: str = ""


def evidence(record: dict, per_object: bool = False) -> list[Lane]:
    """The clip's timeline rows, stage by stage (leap_cli/stages.py: ``lanes``, ``lane_rank``);
    ``per_object`` gives each detected noun its own row (most seen first) instead of one "objects" row."""
    rows = []
    for key, rows_of in stages.lane_renderers():
        value = record.get(key)
        if not isinstance(value, dict):
            names = [n for n, _ in rows_of({})]
            rows += [Lane(n, key, [], "not run") for n in names]
            continue
        if value.get("missing"):
            rows += [Lane(n, key, [], f"missing ({value['missing']})") for n, _ in rows_of({})]
            continue
        if key == "detect" and per_object and value.get("frames"):
            rows += [Lane(noun, key, marks) for noun, marks in object_rows(value)]
            continue
        rows += [Lane(n, key, items, "" if items else "none found") for n, items in rows_of(value)]
    return rows


def object_rows(detect: dict) -> list[tuple[str, list]]:
    """(noun, [(t, t, noun)]) per detected noun, the most often seen first."""
    seen: dict[str, list] = {}
    for f in detect.get("frames", []):
        for noun in dict.fromkeys(f.get("nouns", [])):
            seen.setdefault(noun, []).append((f["t"], f["t"], noun))
    return sorted(seen.items(), key=lambda kv: -len(kv[1]))


def lanes(record: dict) -> list[tuple[str, list[tuple[float, float, str]]]]:
    """Timeline rows: (name, [(start, stop, label)]), instants as start == stop; times in clip seconds."""
    return [(lane.name, lane.items) for lane in evidence(record)]


def timeline_text(record: dict, width: int = 64) -> list[str]:
    """A text timeline of the clip, one row per evidence kind: '=' spans, '+'/'-' grabs/releases
    ('±' both in one column), '*' frames with detections; an empty row says why it is empty."""
    length = max(float(record.get("stop", 0)) - float(record.get("start", 0)), 1e-6)
    col = lambda t: min(width - 1, max(0, int(round(float(t) / length * (width - 1)))))  # noqa: E731
    out = [f"{'':12}0{'':{width - 2}}{length:.2f} s"]
    for name, _, items, state in evidence(record):
        # an empty row says why: "none found", "missing (reason)" (cut to fit) or "not run"
        cells = list(f" {state[:width - 2]}".ljust(width)) if state else [" "] * width
        for start, stop, label in items:
            if start == stop:
                mark = label[0] if label[:1] in (GRAB, RELEASE) else "*"
                # A grab and a release in one column (one hand swapping objects) both stay visible.
                cells[col(start)] = BOTH if {mark, cells[col(start)]} == {GRAB, RELEASE} else mark
            else:
                for i in range(col(start), col(stop) + 1):
                    cells[i] = "="
        out.append(f"{name:>11} |{''.join(cells)}|")
        notes = [f"{lbl} @{s:.2f}" if s == e else f"{lbl} {s:.2f}-{e:.2f}" for s, e, lbl in sorted(set(items))]
        if notes and name != "objects":
            out += textwrap.wrap("; ".join(notes), width, initial_indent=" " * 13, subsequent_indent=" " * 13)
    objects = _present(record, "detect").get("objects")
    if objects:
        out += textwrap.wrap("objects: " + ", ".join(objects), width + 13, initial_indent=" " * 13,
                             subsequent_indent=" " * 13)
    for key in (s.key for s in stages.pipeline() if s.evidence):
        if isinstance(record.get(key), dict) and record[key].get("missing"):
            out.append(f"{key:>11}: missing ({record[key]['missing']})")
    return out


def program_text(record: dict) -> list[str]:
    """The program as the model wrote it, then its steps and any world-state violations."""
    program = record.get("program") or {}
    response = (record.get("prompt") or {}).get("response")
    out = response.rstrip("\n").splitlines() if response else ["(no program text)"]
    if program:
        out += ["", "steps:"]
        out += [f"  {i}. {s['verb']}({', '.join(s['objects'])})" for i, s in enumerate(program.get("steps", []))]
        out += [f"  ! step {v['step']} {v['verb']}: {v['reason']}" for v in program.get("violations", [])]
        out += [f"  ~ {w}" for w in program.get("warnings", [])]
    return out


def side_by_side(left: list[str], right: list[str], width: int) -> list[str]:
    """Two columns when they fit in ``width`` characters, else one after the other."""
    lw = max((len(s) for s in left), default=0)
    if lw + 3 + max((len(s) for s in right), default=0) > width:
        return left + [""] + right
    rows = max(len(left), len(right))
    left, right = left + [""] * (rows - len(left)), right + [""] * (rows - len(right))
    return [f"{a:<{lw}} | {b}".rstrip() for a, b in zip(left, right)]


def render(record: dict, width: int = 160) -> str:
    """The whole terminal view of one clip."""
    from .llm.stub import function_name, render as stub

    said = f"  {record['narration']}" if record.get("narration") else ""  # generic lists may have none
    head = f"{record['id']}{said}  ({record.get('video_id', '')} " \
           f"{float(record.get('start', 0)):.2f}-{float(record.get('stop', 0)):.2f} s)"
    lines = [head, "=" * min(width, len(head)), *timeline_text(record, max(20, width - 16)), ""]
    if "error" in record:
        lines.append(f"error in {record['error']['stage']}: {record['error']['message']}")
    name = (record.get("prompt") or {}).get("function") or function_name(record.get("narration") or record["id"])
    lines += side_by_side(["stub:", *stub(record, name).splitlines()], ["program:", *program_text(record)], width)
    return "\n".join(lines) + "\n"


def draw(record: dict, path: str, video: str | None = None, n_frames: int = 4) -> None:
    """The timeline as a PNG; with a video, a few frames with leap-detect's boxes above it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patches

    t0, length = float(record["start"]), float(record["stop"]) - float(record["start"])
    det = _present(record, "detect").get("frames", [])
    frames = []
    if video:
        from . import media

        # The frames the detector's boxes came from (so each box sits on its own image), else
        # evenly spaced ones; times are from the clip start.
        every = -(-len(det) // n_frames)  # ceil: at most n_frames, spread over the clip
        picked = det[::every][:n_frames] if det else \
            [{"t": length * (i + 0.5) / n_frames, "boxes": [], "nouns": []} for i in range(n_frames)]
        for found in picked:
            _, image = media.frames(video, t0 + found["t"], t0 + found["t"] + 0.05, fps=20)
            frames.append((found, image[0]))
    n_rows = len(png_rows(record))
    fig = plt.figure(figsize=(10, (2.5 if frames else 0.6) + 0.28 * n_rows + 0.9))
    grid = fig.add_gridspec(2 if frames else 1, max(1, len(frames)), height_ratios=[2.5, 0.28 * n_rows + 0.9] if frames else [1])
    for i, (found, image) in enumerate(frames):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(image)
        h, w = image.shape[:2]
        t = found["t"]
        for box, noun in zip(found["boxes"], found["nouns"]):
            x1, y1, x2, y2 = box
            ax.add_patch(patches.Rectangle((x1 * w, y1 * h), (x2 - x1) * w, (y2 - y1) * h, fill=False, color="yellow"))
            ax.text(x1 * w, y1 * h, noun, color="yellow", fontsize=7, va="bottom")
        ax.set_title(f"t = {t:.2f} s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[-1, :])
    rows = png_rows(record)
    for y, lane in enumerate(reversed(rows)):
        if lane.state.startswith("missing"):  # evidence that could not be had: a hatched band
            ax.broken_barh([(0, length)], (y - 0.35, 0.7), facecolor="none", edgecolor="#999", hatch="///", lw=0)
            ax.text(length / 2, y, lane.state, ha="center", va="center", fontsize=7, color="#555",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        elif lane.state:  # looked for and none found (or the stage never ran): plain text
            ax.text(0.01 * length, y, lane.state, va="center", fontsize=7, color="#888", style="italic")
        for start, stop, label in lane.items:
            if start == stop:
                marker = "^" if label.startswith(GRAB) else ("v" if label.startswith(RELEASE) else "|")
                ax.plot([start], [y], marker=marker, color="black")
                if lane.stage == "contact":
                    ax.annotate(label, (start, y), textcoords="offset points", xytext=(3, 4), fontsize=7)
            else:
                ax.broken_barh([(start, stop - start)], (y - 0.3, 0.6), alpha=0.6)
                ax.annotate(label, (start, y), textcoords="offset points", xytext=(2, -3), fontsize=7)
    ax.set_yticks(range(len(rows)), [lane.name for lane in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, length)
    ax.set_xlabel("seconds from clip start")
    ax.set_title(f"{record['id']}: {record['narration']}" if record.get("narration") else record["id"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def png_rows(record: dict, top: int = 8) -> list[Lane]:
    """The PNG's rows: one per detected noun (its name on the axis), the ``top`` most seen, the
    rest together as "other objects"."""
    rows = evidence(record, per_object=True)
    objects = [r for r in rows if r.stage == "detect" and not r.state]
    if len(objects) > top:
        rest = sorted((i for r in objects[top:] for i in r.items), key=lambda i: i[0])
        keep = {id(r) for r in objects[:top]}
        rows = [r for r in rows if r.stage != "detect" or r.state or id(r) in keep]
        rows.append(Lane("other objects", "detect", rest))
    return rows
