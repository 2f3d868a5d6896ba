"""One clip's evidence as a timeline, beside its stub and its parsed program (leap-show)."""
from __future__ import annotations

import textwrap

GRAB, RELEASE, BOTH = "+", "-", "±"


def _present(record: dict, key: str) -> dict:
    value = record.get(key)
    return value if isinstance(value, dict) and not value.get("missing") else {}


def lanes(record: dict) -> list[tuple[str, list[tuple[float, float, str]]]]:
    """Timeline rows: (name, [(start, stop, label)]), instants as start == stop; times in clip seconds."""
    rows = []
    sounds = [(e["start"], e["stop"], e.get("label") or "sound") for e in _present(record, "audio").get("events", [])]
    rows.append(("sound", sounds))
    rows.append(("walk", [(g["start"], g["stop"], "goto") for g in _present(record, "slam").get("goto", [])]))
    contact = _present(record, "contact")
    for hand in ("left", "right"):
        marks = [(e["t"], e["t"], f"{GRAB if e['kind'] == 'grab' else RELEASE}{e.get('object') or '?'}")
                 for e in contact.get("events", []) if e.get("hand") == hand]
        rows.append((f"{hand} hand", marks))
    seen = [(f["t"], f["t"], ",".join(f.get("nouns", []))) for f in _present(record, "detect").get("frames", [])
            if f.get("nouns")]
    rows.append(("objects", seen))
    return rows


def timeline_text(record: dict, width: int = 64) -> list[str]:
    """A text timeline of the clip, one row per evidence kind: '=' spans, '+'/'-' grabs/releases
    ('±' both in one column), '*' frames with detections."""
    length = max(float(record.get("stop", 0)) - float(record.get("start", 0)), 1e-6)
    col = lambda t: min(width - 1, max(0, int(round(float(t) / length * (width - 1)))))  # noqa: E731
    out = [f"{'':12}0{'':{width - 2}}{length:.2f} s"]
    for name, items in lanes(record):
        cells = [" "] * width
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
    for key in ("audio", "slam", "detect", "contact"):
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
    lines = [head, "=" * min(width, len(head)), *timeline_text(record, min(64, width - 16)), ""]
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

    rows = lanes(record)
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
    fig = plt.figure(figsize=(10, 5.5 if frames else 3))
    grid = fig.add_gridspec(2 if frames else 1, max(1, len(frames)), height_ratios=[1.2, 1] if frames else [1])
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
    for y, (name, items) in enumerate(reversed(rows)):
        for start, stop, label in items:
            if start == stop:
                ax.plot([start], [y], marker="^" if label.startswith(GRAB) else ("v" if label.startswith(RELEASE) else "|"),
                        color="black")
                if name.endswith("hand"):
                    ax.annotate(label, (start, y), textcoords="offset points", xytext=(3, 4), fontsize=7)
            else:
                ax.broken_barh([(start, stop - start)], (y - 0.3, 0.6), alpha=0.6)
                ax.annotate(label, (start, y), textcoords="offset points", xytext=(2, -3), fontsize=7)
    ax.set_yticks(range(len(rows)), [name for name, _ in reversed(rows)])
    ax.set_xlim(0, length)
    ax.set_xlabel("seconds from clip start")
    ax.set_title(f"{record['id']}: {record['narration']}" if record.get("narration") else record["id"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
