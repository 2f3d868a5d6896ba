"""Clip lists -> clip records: the official EPIC-100 CSVs, the timestamp-only test format, and
generic CSV/JSONL lists (``id, video, start, stop[, narration]``) for other data."""
from __future__ import annotations

import ast
import collections
import csv
import itertools
import json
import os
import re
from collections import defaultdict
from typing import Iterable, Iterator

from . import epic
from .clip import check_window
from .records import SCHEMA_VERSION, ClipError
from .stream import Line, decode, open_input

CONTEXT = 2  # narrations before and after a clip (the paper's narration component)


def parse_timestamp(text: str) -> float:
    """'HH:MM:SS.ss' (or plain seconds) -> seconds."""
    text = text.strip()
    parts = text.split(":")
    if len(parts) > 3 or not text:
        raise ValueError(text)
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if seconds < 0:
        raise ValueError(text)
    return round(seconds, 6)


def _seconds(value, key: str) -> float:
    """A generic list's start/stop: a number of seconds or a timestamp string."""
    if isinstance(value, str):
        return parse_timestamp(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{key} must be seconds (a number) or HH:MM:SS.ss, not {type(value).__name__}")
    return float(value)


def _int(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _list(value, kind):
    if value in (None, ""):
        return None
    items = ast.literal_eval(value) if isinstance(value, str) else value
    return [kind(x) for x in items]


def clip_record(row: dict) -> dict:
    """One row of a clip list -> a clip record (raises ValueError/KeyError naming what is wrong)."""
    if "narration_id" in row:  # EPIC-100 official (labelled or timestamp-only)
        rec = {"schema": SCHEMA_VERSION, "id": row["narration_id"], "video_id": row["video_id"],
               "participant_id": row["participant_id"], "video": None,
               "start": parse_timestamp(row["start_timestamp"]), "stop": parse_timestamp(row["stop_timestamp"]),
               "start_frame": _int(row.get("start_frame")), "stop_frame": _int(row.get("stop_frame"))}
        if row.get("narration") not in (None, ""):
            rec.update(narration=row["narration"], verb=row["verb"], verb_class=int(row["verb_class"]),
                       noun=row["noun"], noun_class=int(row["noun_class"]),
                       all_nouns=_list(row.get("all_nouns"), str),
                       all_noun_classes=_list(row.get("all_noun_classes"), int))
    else:  # generic: id, video, start, stop[, narration, video_id, participant_id]
        if not isinstance(row, dict):
            raise TypeError(f"a clip is a JSON object, not a {type(row).__name__}")
        for key in ("video", "video_id", "participant_id", "narration"):
            if row.get(key) not in (None, "") and not isinstance(row[key], str):
                raise TypeError(f"{key} must be a string, not {type(row[key]).__name__}")
        if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
            raise TypeError(f"id must be a string, not {type(row['id']).__name__}")
        rec = {"schema": SCHEMA_VERSION, "id": str(row["id"]), "video": row.get("video") or None,
               "video_id": row.get("video_id") or os.path.splitext(os.path.basename(row.get("video") or ""))[0],
               "start": _seconds(row["start"], "start"), "stop": _seconds(row["stop"], "stop")}
        if row.get("participant_id"):
            rec["participant_id"] = row["participant_id"]
        if row.get("narration"):
            rec["narration"] = row["narration"]
    if not rec["id"]:
        raise ValueError("empty id")
    rec["start"], rec["stop"] = check_window(rec["start"], rec["stop"])
    return {k: v for k, v in rec.items() if v is not None or k == "video"}


def read_table(path: str) -> Iterator[Line]:
    """Every row of a clip list as a Line (a record, or the reason the row is unusable)."""
    name = "<stdin>" if path == "-" else path
    with open_input(path) as f:
        head = []  # up to the first line that is not blank: it tells the format
        for text in f:
            head.append(text)
            if not _BLANK.fullmatch(text):
                break
        lines = itertools.chain(head, f)  # streamed
        if head and head[-1].lstrip().startswith("{"):  # JSONL clip list
            for number, text in enumerate(lines, 1):
                if not _BLANK.fullmatch(text):
                    row = None
                    try:
                        row = decode(text)
                        yield Line(name, number, record=clip_record(row))
                    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, ClipError) as e:
                        yield _bad_row(name, number, row, e)
            return
        rows = csv_rows(lines)
        header = next(rows, None)
        if header is None or isinstance(header[1], str):
            if header is not None:
                yield Line(name, header[0], problem=f"bad header ({header[1]})")
            return
        columns = header[1]
        for number, fields in rows:
            if isinstance(fields, str):
                yield Line(name, number, problem=f"bad row ({fields})")
                continue
            row = dict(zip(columns, fields))
            try:
                if len(fields) != len(columns):
                    raise ValueError(f"{len(fields)} fields, the header has {len(columns)}"
                                     + (" (an unquoted comma?)" if len(fields) > len(columns) else ""))
                yield Line(name, number, record=clip_record(row))
            except (ValueError, KeyError, TypeError, SyntaxError, OverflowError, MemoryError, RecursionError, ClipError) as e:
                yield _bad_row(name, number, row, e)


# A quoted field may hold line breaks; one still open this many lines on was never closed.
MAX_ROW_LINES = 64
_BLANK = re.compile(r"[ \t\r\n]*")


def csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | str]]:
    """(first line number, fields) for each CSV row, or (line number, reason) for a row that
    cannot be read: an unclosed quote, a field over the csv module's limit (128 KB), bad quoting.
    A bad row is one row: the lines after it are read as rows of their own."""
    source = enumerate(lines, 1)
    back: collections.deque = collections.deque()  # lines read ahead for a row that proved bad
    width = None  # the header's: a row run on over several lines must come out that wide

    def take():
        return back.popleft() if back else next(source, None)

    while (line := take()) is not None:
        if _BLANK.fullmatch(line[1]):
            continue
        parts, why = [line], None
        while True:
            try:
                got = next(csv.reader([text for _, text in parts], strict=True), [])
                if len(parts) == 1 or len(got) == width:
                    break
                why = "unclosed"  # the quote closed only in a later row
            except csv.Error as e:
                why = "unclosed" if str(e) == "unexpected end of data" else \
                    f"a field over {csv.field_size_limit()} characters" if "field limit" in str(e) else \
                    f"bad quoting: {e}"
                if why == "unclosed" and len(parts) < MAX_ROW_LINES and (more := take()) is not None:
                    parts.append(more)
                    why = None
                    continue
            break
        if why is None:
            width = len(got) if width is None else width
            yield line[0], got
            continue
        if why == "unclosed" or len(parts) > 1:  # a quote that runs on into other rows
            why = f"a quote opened on this line is not closed (looked {len(parts)} lines on)"
        back.extendleft(reversed(parts[1:]))
        yield line[0], why


