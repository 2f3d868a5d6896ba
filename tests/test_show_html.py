"""leap-show --html: the page checked as a document, and (opt-in) in real headless Chromium."""
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from conftest import DATA, run_tool
from test_show import RECORD

VOID = {"meta", "br", "img", "input", "link", "hr", "path", "rect", "line", "image"}


class Doc(HTMLParser):
    """Tags, ids and URLs of a page; fails on an end tag that closes nothing open."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.ids, self.urls, self.classes = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids += [a["id"]] if "id" in a else []
        self.classes.append((tag, a.get("class", ""), a.get("data-line")))
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def parse(text: str) -> Doc:
    doc = Doc()
    doc.feed(text)
    doc.close()
    assert doc.stack == [], f"unclosed {doc.stack}"
    return doc


def program_set(n_extra: int = 0) -> list[dict]:
    bad = {**RECORD, "id": "P01_01_13", "narration": "put <carrot> & go",
           "prompt": {"function": "put_carrot", "model": "qwen2.5-coder-1.5b-instruct", "cache_key": "sha256:ab",
                      "cost": 0.0012, "response": 'def put_carrot(start_t=0, stop_t=4.88):\n    # note\n'
                                                  '    release("carrot")\n    goto(carrot)\n'},
           "program": {"steps": [{"verb": "release", "objects": ["carrot"]}, {"verb": "goto", "objects": ["carrot"]}],
                       "violations": [{"step": 0, "verb": "release", "reason": "carrot is not in hand"},
                                      {"kind": "evidence", "reason": "release of carrot, never seen grabbed"}],
                       "warnings": ["unquoted object name 'carrot' read as a string (line 4)"], "valid": False,
                       "consistent": False}}
    broken = {"id": "P01_01_14", "video_id": "P01_01", "start": 1.0, "stop": 2.0, "narration": "wash pan",
              "error": {"stage": "prompt", "message": "connection refused", "retryable": True}}
    extra = [{**RECORD, "id": f"X_{i}", "program": {**RECORD["program"], "valid": True}} for i in range(n_extra)]
    good = {**RECORD, "program": {**RECORD["program"], "valid": True}}
    return [good, bad, broken, *extra]


def write(tmp_path, recs, *args):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "p.html"
    res = run_tool("leap-show", f, "--html", out, *args, check=True)
    return out.read_text(), res


def test_set_page_is_one_self_contained_document(tmp_path):
    page, res = write(tmp_path, program_set())
    assert res.stdout == "" and res.stderr.startswith(f"leap-show: wrote {tmp_path / 'p.html'} (3 clips, ")
    doc = parse(page)
    assert {"clip-P01_01_12", "clip-P01_01_13", "clip-P01_01_14", "summary", "rows"} <= set(doc.ids)
    assert all(u.startswith(("#", "data:")) for u in doc.urls), doc.urls  # nothing to fetch
    assert not re.search(r"https?://|//cdn|@import|url\((?!#)", page.replace('xmlns="http://www.w3.org/2000/svg"', ""))
    rows = json.loads(re.search(r'<script type="application/json" id="rows">(.*?)</script>', page).group(1))
    assert [r[:6] for r in rows] == [["P01_01_12", "take carrots", "valid", 0, 1, 1],
                                     ["P01_01_13", "put <carrot> & go", "invalid", 2, 1, 2],
                                     ["P01_01_14", "wash pan", "error", 0, 0, None]]
    assert [r[8] for r in rows] == [None, "no", None]  # consistent: only where leap-parse said
    assert "put &lt;carrot&gt; &amp; go" in page and "<carrot>" not in page.split("</style>", 1)[1].replace(
        '\\u003c', '')  # narration escaped in HTML, \u003c-escaped in the JSON
    assert "error in prompt: connection refused" in page
    assert '<dt>clips</dt><dd>3</dd>' in page and '<dt>invalid</dt><dd>1</dd>' in page
    assert "(a) sub-actions per program" in page and "(b) object frequency" in page


def test_violations_and_warnings_are_marked_at_their_lines(tmp_path):
    page, _ = write(tmp_path, program_set())
    doc = parse(page)
    section = page.split('id="clip-P01_01_13"', 1)[1].split("</section>", 1)[0]
    lines = re.findall(r'<span class="line([^"]*)" data-line="(\d+)">(.*?)</span>(?=<span class="line|</pre>)', section)
    marked = {int(n): (cls.strip(), text) for cls, n, text in lines if cls.strip()}
    assert set(marked) == {3, 4}
    assert marked[3][0] == "violation" and "step 0 release: carrot is not in hand" in marked[3][1]
    assert marked[4][0] == "warning" and "unquoted object name" in marked[4][1]
    # a kind the checker adds later shows with its own name and message
    assert '<p class="note violation" title="evidence">! release of carrot, never seen grabbed [evidence]</p>' in section
    assert ("span", "line violation", "3") in doc.classes
    assert "qwen2.5-coder-1.5b-instruct" in section and "sha256:ab" in section and "0.0012" in section


def test_timeline_names_every_row_and_tells_missing_from_none_found(tmp_path):
    page, _ = write(tmp_path, [RECORD])
    assert 'class="one"' in page and 'id="rows"' not in page  # one clip: no set table
    tl = re.search(r'<svg class="tl".*?</svg>', page, re.S).group(0)
    names = re.findall(r'<text class="name"[^>]*>([^<]*)</text>', tl)
    assert names == ["sound", "walk", "left hand", "right hand", "objects"]
    assert '<title>missing (no VISOR file for P01_01)</title>' in tl
    assert '<text class="state" x="124" y="50">none found</text>' in tl  # left hand: looked, nothing
    assert "<title>grabbed carrot at 2.82 s</title>" in tl and "<title>scrub / scrape / scour / wipe 0.55-0.93 s</title>" in tl


def test_a_big_set_is_packed_and_every_clip_unpacks(tmp_path, monkeypatch):
    import io

    from leap_cli import webview

    monkeypatch.setattr(webview, "EAGER", 4)
    monkeypatch.setattr(webview, "CHUNK", 3)
    recs = program_set(n_extra=5)
    out = io.StringIO()
    assert webview.write_page(iter(recs), out, "t") == {"clips": 8, "lazy": True}
    page = out.getvalue()
    parse(page)
    assert re.findall(r'data-first="(\d+)"', page) == ["0", "3", "6"]
    assert '<section class="clip' not in page  # nothing eager: the script shows the opened one
    sections = webview.unpack(page)
    assert [re.search(r'id="clip-([^"]+)"', s).group(1) for s in sections] == [r["id"] for r in recs]
    assert 'class="line violation"' in sections[1]


def test_frames_are_embedded_jpegs_with_boxes(tmp_path):
    video = DATA / "demo" / "media" / "epic_sounds.mp4"
    rec = {**RECORD, "video": str(video), "start": 0.0, "stop": 4.0,
           "detect": {"objects": ["carrot"], "frames": [{"t": 1.0, "boxes": [[0.1, 0.2, 0.5, 0.6]],
                                                         "nouns": ["carrot"], "scores": [0.9]}]}}
    page, _ = write(tmp_path, [rec], "--frames", "2")
    images = re.findall(r'href="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 and __import__("base64").b64decode(images[0])[:2] == b"\xff\xd8"
    assert '<g class="box"><rect x="32.0" y="36.0" width="128.0" height="72.0"/>' in page
    page, _ = write(tmp_path, [{**rec, "video": str(tmp_path / "gone.mp4")}])
    assert "data:image/jpeg" not in page and "(no video)" in page  # boxes still drawn, on grey


def test_html_selects_ids_and_names_an_empty_selection(tmp_path):
    page, _ = write(tmp_path, program_set(), "--ids", "P01_01_13")
    assert 'id="clip-P01_01_13"' in page and 'id="clip-P01_01_12"' not in page
    f = tmp_path / "p.jsonl"
    res = run_tool("leap-show", f, "--html", tmp_path / "x.html", "--ids", "nope")
    assert res.returncode == 1 and f"no record for nope in {f}" in res.stderr
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.html.part").exists()
    res = run_tool("leap-show", f)
    assert res.returncode == 2 and "give --ids (or --html for the whole file)" in res.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("hash_", ["", "#clip-P01_01_13"])
@pytest.mark.parametrize("packed", [False, True])
def test_page_in_headless_chromium(tmp_path, monkeypatch, hash_, packed):
    import io

    import numpy as np
    from matplotlib.image import imread

    from leap_cli import webview

    if packed:
        monkeypatch.setattr(webview, "EAGER", 2)
    out = io.StringIO()
    webview.write_page(iter(program_set(n_extra=3)), out, "a set")
    page = tmp_path / "p.html"
    page.write_text(out.getvalue())
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
             "--window-size=1200,900", "--virtual-time-budget=5000"]
    url = page.as_uri() + hash_
    dom = subprocess.run([*flags, f"--user-data-dir={tmp_path / 'u1'}", "--dump-dom", url], capture_output=True,
                         text=True, timeout=120)
    console = [l for l in dom.stderr.splitlines() if ":CONSOLE" in l]
    assert console == [] and dom.returncode == 0
    body = re.search(r'<tbody id="rows-body">(.*?)</tbody>', dom.stdout, re.S).group(1)
    assert body.count("<tr>") == 6  # every row drawn by the script
    assert "6 of 6 clips" in dom.stdout
    if hash_:
        assert 'id="clip-P01_01_13"' in dom.stdout and 'class="line violation"' in dom.stdout
    shot = tmp_path / "shot.png"  # of the top: headless screenshots of a scrolled page come out blank
    subprocess.run([*flags, f"--user-data-dir={tmp_path / 'u2'}", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True,
                   timeout=120, check=True)
    pixels = imread(shot)
    assert pixels.shape[:2] == (900, 1200) and float(np.std(pixels[..., :3])) > 0.05  # not blank


def test_a_line_that_is_not_a_record_is_an_error_row_and_said(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(RECORD) + "\n{not json\n")
    res = run_tool("leap-show", f, "--html", tmp_path / "p.html", check=True)
    assert res.stderr.startswith(f"leap-show: {f}:2: ")
    rows = json.loads(re.search(r'id="rows">(.*?)</script>', (tmp_path / "p.html").read_text()).group(1))
    assert [r[0] for r in rows] == ["P01_01_12", f"{f}:2"] and rows[1][2] == "error"
    res = run_tool("leap-show", f, "--html", tmp_path / "q.html", "--png", tmp_path / "q.png")
    assert res.returncode == 2 and "--html and --png: one at a time" in res.stderr
