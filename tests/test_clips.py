"""leap-clips on real EPIC-100 rows."""
import json

from conftest import DATA, EPIC_SAMPLE, records, run_tool
from leap_cli.records import validate

TEST_FORMAT = DATA / "epic" / "EPIC_100_test_timestamps.head.csv"


def test_official_rows_become_records_with_context():
    res = run_tool("leap-clips", EPIC_SAMPLE, check=True)
    out = records(res.stdout)
    assert len(out) == 50
    first = out[0]
    assert first == {
        "schema": 1, "id": "P01_01_0", "video_id": "P01_01", "participant_id": "P01", "video": None,
        "start": 0.14, "stop": 3.37, "start_frame": 8, "stop_frame": 202, "narration": "open door",
        "verb": "open", "verb_class": 3, "noun": "door", "noun_class": 3, "all_nouns": ["door"],
        "all_noun_classes": [3], "context": {"before": [], "after": ["turn on light", "close door"]}}
    third = out[2]
    assert third["context"] == {"before": ["open door", "turn on light"], "after": ["open fridge", "take celery"]}
    for r in out:
        validate(r)
    assert "leap-clips: 50 in, 50 out, 0 errors" in res.stderr


def test_context_follows_start_time_not_file_order(tmp_path):
    rows = EPIC_SAMPLE.read_text().splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([rows[0], rows[3], rows[1], rows[2]]) + "\n")
    out = records(run_tool("leap-clips", shuffled, check=True).stdout)
    assert [r["id"] for r in out] == ["P01_01_2", "P01_01_0", "P01_01_1"]  # input order kept
    assert out[0]["context"]["before"] == ["open door", "turn on light"]


def test_timestamp_only_test_format():
    out = records(run_tool("leap-clips", TEST_FORMAT, check=True).stdout)
    assert out[0]["id"] == "P01_101_0" and out[0]["start"] == 2.86 and out[0]["stop"] == 3.87
    assert "narration" not in out[0] and out[0]["context"] == {"before": [], "after": []}


def test_split_and_participants():
    first = records(run_tool("leap-clips", EPIC_SAMPLE, "--split", "first32", check=True).stdout)
    last = records(run_tool("leap-clips", EPIC_SAMPLE, "--split", "last5", check=True).stdout)
    assert {r["participant_id"] for r in first} == {"P01"}
    assert {r["participant_id"] for r in last} == {"P35", "P37"}
    only = records(run_tool("leap-clips", EPIC_SAMPLE, "--participants", "P37", check=True).stdout)
    assert {r["participant_id"] for r in only} == {"P37"} and len(only) == 5


def test_videos_layouts_and_missing_file(tmp_path):
    (tmp_path / "P01" / "videos").mkdir(parents=True)
    (tmp_path / "P01" / "videos" / "P01_01.MP4").write_bytes(b"")
    (tmp_path / "P35_105.MP4").write_bytes(b"")
    out = records(run_tool("leap-clips", EPIC_SAMPLE, "--videos", tmp_path, check=True).stdout)
    assert out[0]["video"] == f"{tmp_path}/P01/videos/P01_01.MP4"
    p35 = [r for r in out if r["participant_id"] == "P35"]
    assert all(r["video"] == f"{tmp_path}/P35_105.MP4" for r in p35 if r["video_id"] == "P35_105")
    missing = [r for r in out if r["participant_id"] == "P37"]
    assert missing and all(r["error"]["stage"] == "clips" for r in missing)
    assert "no video file for P37_" in missing[0]["error"]["message"]


def test_generic_lists_and_bad_rows(tmp_path):
    generic = tmp_path / "mine.jsonl"
    generic.write_text(json.dumps({"id": "a", "video": "v/k.mp4", "start": 1.0, "stop": 2.0, "narration": "cut onion"}) + "\n"
                       + json.dumps({"id": "b", "video": "v/k.mp4", "start": 3.0, "stop": 4.0, "narration": "wash knife"}) + "\n"
                       + json.dumps({"id": "c", "video": "v/k.mp4", "start": 5.0, "stop": 4.0}) + "\n")
    out = records(run_tool("leap-clips", generic).stdout)
    assert out[0]["video_id"] == "k" and out[0]["context"]["after"] == ["wash knife"]
    assert out[2]["error"] == {"stage": "clips", "message": "bad row (stop 4 s is not after start 5 s)",
                               "file": str(generic), "line": 3}
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("narration_id,participant_id,video_id,start_timestamp,stop_timestamp\n"
                        "P01_01_0,P01,P01_01,00:00:01.00,00:00:02.00\nP01_01_1,P01,P01_01,soon,00:00:03.00\n")
    res = run_tool("leap-clips", csv_file, "--on-error", "fail")
    assert res.returncode == 1
    assert f"error: {csv_file}:3: bad row" in res.stderr


