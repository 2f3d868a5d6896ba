"""leap-merge: side-by-side stage outputs joined per id; shards back in clip-list order."""
import json

from conftest import EPIC_SAMPLE, records, run_tool


def write(path, recs, extra=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + extra)
    return path


BASE = [{"id": f"c{i}", "start": float(i), "stop": i + 1.0} for i in range(4)]


def test_join_side_by_side_outputs(tmp_path):
    a = write(tmp_path / "a.jsonl", [{**r, "audio": {"events": [], "source": {"tool": "leap-audio"}}} for r in BASE])
    d = write(tmp_path / "d.jsonl", [{**r, "detect": {"objects": ["pan"]}} for r in reversed(BASE)])
    out = records(run_tool("leap-merge", a, d, check=True).stdout)
    assert [r["id"] for r in out] == ["c0", "c1", "c2", "c3"]
    assert out[2] == {**BASE[2], "audio": {"events": [], "source": {"tool": "leap-audio"}}, "detect": {"objects": ["pan"]}}


def test_conflicting_key_is_an_error_naming_id_and_key(tmp_path):
    a = write(tmp_path / "a.jsonl", [{**BASE[0], "detect": {"objects": ["pan"]}}, BASE[1]])
    b = write(tmp_path / "b.jsonl", [{**BASE[0], "detect": {"objects": ["lid"]}}, BASE[1]])
    res = run_tool("leap-merge", a, b)
    out = records(res.stdout)
    assert res.returncode == 0
    assert out[0]["error"] == {"stage": "merge",
                               "message": f"conflicting values for key 'detect' in {a} and {b}"}
    assert "error" not in out[1]
    failed = run_tool("leap-merge", a, b, "--on-error", "fail")
    assert failed.returncode == 1
    assert f"error: c0: conflicting values for key 'detect' in {a} and {b}" in failed.stderr


def test_shards_back_in_clip_list_order_and_gaps_reported(tmp_path):
    clips = tmp_path / "clips.jsonl"
    clips.write_text(run_tool("leap-clips", EPIC_SAMPLE, check=True).stdout)
    shards = []
    for k in range(3):
        shard = tmp_path / f"shard{k}.jsonl"
        shard.write_text(run_tool("leap-clips", EPIC_SAMPLE, "--shard", f"{k}/3", check=True).stdout)
        shards.append(shard)
    out = records(run_tool("leap-merge", "--order", clips, *shards, check=True).stdout)
    assert out == records(clips.read_text())
    # Drop one shard: its clips become error records, in place, naming the clip.
    gap = records(run_tool("leap-merge", "--order", clips, shards[0], shards[1], check=True).stdout)
    assert len(gap) == len(out)
    missing = [r for r in gap if "error" in r]
    assert missing and all(r["error"]["file"] == str(clips) for r in missing)
    assert "is in no input (a shard missing?)" in missing[0]["error"]["message"]
    shard2 = {r["id"] for r in records(shards[2].read_text())}
    assert {r["id"] for r in missing} == shard2  # each error record keeps its clip's id
    assert all(r["error"]["message"] == f"clip {r['id']} is in no input (a shard missing?)" for r in missing)


def test_error_records_and_bad_lines_are_kept(tmp_path):
    a = write(tmp_path / "a.jsonl", [BASE[0], {**BASE[1], "error": {"stage": "audio", "message": "corrupt"}}], "garbage\n")
    b = write(tmp_path / "b.jsonl", [{**BASE[0], "slam": {"goto": []}}, {**BASE[1], "slam": {"goto": []}}])
    out = records(run_tool("leap-merge", a, b).stdout)
    assert out[1]["error"] == {"stage": "audio", "message": "corrupt"} and out[1]["slam"] == {"goto": []}
    assert out[2]["error"]["file"] == str(a) and out[2]["error"]["line"] == 3


def test_needs_files():
    res = run_tool("leap-merge", input="")
    assert res.returncode == 2 and "give the files to merge" in res.stderr
