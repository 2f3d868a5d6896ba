"""leap-show --html: one self-contained HTML file for a clip or a whole program set.

No server, no network: styles and script inline, figures as inline SVG, frames as embedded JPEG.
A set is streamed: each clip's section is rendered as its record arrives and spilled to a
temporary file, the table rows and the leap-stats summary are gathered on the way, and the page
is written when the input ends. Up to ``EAGER`` clips the sections are plain HTML in the page;
past that they are gzipped CHUNK at a time into inert base64 ``<script>`` blocks (the browser
only tokenizes them, about 0.5 kB a clip) and the page's script unpacks a clip's chunk when its
row is opened, so a 67,000-clip file opens about as fast as its table.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import tempfile
from html import escape
from typing import Callable, Iterable

from .show import GRAB, RELEASE, Lane, _present, evidence
from .stats import Summary, verb_class

EAGER = 500  # sections written as plain HTML up to this many clips
CHUNK = 200  # sections gzipped together past EAGER
OBJECT_ROWS = 12  # detected nouns given their own timeline row; the rest share one
SUBVERBS = ("nothing", "grasp", "release", "move", "use", "position", "goto", "wait")


def _e(value) -> str:
    return escape(str(value), quote=True)


def _t(x) -> str:
    return f"{float(x):.2f}"


def anchor(clip_id) -> str:
    return f"clip-{clip_id}"


# --------------------------------------------------------------------------------- timeline --
def _ticks(length: float) -> list[float]:
    step = next(s for s in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if length / s <= 10)
    return [i * step for i in range(int(length / step) + 1)]


def timeline_rows(record: dict) -> list[Lane]:
    """The rows the page draws: every stage's rows, the detected nouns one row each (most seen
    first, past OBJECT_ROWS together as "other objects")."""
    rows = evidence(record, per_object=True)
    objects = [r for r in rows if r.stage == "detect" and not r.state]
    if len(objects) > OBJECT_ROWS:
        rest = sorted((i for r in objects[OBJECT_ROWS:] for i in r.items), key=lambda i: i[0])
        cut = {r.name for r in objects[OBJECT_ROWS:]}
        rows = [r for r in rows if r.name not in cut or r.stage != "detect"] + [Lane("other objects", "detect", rest)]
    return rows


def timeline_svg(record: dict, width: int = 900) -> str:
    """Every stage's evidence over the clip as an SVG; each span and mark names itself on hover."""
    length = max(float(record.get("stop", 0)) - float(record.get("start", 0)), 1e-6)
    rows, left, h = timeline_rows(record), 120, 18
    plot = width - left - 10
    x = lambda t: left + min(max(float(t), 0.0), length) / length * plot  # noqa: E731
    height = 22 + h * len(rows)
    out = [f'<svg class="tl" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for t in _ticks(length):
        out.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="0" y2="{height - 16}"/>'
                   f'<text class="tick" x="{x(t):.1f}" y="{height - 4}">{t:g}</text>')
    for i, lane in enumerate(rows):
        y = i * h + 2
        out.append(f'<g class="lane {lane.stage}"><text class="name" x="{left - 6}" y="{y + 12}">{_e(lane.name)}</text>')
        if lane.state.startswith("missing"):
            out.append(f'<rect class="missing" x="{left}" y="{y + 2}" width="{plot}" height="{h - 4}">'
                       f'<title>{_e(lane.state)}</title></rect>'
                       f'<text class="state missing" x="{left + plot / 2:.0f}" y="{y + 12}">{_e(lane.state)}</text>')
        elif lane.state:
            out.append(f'<text class="state" x="{left + 4}" y="{y + 12}">{_e(lane.state)}</text>')
        if lane.stage == "detect" and lane.items:  # one path per noun: compact for a long clip
            d = "".join(f"M{x(s):.1f} {y + 3}v{h - 6}" for s, _, _ in lane.items)
            seen = ", ".join(_t(s) for s, _, _ in lane.items)
            title = f"{lane.name}: seen at {seen} s" if lane.name != "other objects" else \
                "; ".join(f"{lbl} @{_t(s)}" for s, _, lbl in lane.items)
            out.append(f'<path class="seen" d="{d}"><title>{_e(title)}</title></path>')
        else:
            for s, e, label in lane.items:
                if s == e:
                    kind = "grab" if label.startswith(GRAB) else "release" if label.startswith(RELEASE) else "mark"
                    tip = y + 4 if kind == "grab" else y + h - 4
                    base = y + h - 4 if kind == "grab" else y + 4
                    what = {"grab": "grabbed", "release": "released"}.get(kind, "")
                    out.append(f'<path class="{kind}" d="M{x(s):.1f} {tip}L{x(s) - 5:.1f} {base}H{x(s) + 5:.1f}Z">'
                               f'<title>{_e(what)} {_e(label[1:] if what else label)} at {_t(s)} s</title></path>')
                else:
                    out.append(f'<rect class="span" x="{x(s):.1f}" y="{y + 3}" width="{max(x(e) - x(s), 1.5):.1f}" '
                               f'height="{h - 6}"><title>{_e(label)} {_t(s)}-{_t(e)} s</title></rect>'
                               f'<text class="label" x="{x(s) + 2:.1f}" y="{y + 12}">{_e(label)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# ----------------------------------------------------------------------------------- frames --
def pick_frames(record: dict, n: int) -> list[dict]:
    """Up to n of the detector's frames spread over the clip (so each box sits on its own image),
    else evenly spaced times; each {"t", "boxes", "nouns"} plus the hands seen then."""
    det = _present(record, "detect").get("frames", [])
    length = float(record.get("stop", 0)) - float(record.get("start", 0))
    if not n:
        return []
    every = -(-len(det) // n)  # ceil: at most n, spread over the clip
    picked = det[::every][:n] if det else [{"t": length * (i + 0.5) / n, "boxes": [], "nouns": []} for i in range(n)]
    hands = {f["t"]: f.get("hands", []) for f in _present(record, "contact").get("frames", [])}
    return [{**f, "hands": hands.get(f["t"], [])} for f in picked]


def frame_svg(found: dict, jpeg: bytes | None, aspect: float = 16 / 9) -> str:
    """One frame (a grey stand-in without the video) with the detector's boxes and the hands."""
    w, h = 320, round(320 / aspect)
    out = [f'<figure class="frame"><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}">']
    if jpeg:
        out.append(f'<image width="{w}" height="{h}" href="data:image/jpeg;base64,'
                   f'{base64.b64encode(jpeg).decode()}"/>')
    else:
        out.append(f'<rect class="noimage" width="{w}" height="{h}"/>')
    for box, noun in zip(found.get("boxes", []), found.get("nouns", [])):
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append(f'<g class="box"><rect x="{x1 * w:.1f}" y="{y1 * h:.1f}" width="{(x2 - x1) * w:.1f}" '
                   f'height="{(y2 - y1) * h:.1f}"/><text x="{x1 * w + 2:.1f}" y="{y1 * h + 10:.1f}">{_e(noun)}</text>'
                   f'<title>{_e(noun)}</title></g>')
    for hand in found.get("hands", []):
        if hand.get("box"):
            x1, y1, x2, y2 = (float(v) for v in hand["box"])
            tip = f"{hand.get('side', '')} hand, state {hand.get('state', '?')}" + \
                (f", touching {hand['object']}" if hand.get("object") else "")
            out.append(f'<g class="hand"><rect x="{x1 * w:.1f}" y="{y1 * h:.1f}" width="{(x2 - x1) * w:.1f}" '
                       f'height="{(y2 - y1) * h:.1f}"/><title>{_e(tip)}</title></g>')
    out.append(f'</svg><figcaption>t = {_t(found["t"])} s{"" if jpeg else " (no video)"}</figcaption></figure>')
    return "".join(out)


def video_jpegs(record: dict, picked: list[dict], video: str | None) -> list[bytes | None]:
    """JPEG thumbnails of the picked frames when the video is readable, else Nones."""
    path = video or record.get("video")
    if not path or not os.path.isfile(str(path)):
        return [None] * len(picked)
    from . import media

    t0 = float(record.get("start", 0))
    try:
        return [media.jpeg(str(path), t0 + float(f["t"]), width=320) for f in picked]
    except media.MediaError:
        return [None] * len(picked)


# ---------------------------------------------------------------------------------- program --
def describe(problem: dict) -> tuple[str, str]:
    """(kind, message) of a violation, whatever kind the checker gave it."""
    kind = str(problem.get("kind") or "violation")
    message = str(problem.get("message") or problem.get("reason") or json.dumps(problem, sort_keys=True))
    if problem.get("step") is not None:
        message = f"step {problem['step']} {problem.get('verb', '')}: {message}"
    return kind, message + (f" [{kind}]" if "kind" in problem else "")


def step_lines(text: str, steps: list[dict]) -> list[int | None]:
    """The 1-based line of each step's call in the program text (matched in order, by verb)."""
    lines, found, at = text.splitlines(), [], 0
    for step in steps:
        pattern = re.compile(rf"^\s*{re.escape(str(step.get('verb', '')))}\s*\(")
        hit = next((i for i in range(at, len(lines)) if pattern.match(lines[i])), None)
        found.append(None if hit is None else hit + 1)
        at = at if hit is None else hit + 1
    return found


def program_html(record: dict) -> str:
    """The program as the model wrote it, numbered, each violation and warning marked at its line."""
    program = record.get("program") or {}
    text = (record.get("prompt") or {}).get("response") or ""
    if not text and not program:
        return '<p class="state">no program</p>'
    marks: dict[int, list[tuple[str, str, str]]] = {}
    loose = []
    lines_of = step_lines(text, program.get("steps", []))
    for v in program.get("violations", []):
        kind, message = describe(v)
        line = v.get("line") or (lines_of[v["step"]] if isinstance(v.get("step"), int)
                                 and 0 <= v["step"] < len(lines_of) else None)
        (marks.setdefault(line, []) if line else loose).append(("violation", kind, message))
    for w in program.get("warnings", []):
        m = re.search(r"\bline (\d+)", str(w))
        (marks.setdefault(int(m.group(1)), []) if m else loose).append(("warning", "warning", str(w)))
    out = ['<pre class="code program">']
    for n, line in enumerate(text.splitlines(), 1):
        here = marks.get(n, [])
        cls = " violation" if any(k == "violation" for k, _, _ in here) else " warning" if here else ""
        notes = "".join(f'<span class="note {k}" title="{_e(kind)}">{"!" if k == "violation" else "~"} '
                        f'{_e(msg)}</span>' for k, kind, msg in here)
        # display:block lines: a newline between them would show as an empty line
        out.append(f'<span class="line{cls}" data-line="{n}"><span class="ln">{n}</span>{_e(line)}{notes}</span>')
    out.append("</pre>")
    for k, kind, msg in loose + [m for n, ms in sorted(marks.items()) if n > len(text.splitlines()) for m in ms]:
        out.append(f'<p class="note {k}" title="{_e(kind)}">{"!" if k == "violation" else "~"} {_e(msg)}</p>')
    if program.get("steps"):
        out.append('<ol class="steps" start="0">' + "".join(
            f"<li>{_e(s['verb'])}({_e(', '.join(s.get('objects', [])))})</li>" for s in program["steps"]) + "</ol>")
    if program.get("precondition_sentence"):
        out.append(f'<p class="pre">pre-conditions: {_e(program["precondition_sentence"])}</p>')
    return "".join(out)


def provenance_html(record: dict) -> str:
    """Each stage's source, and the prompt's model, cache key, tokens and cost."""
    rows = []
    for key, value in record.items():
        if isinstance(value, dict) and isinstance(value.get("source"), dict):
            rows.append((key, ", ".join(f"{k}={v}" for k, v in value["source"].items())))
    prompt = record.get("prompt") or {}
    for k in ("model", "cache_key", "cost", "cached", "usage", "follow_up"):
        if k in prompt:
            v = prompt[k]
            rows.append((f"prompt {k}", json.dumps(v) if isinstance(v, dict) else str(v)))
    return '<table class="prov">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def status(record: dict) -> str:
    if "error" in record or not record.get("program"):
        return "error"
    return "valid" if record["program"].get("valid") else "invalid"  # as leap-stats counts


def clip_section(record: dict, jpegs: Callable[[dict, list[dict]], list] | None = None, n_frames: int = 4) -> str:
    """One clip: narration and context, timeline, frames with boxes, stub, program, provenance."""
    from .llm.stub import function_name, render as stub

    cid = record.get("id")
    context = record.get("context") or {}
    head = [f'<section class="clip {status(record)}" id="{_e(anchor(cid))}">',
            f'<h2><a href="#{_e(anchor(cid))}">{_e(cid)}</a> '
            + (f'<q>{_e(record["narration"])}</q> ' if record.get("narration") else "")
            + f'<span class="badge {status(record)}">{status(record)}</span></h2>',
            f'<p class="where">{_e(record.get("video_id", ""))} {_t(record.get("start", 0))}-'
            f'{_t(record.get("stop", 0))} s'
            + (f' · verb class {_e(verb_class(record))}' if record.get("verb") or record.get("verb_class") is not None
               else "") + "</p>"]
    if context.get("before") or context.get("after"):
        head.append(f'<p class="context">before: {_e(" · ".join(context.get("before", [])) or "-")}'
                    f' &nbsp; after: {_e(" · ".join(context.get("after", [])) or "-")}</p>')
    if "error" in record:
        err = record["error"]
        head.append(f'<p class="error">error in {_e(err.get("stage", "?"))}: {_e(err.get("message", ""))}</p>')
    picked = pick_frames(record, n_frames)
    images = jpegs(record, picked) if jpegs else [None] * len(picked)
    body = [f'<h3>timeline</h3>{timeline_svg(record)}']
    if any(f.get("boxes") for f in picked) or any(images):
        body.append('<h3>frames</h3><div class="frames">' + "".join(
            frame_svg(f, img) for f, img in zip(picked, images)) + "</div>")
    name = (record.get("prompt") or {}).get("function") or function_name(record.get("narration") or str(cid))
    try:
        stub_text = stub(record, name)
    except (KeyError, TypeError, ValueError) as e:  # a record too broken for a stub still shows
        stub_text = f"(no stub: {e})"
    body.append('<div class="cols"><div><h3>stub (as the model saw it)</h3>'
                f'<pre class="code stub">{_e(stub_text)}</pre></div>'
                f'<div><h3>program</h3>{program_html(record)}</div></div>')
    body.append(f"<details><summary>provenance</summary>{provenance_html(record)}</details>")
    return "".join(head + body) + "</section>\n"


# ---------------------------------------------------------------------------------- the set --
def table_row(record: dict) -> list:
    """[id, narration, status, violations, warnings, sub-actions, model, verb class, consistent]."""
    program = record.get("program") or {}
    consistent = program.get("consistent")
    return [record.get("id"), record.get("narration") or "", status(record), len(program.get("violations", [])),
            len(program.get("warnings", [])), len(program["steps"]) if "steps" in program else None,
            (record.get("prompt") or {}).get("model") or "", verb_class(record),
            None if consistent is None else ("yes" if consistent else "no")]


def _bars_svg(title: str, names: list[str], series: list[tuple[str, list[float]]], log: bool = False) -> str:
    """A grouped bar chart (log scale when asked), names under the bars."""
    import math

    width, height, bottom, left = max(360, 17 * len(names) + 100), 260, 90, 50
    top = max((v for _, vals in series for v in vals), default=1) or 1
    scale = (lambda v: math.log10(v + 1) / math.log10(top + 1)) if log else (lambda v: v / top)  # noqa: E731
    plot_h, slot = height - bottom - 24, (width - left - 50) / max(len(names), 1)
    bw = slot * 0.8 / len(series)
    out = [f'<figure class="chart"><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<text class="ctitle" x="{left}" y="14">{_e(title)}</text>']
    for j, (label, vals) in enumerate(series):
        for i, v in enumerate(vals):
            bh = scale(v) * plot_h
            out.append(f'<rect class="s{j}" x="{left + i * slot + slot * 0.1 + j * bw:.1f}" y="{24 + plot_h - bh:.1f}" '
                       f'width="{bw:.1f}" height="{bh:.1f}"><title>{_e(names[i])}: {v:g} ({_e(label)})</title></rect>')
    for i, n in enumerate(names):
        cx = left + (i + 0.5) * slot
        out.append(f'<text class="xl" transform="translate({cx:.1f},{24 + plot_h + 6}) rotate(60)">{_e(n)}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - 50}" y1="{24 + plot_h}" y2="{24 + plot_h}"/>'
               f'<text class="tick ya" x="{left - 4}" y="{24 + 4}">{top:g}</text>')
    if len(series) > 1:
        out.append("".join(f'<rect class="s{j}" x="{width - 150}" y="{6 + 12 * j}" width="9" height="9"/>'
                           f'<text class="tick" x="{width - 137}" y="{14 + 12 * j}">{_e(lbl)}</text>'
                           for j, (lbl, _) in enumerate(series)))
    out.append("</svg></figure>")
    return "".join(out)


def _boxes_svg(title: str, groups: list[tuple[str, list[int]]]) -> str:
    """Figure 5a: sub-actions per program as one box (quartiles, whiskers at 1.5 IQR) per verb class."""
    import statistics

    width, height, bottom, left = max(300, 20 * len(groups) + 100), 260, 90, 40
    top = max((max(v) for _, v in groups if v), default=1) or 1
    plot_h, slot = height - bottom - 24, (width - left - 50) / max(len(groups), 1)
    y = lambda v: 24 + plot_h - v / top * plot_h  # noqa: E731
    out = [f'<figure class="chart"><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<text class="ctitle" x="{left}" y="14">{_e(title)}</text>']
    for i, (name, vals) in enumerate(groups):
        cx = left + (i + 0.5) * slot
        q1, med, q3 = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else (vals[0],) * 3
        lo = min(v for v in vals if v >= q1 - 1.5 * (q3 - q1))
        hi = max(v for v in vals if v <= q3 + 1.5 * (q3 - q1))
        tip = f"{name}: {len(vals)} programs, median {med:g}, quartiles {q1:g}-{q3:g}"
        out.append(f'<g class="box5"><title>{_e(tip)}</title><line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(lo):.1f}" '
                   f'y2="{y(hi):.1f}"/><rect x="{cx - slot * 0.3:.1f}" y="{y(q3):.1f}" width="{slot * 0.6:.1f}" '
                   f'height="{max(y(q1) - y(q3), 1):.1f}"/><line class="med" x1="{cx - slot * 0.3:.1f}" '
                   f'x2="{cx + slot * 0.3:.1f}" y1="{y(med):.1f}" y2="{y(med):.1f}"/></g>'
                   f'<text class="xl" transform="translate({cx:.1f},{24 + plot_h + 6}) rotate(60)">{_e(name)}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - 50}" y1="{24 + plot_h}" y2="{24 + plot_h}"/>'
               f'<text class="tick ya" x="{left - 4}" y="28">{top:g}</text>'
               f'<text class="tick ya" x="{left - 4}" y="{24 + plot_h}">0</text></svg></figure>')
    return "".join(out)


def summary_html(summary: Summary, top: int = 30) -> str:
    """The leap-stats numbers and the paper's Figure 5 (a) and (b)."""
    s = summary.result()
    sub = s["subactions_per_program"]
    cells = [("clips", s["clips"]), ("programs", s["programs"]), ("coverage", f"{s['coverage']:.1%}"),
             ("valid", s["valid"]), ("invalid", s["invalid"]), ("errors", s["errors"]),
             ("recovered", s["recovered"]), ("sub-actions mean", sub["mean"]), ("median", sub["median"])]
    quality = s.get("quality") or {}  # leap-stats' quality shares, whichever it computes
    cells += [(k.replace("_", " "), f"{v:.1%}") for k, v in quality.items()
              if isinstance(v, (int, float)) and k not in ("valid", "mean_length")]  # both shown above
    out = ['<section id="summary"><h2>summary</h2><dl class="nums">',
           "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in cells), "</dl>"]
    if quality.get("violations_by_kind"):
        out.append("<p>violations by kind: " + ", ".join(
            f"{_e(k)} <b>{n}</b>" for k, n in quality["violations_by_kind"].items()) + "</p>")
    if s["violation_reasons"]:
        out.append("<details><summary>most common violations</summary><ol>" + "".join(
            f"<li>{_e(r)} <b>{n}</b></li>" for r, n in s["violation_reasons"].items()) + "</ol></details>")
    verbs = [v for v in s["programs_per_verb_class"] if summary.per_verb[v]][:top]
    charts = []
    if verbs:
        charts.append(_boxes_svg("(a) sub-actions per program, by EPIC verb class",
                                 [(v, summary.per_verb[v]) for v in verbs]))
    labels, programs = s["objects_in_labels"], s["objects_in_programs"]
    nouns = sorted(set(labels) | set(programs), key=lambda n: (-labels.get(n, 0), -programs.get(n, 0)))[:top]
    if nouns:
        charts.append(_bars_svg("(b) object frequency: EPIC labels vs programs (log)", nouns,
                                [("EPIC labels", [labels.get(n, 0) for n in nouns]),
                                 ("programs", [programs.get(n, 0) for n in nouns])], log=True))
    out.append('<div class="charts">' + "".join(charts) + "</div></section>")
    return "".join(out)


def _json_script(element_id: str, value) -> str:
    # \u003c keeps "</script>" out of the data; JSON.parse reads it back as "<".
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>\n'


def write_page(records: Iterable[dict], out, title: str, jpegs=None, n_frames: int = 4) -> dict:
    """Stream records into one HTML page on the text file ``out``; returns {"clips", "lazy"}."""
    summary, rows, held = Summary(), [], []
    with tempfile.TemporaryFile("w+", encoding="ascii") as spill:
        for record in records:
            summary.add(record)
            rows.append(table_row(record))
            held.append(clip_section(record, jpegs, n_frames))
            while len(rows) > EAGER and len(held) >= CHUNK:  # too many for the document: packed
                spill.write(_chunk(len(rows) - len(held), held[:CHUNK]))
                held = held[CHUNK:]
        lazy = len(rows) > EAGER
        if lazy and held:
            spill.write(_chunk(len(rows) - len(held), held))
        one = len(rows) == 1
        out.write(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                  f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                  f'<title>{_e(title)}</title><style>{STYLE}</style></head>\n'
                  f'<body class="{"one" if one else "set"}" data-chunk="{CHUNK}"><header><h1>{_e(title)}</h1>'
                  f'</header>\n')
        if not one:
            out.write(summary_html(summary))
            out.write(TABLE)
            out.write(_json_script("rows", rows))
        out.write('<div id="clips">\n')
        if not lazy:
            out.writelines(held)
        out.write("</div>\n")
        spill.seek(0)
        shutil.copyfileobj(spill, out)
        out.write(f"<script>{SCRIPT}</script>\n</body></html>\n")
    return {"clips": len(rows), "lazy": lazy}


def _chunk(first: int, sections: list[str]) -> str:
    """Sections first.. as one inert block: gzip of their JSON list, base64 (ASCII, no "<")."""
    packed = gzip.compress(json.dumps(sections, ensure_ascii=False).encode(), compresslevel=6, mtime=0)
    return f'<script type="application/gzip" class="chunk" data-first="{first}">' \
           f'{base64.b64encode(packed).decode()}</script>\n'


def unpack(page: str) -> list[str]:
    """Every clip section of a page, eager or packed (what the browser would show for each row)."""
    eager = re.findall(r'<section class="clip .*?</section>\n', page.split('<div id="clips">', 1)[1].split(
        "</div>\n<script", 1)[0], re.S) if '<div id="clips">\n<section' in page else []
    packed = re.findall(r'<script type="application/gzip" class="chunk" data-first="\d+">([^<]*)</script>', page)
    return eager + [s for block in packed for s in json.loads(gzip.decompress(base64.b64decode(block)))]


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fff}
h1{font-size:1.3em}h2{font-size:1.1em;margin:.2em 0}h3{font-size:.95em;margin:.8em 0 .3em;color:#555}
section.clip{border-top:2px solid #ccc;padding:.6em 0}section.clip:target{background:#fffbe6}
.badge{font-size:.75em;padding:1px 6px;border-radius:8px;color:#fff;vertical-align:middle}
.badge.valid{background:#2a7}.badge.invalid{background:#d60}.badge.error{background:#c22}
.where,.context{color:#555;margin:.1em 0}p.error{color:#c22;font-weight:bold}
svg text{font:11px system-ui,sans-serif}.tl .name{text-anchor:end}.tl .grid{stroke:#eee}
.tl .tick{fill:#777;text-anchor:middle}.chart .tick{fill:#777}.chart .ya{text-anchor:end}.tl .span{fill:#4a90d9;opacity:.7}.tl .label{fill:#123}
.tl .grab{fill:#2a7}.tl .release{fill:#d33}.tl .mark{fill:#555}.tl .seen{stroke:#333;stroke-width:1.5}
.tl .missing{fill:#eee;stroke:#bbb;stroke-dasharray:4 3}.tl .state{fill:#999;font-style:italic}
.tl .state.missing{fill:#666;text-anchor:middle;font-style:normal}.tl g.lane:hover{opacity:.75}
.frames{display:flex;gap:8px;flex-wrap:wrap}.frame{margin:0}.frame figcaption{font-size:.8em;color:#666}
.noimage{fill:#ddd}.box rect{fill:none;stroke:#fc0;stroke-width:2}.box text{fill:#fc0;paint-order:stroke;stroke:#000;stroke-width:2px}
.hand rect{fill:none;stroke:#0cf;stroke-width:2;stroke-dasharray:4 2}
.cols{display:flex;gap:1.5em;flex-wrap:wrap}.cols>div{flex:1 1 420px;min-width:0}
.code{background:#f6f6f6;padding:.5em;white-space:pre-wrap;font:12px/1.45 ui-monospace,monospace;margin:0}
.line{display:block;white-space:pre-wrap}.ln{display:inline-block;width:2.5em;color:#aaa;user-select:none}
.line.violation{background:#fde2e2}.line.warning{background:#fff3cd}
.note{font-family:system-ui,sans-serif;margin-left:1em;font-size:.9em}.note.violation{color:#b00}.note.warning{color:#a60}
p.note{margin:.2em 0}.steps{font:12px ui-monospace,monospace;color:#444}.pre{color:#555;font-size:.9em}
.prov th{text-align:left;padding-right:1em;color:#555;font-weight:normal;vertical-align:top}.prov td{font:12px ui-monospace,monospace;word-break:break-all}
.nums{display:flex;gap:1.5em;flex-wrap:wrap;margin:.3em 0}.nums dt{color:#666;font-size:.8em}.nums dd{margin:0;font-size:1.2em}
.charts{display:flex;gap:1em;flex-wrap:wrap}.chart{margin:0}.ctitle{font-weight:bold}.xl{fill:#333}
.s0{fill:#4a90d9}.s1{fill:#e8833a}.box5 rect{fill:#cfe0f5;stroke:#335}.box5 line{stroke:#335}.box5 .med{stroke:#d60;stroke-width:2}.axis{stroke:#999}
#controls{margin:.8em 0;display:flex;gap:.8em;flex-wrap:wrap;align-items:center}
table.clips{border-collapse:collapse;width:100%}table.clips th{cursor:pointer;text-align:left;border-bottom:2px solid #ccc;user-select:none}
table.clips td,table.clips th{padding:2px 8px}table.clips tr:nth-child(even){background:#f7f7f7}
table.clips th.asc:after{content:" \\25B2"}table.clips th.desc:after{content:" \\25BC"}
td.valid{color:#2a7}td.invalid{color:#d60}td.error{color:#c22}
"""

TABLE = """<section id="set"><h2>clips</h2><div id="controls">
<label>show <select id="f-status"><option value="">all</option><option>valid</option><option>invalid</option>
<option>error</option></select></label>
<label>verb class <select id="f-verb"><option value="">all</option></select></label>
<label>search <input id="f-text" type="search" placeholder="id, narration, model"></label>
<span id="count"></span><button id="prev" type="button">&lt;</button><span id="page"></span>
<button id="next" type="button">&gt;</button></div>
<table class="clips"><thead><tr><th data-k="0">id</th><th data-k="1">narration</th><th data-k="2">valid</th>
<th data-k="3">violations</th><th data-k="4">warnings</th><th data-k="5">length</th><th data-k="6">model</th>
<th data-k="7">verb class</th><th data-k="8" title="against the clip's own evidence">consistent</th></tr></thead><tbody id="rows-body"></tbody></table></section>
"""

# The page's one script: the table (filter, sort, 100 rows a page) and, for a big set, putting a
# clip's inert section into the document when its row is opened.
SCRIPT = r"""
(function(){
"use strict";
var clips=document.getElementById("clips");
var CHUNK=+document.body.dataset.chunk,unpacked={},index=null;
function rowIndex(id){
  if(index===null){index={};(window.__rows||[]).forEach(function(r,i){if(!(r[0] in index)){index[r[0]]=i;}});}
  return index[id];
}
function chunk(first){
  if(!unpacked[first]){
    var block=document.querySelector('script.chunk[data-first="'+first+'"]');
    var bin=atob(block.textContent.trim()),bytes=new Uint8Array(bin.length);
    for(var i=0;i<bin.length;i++){bytes[i]=bin.charCodeAt(i);}
    unpacked[first]=new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")))
      .text().then(JSON.parse);
  }
  return unpacked[first];
}
function openHash(){
  var h=decodeURIComponent(location.hash.slice(1));
  if(!h||h.indexOf("clip-")!==0){return;}
  var el=document.getElementById(h);
  if(el){el.scrollIntoView();return;}
  var i=rowIndex(h.slice(5));
  if(i===undefined||!document.querySelector("script.chunk")){return;}
  var first=i-i%CHUNK;
  chunk(first).then(function(sections){
    var shown=clips.querySelector("section.clip");
    if(shown){shown.remove();}
    clips.insertAdjacentHTML("afterbegin",sections[i-first]);
    document.body.dataset.clipMs=Math.round(performance.now());
    var el=document.getElementById(h);
    if(el){el.scrollIntoView();}
  });
}
window.addEventListener("hashchange",openHash);
var data=document.getElementById("rows");
if(data){
  var rows=window.__rows=JSON.parse(data.textContent);
  var body=document.getElementById("rows-body"),st=document.getElementById("f-status"),
      vb=document.getElementById("f-verb"),tx=document.getElementById("f-text"),
      count=document.getElementById("count"),pg=document.getElementById("page");
  var PAGE=100,page=0,key=null,dir=1,shown=rows;
  var verbs={};rows.forEach(function(r){verbs[r[7]]=(verbs[r[7]]||0)+1;});
  Object.keys(verbs).sort().forEach(function(v){var o=document.createElement("option");
    o.value=v;o.textContent=v+" ("+verbs[v]+")";vb.appendChild(o);});
  function apply(){
    var s=st.value,v=vb.value,q=tx.value.toLowerCase();
    shown=rows.filter(function(r){return (!s||r[2]===s)&&(!v||r[7]===v)&&
      (!q||(String(r[0])+" "+r[1]+" "+r[6]).toLowerCase().indexOf(q)>=0);});
    if(key!==null){shown=shown.slice().sort(function(a,b){var x=a[key],y=b[key];
      if(x===y){return 0;}if(x===null){return 1;}if(y===null){return -1;}return (x<y?-1:1)*dir;});}
    page=Math.min(page,Math.max(0,Math.ceil(shown.length/PAGE)-1));draw();
  }
  function cell(text,cls){var td=document.createElement("td");td.textContent=text;if(cls){td.className=cls;}return td;}
  function draw(){
    body.textContent="";
    var part=shown.slice(page*PAGE,(page+1)*PAGE),frag=document.createDocumentFragment();
    part.forEach(function(r){
      var tr=document.createElement("tr"),td=document.createElement("td"),a=document.createElement("a");
      a.href="#clip-"+encodeURIComponent(r[0]);a.textContent=r[0];td.appendChild(a);tr.appendChild(td);
      tr.appendChild(cell(r[1]));tr.appendChild(cell(r[2],r[2]));tr.appendChild(cell(r[3]));
      tr.appendChild(cell(r[4]));tr.appendChild(cell(r[5]===null?"-":r[5]));tr.appendChild(cell(r[6]));
      tr.appendChild(cell(r[7]));tr.appendChild(cell(r[8]===null?"-":r[8],r[8]==="no"?"invalid":""));
      frag.appendChild(tr);});
    body.appendChild(frag);
    count.textContent=shown.length+" of "+rows.length+" clips";
    pg.textContent="page "+(shown.length?page+1:0)+" / "+Math.ceil(shown.length/PAGE);
  }
  [st,vb].forEach(function(e){e.addEventListener("change",function(){page=0;apply();});});
  tx.addEventListener("input",function(){page=0;apply();});
  document.getElementById("prev").addEventListener("click",function(){if(page>0){page--;draw();}});
  document.getElementById("next").addEventListener("click",function(){
    if((page+1)*PAGE<shown.length){page++;draw();}});
  document.querySelectorAll("table.clips th").forEach(function(th){th.addEventListener("click",function(){
    var k=+th.dataset.k;dir=(key===k)?-dir:1;key=k;
    document.querySelectorAll("table.clips th").forEach(function(o){o.className="";});
    th.className=dir>0?"asc":"desc";apply();});});
  apply();
}
openHash();
document.body.dataset.openMs=Math.round(performance.now());  // what bench/show_html.py reports
})();
"""