def _bad_row(file: str, number: int, row, e: Exception) -> Line:
    """An unusable row; its error record keeps the row's id when it has one (--ids finds it)."""
    rid = (row.get("narration_id") or row.get("id")) if isinstance(row, dict) else None
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        rid = None
    stub = {"schema": SCHEMA_VERSION, "id": str(rid)} if rid not in (None, "") else None
    return Line(file, number, record=stub, problem=_reason(e))


def _reason(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"no column {e.args[0]!r} (need narration_id/start_timestamp/stop_timestamp, or id/video/start/stop)"
    return f"bad row ({e})"


def _order(record: dict) -> tuple:
    m = re.search(r"(\d+)$", record["id"])
    digits = m[1].lstrip("0") if m else ""
    return record["start"], len(digits), digits  # the number in the id, of any length


def add_context(lines: list[Line]) -> None:
    """Fill ``context.before``/``after``: the narrations of the 2 clips just before/after in the
    same video by start time, ties broken by the number in the id."""
    by_video: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        if line.problem is None:
            by_video[line.record.get("video_id") or line.record.get("video") or ""].append(line.record)
    for clips in by_video.values():
        clips.sort(key=_order)
        said = [c.get("narration") for c in clips]
        for i, clip in enumerate(clips):
            clip["context"] = {"before": [s for s in said[max(0, i - CONTEXT):i] if s],
                               "after": [s for s in said[i + 1:i + 1 + CONTEXT] if s]}


def participant_number(pid: str) -> int | None:
    m = re.fullmatch(r"P(\d+)", pid or "")
    return int(m[1]) if m else None


def keep(record: dict, participants: frozenset[str] | None, split: str | None) -> bool:
    """--participants and --split (the paper: the first 32 participant homes train, the last 5 evaluate)."""
    pid = record.get("participant_id")
    if participants is not None and pid not in participants:
        return False
    if split:
        n = participant_number(pid)
        return n is not None and (n <= 32) == (split == "first32")
    return True


def clip_lines(paths: Iterable[str], participants=None, split=None) -> list[Line]:
    """All clip lists read, filtered and given their context, in input order."""
    lines = [line for path in paths for line in read_table(path)
             if line.problem or keep(line.record, participants, split)]
    add_context(lines)
    return lines


VIDEO_LAYOUTS = ("{dir}/{pid}/videos/{vid}{ext}", "{dir}/{pid}/{vid}{ext}", "{dir}/{vid}{ext}")


def video_path(record: dict, directory: str) -> str:
    """--videos DIR for one clip: a generic list's own ``video`` (relative ones under DIR), else
    the EPIC video file for its video id."""
    own = record.get("video")
    if own:
        path = own if os.path.isabs(own) else os.path.join(directory, own)
        if not os.path.isfile(path):
            raise ClipError(f"no video file {path}")
        return path
    return find_video(directory, record["video_id"], record.get("participant_id"))


def find_video(directory: str, video_id: str, participant_id: str | None = None) -> str:
    """The video file for an EPIC video id under DIR in any of the official layouts."""
    pid = participant_id or epic.participant(video_id)
    for layout in VIDEO_LAYOUTS:
        for ext in (".MP4", ".mp4"):
            path = layout.format(dir=directory, pid=pid, vid=video_id, ext=ext)
            if os.path.isfile(path):
                return path
    raise ClipError(f"no video file for {video_id} under {directory} "
                    f"(looked for {pid}/videos/{video_id}.MP4, {pid}/{video_id}.MP4, {video_id}.MP4)")