def test_a_bad_row_keeps_its_id_so_ids_finds_it(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,video,start,stop\nb1,v.mp4,5,4\nb2,v.mp4,x,4\n,v.mp4,1,2\n")
    out = records(run_tool("leap-clips", bad).stdout)
    assert [r["id"] for r in out] == ["b1", "b2", None]
    assert out[1] == {"schema": 1, "id": "b2", "error": {
        "stage": "clips", "message": "bad row (could not convert string to float: 'x')", "file": str(bad), "line": 3}}
    for r in out:
        validate(r)
    assert [r["id"] for r in records(run_tool("leap-clips", bad, "--ids", "b2").stdout)] == ["b2"]
    # --participants keeps a bad row: it is reported, never filtered away unseen.
    epic = tmp_path / "epic.csv"
    epic.write_text("narration_id,participant_id,video_id,start_timestamp,stop_timestamp\n"
                    "P01_01_1,P01,P01_01,soon,00:00:03.00\n")
    assert records(run_tool("leap-clips", epic, "--participants", "P02").stdout)[0]["id"] == "P01_01_1"


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfid,video,start,stop,narration\na1,v.mp4,1.0,2.5,open door\n")
    out = records(run_tool("leap-clips", bom, check=True).stdout)
    assert out[0]["id"] == "a1" and out[0]["narration"] == "open door"
    jsonl = tmp_path / "notepad.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "j1", "video": "v.mp4", "start": 0, "stop": 1}).encode() + b"\n")
    assert records(run_tool("leap-clips", jsonl, check=True).stdout)[0]["id"] == "j1"


def test_videos_dir_is_the_root_of_a_generic_lists_relative_paths(tmp_path):
    (tmp_path / "ego4d").mkdir()
    (tmp_path / "ego4d" / "3c0d.mp4").write_bytes(b"")
    mine = tmp_path / "mine.csv"
    mine.write_text(f"id,video,start,stop\na,3c0d.mp4,1,2\nb,gone.mp4,1,2\nc,{tmp_path}/ego4d/3c0d.mp4,3,4\n")
    out = records(run_tool("leap-clips", mine, "--videos", tmp_path / "ego4d").stdout)
    assert out[0]["video"] == f"{tmp_path}/ego4d/3c0d.mp4" and out[2]["video"] == out[0]["video"]
    assert out[1]["error"]["message"] == f"no video file {tmp_path}/ego4d/gone.mp4"


def test_bad_csv_rows_are_one_error_each_and_every_other_row_is_read(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("id,video,start,stop\n"
                 "a,v.mp4,1,2\n"
                 "short,v.mp4,1\n"
                 'open,"v.mp4,1,2\n'
                 "b,v.mp4,3,4\n"
                 f"huge,{'x' * 140_000},1,2\n"
                 'multi,"two\nlines.mp4",5,6\n'
                 "c,v.mp4,7,8\n")
    res = run_tool("leap-clips", f)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    out = records(res.stdout)
    assert [r["id"] for r in out] == ["a", "short", None, "b", None, "multi", "c"]
    assert [r["error"]["line"] for r in out if "error" in r] == [3, 4, 6]
    msgs = [r["error"]["message"] for r in out if "error" in r]
    assert msgs == ["bad row (3 fields, the header has 4)",
                    "bad row (a quote opened on this line is not closed (looked 3 lines on))",
                    "bad row (a field over 131072 characters)"]
    assert out[5]["video"] == "two\nlines.mp4"


def test_a_generic_row_with_wrong_types_is_its_error(tmp_path):
    f = tmp_path / "list.jsonl"
    rows = [{"id": "a", "video": "v.mp4", "start": 1, "stop": 2},
            {"id": "l", "video_id": [1], "start": 1, "stop": 2},
            {"id": "v", "video": 1, "start": 1, "stop": 2},
            {"id": "t", "video": "v.mp4", "start": True, "stop": 2},
            {"id": [1], "video": "v.mp4", "start": 1, "stop": 2}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "o", "start": 1' + "0" * 400 + ', "stop": 2}\n')
    res = run_tool("leap-clips", f)
    assert res.returncode == 0
    out = records(res.stdout)
    assert [r["id"] for r in out] == ["a", "l", "v", "t", None, "o"]
    assert [r["error"]["message"] for r in out[1:4]] == [
        "bad row (video_id must be a string, not list)", "bad row (video must be a string, not int)",
        "bad row (start must be seconds (a number) or HH:MM:SS.ss, not bool)"]
    assert out[5]["error"]["message"] == "bad row (int too large to convert to float)"
