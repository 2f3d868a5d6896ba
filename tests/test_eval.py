"""leap-eval: EPIC metrics on hand-computed cases (ties, absent classes), CLI output and submission."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_tool
from leap_cli.learn import metrics as M

NOSPLIT = M.Split(frozenset(), frozenset(), frozenset())


def onehot_scores(n: int, classes: int, best: list[int], second: list[int] | None = None) -> np.ndarray:
    s = np.zeros((n, classes))
    for i, b in enumerate(best):
        s[i, b] = 2.0
        if second is not None:
            s[i, second[i]] = 1.0
    return s


def test_ranks_break_ties_towards_the_higher_class_id_like_epic():
    # EPIC ranks with scores.argsort()[::-1]: among equal scores the later class comes first
    assert M.ranks(np.array([[0.5, 0.9, 0.5, 0.1]])).tolist() == [[1, 2, 0, 3]]


def test_topk_accuracy_hand_computed():
    ranked = np.array([[3, 1, 2, 0, 4, 5], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    assert M.topk_accuracy(ranked, np.array([3, 4, 0]), (1, 5)) == [pytest.approx(1 / 3), pytest.approx(2 / 3)]


def test_tie_decides_top1():
    # clip 0: verbs 4 and 7 tie -> 7 ranks first -> top-1 wrong for label 4, right for 7
    v = np.zeros((2, 97))
    v[:, [4, 7]] = 1.0
    assert M.topk_accuracy(M.ranks(v), np.array([4, 7]), (1,)) == [0.5]


def test_action_ranks_follow_softmax_of_top_scores_and_outer_product():
    v = np.full((1, 97), -10.0)
    n = np.full((1, 300), -10.0)
    v[0, 3], v[0, 5] = 2.0, 1.0
    n[0, 7], n[0, 9] = 0.0, 3.0
    top = M.action_ranks(v, n)[0]
    # probabilities: verb 3 > verb 5, noun 9 > noun 7 -> (3,9), then (5,9) vs (3,7)
    pv = np.exp([2.0, 1.0]) / (np.exp([2.0, 1.0]).sum() + 95 * np.exp(-10.0))
    pn = np.exp([3.0, 0.0]) / (np.exp([3.0, 0.0]).sum() + 98 * np.exp(-10.0))
    expected = sorted([(pv[0] * pn[0], 3009), (pv[1] * pn[0], 5009), (pv[0] * pn[1], 3007), (pv[1] * pn[1], 5007)],
                      reverse=True)
    assert top[:4].tolist() == [a for _, a in expected]
    assert len(top) == 100


def test_action_ranks_in_chunks_equal_row_by_row():
    rng = np.random.default_rng(0)
    v, n = rng.normal(size=(11, 97)), rng.normal(size=(11, 300))
    v[3, :5] = n[3, :5] = 1.0  # ties too
    rows = np.concatenate([M.action_ranks(v[i:i + 1], n[i:i + 1]) for i in range(11)])
    assert np.array_equal(M.action_ranks(v, n, chunk=4), rows)


def test_recognition_all_tail_unseen_hand_computed():
    # 4 clips; verb right for 0,1,2; noun right for 0,1 (clip 3's noun at rank 2)
    verbs, nouns = [1, 2, 3, 4], [10, 11, 12, 13]
    v = onehot_scores(4, 97, [1, 2, 3, 9])
    n = onehot_scores(4, 300, [10, 11, 99, 50], second=[0, 0, 12, 13])
    split = M.Split(tail_verbs=frozenset({4}), tail_nouns=frozenset({11, 200}), unseen=frozenset({"P18"}))
    out = M.recognition(v, n, verbs, nouns, ["P01", "P18", "P18", "P02"], split)
    assert out["all_verb_accuracy_at_1"] == 75.0
    assert out["all_noun_accuracy_at_1"] == 50.0
    assert out["all_noun_accuracy_at_5"] == 100.0
    assert out["all_action_accuracy_at_1"] == 50.0      # clips 0 and 1
    assert out["all_action_accuracy_at_5"] == 75.0      # clip 2: (3, 12) is second; clip 3's verb is absent
    assert out["tail_verb_accuracy_at_1"] == 0.0        # only clip 3 has a tail verb
    assert out["tail_noun_accuracy_at_1"] == 100.0      # only clip 1; tail noun 200 absent from the ground truth
    assert out["tail_action_accuracy_at_1"] == 50.0     # clips 1 (right) and 3 (wrong)
    assert out["unseen_verb_accuracy_at_1"] == 100.0    # clips 1 and 2
    assert out["unseen_noun_accuracy_at_1"] == 50.0
    assert out["unseen_action_accuracy_at_1"] == 50.0
    assert set(out) == {f"all_{t}_accuracy_at_{k}" for t in ("verb", "noun", "action") for k in (1, 5)} | \
        {f"{s}_{t}_accuracy_at_1" for s in ("tail", "unseen") for t in ("verb", "noun", "action")}


def test_recognition_without_unseen_participants_has_no_unseen_keys():
    out = M.recognition(onehot_scores(1, 97, [0]), onehot_scores(1, 300, [0]), [0], [0], ["P01"],
                        M.Split(frozenset(), frozenset(), frozenset({"P18"})))
    assert not any(k.startswith("unseen_") for k in out)
    assert out["tail_verb_accuracy_at_1"] is None  # no tail clip: nothing to measure


def test_mean_top5_recall_averages_over_classes_present_only():
    # class 0: 3 clips, 2 recalled; class 1: 1 clip, recalled; class 2 never in the ground truth
    ranked = np.array([[0, 5, 6, 7, 8], [9, 8, 7, 6, 5], [5, 6, 7, 8, 0], [1, 2, 3, 4, 5]])
    assert M.topk_recall(ranked, np.array([0, 0, 0, 1]), 5) == pytest.approx((2 / 3 + 1) / 2)
    assert M.topk_recall(ranked, np.array([0, 0, 0, 1]), 5, classes=[1, 2]) == 1.0


def test_anticipation_keys_and_values():
    v = onehot_scores(3, 97, [1, 1, 2])
    n = onehot_scores(3, 300, [5, 6, 7])
    split = M.Split(frozenset({2}), frozenset(), frozenset({"P32"}))
    out = M.anticipation(v, n, [1, 2, 2], [5, 6, 7], ["P01", "P32", "P01"], split)
    # verb class 1: 1/1; class 2: 1/2 (clip 1 misses: the tied zeros rank ids 96..93 before verb 2)
    assert out["overall_noun_mt5r"] == 100.0
    assert out["overall_verb_mt5r"] == pytest.approx(100 * (1 + 0.5) / 2)
    assert out["unseen_verb_mt5r"] == 0.0
    assert out["tail_verb_mt5r"] == 50.0
    assert set(out) == {f"{s}_{t}_mt5r" for s in ("overall", "unseen", "tail") for t in ("verb", "noun", "action")}


def test_program_set_accuracy_hand_computed():
    pred = [[{"verb_id": 1, "object_ids": [23]}, {"verb_id": 4, "object_ids": [5, 23]}],
            []]
    gt = [[{"verb_id": 1, "object_ids": [23]}, {"verb_id": 2, "object_ids": [5]}],
          []]
    out = M.programs(pred, gt)
    # clip 0: verbs {1,4} vs {1,2} -> 1/3; first objects {23,5} vs {23,5} -> 1; second {23} vs {} -> 0
    # clip 1: empty vs empty -> 1 everywhere
    assert out == {"s_verb": pytest.approx(100 * (1 / 3 + 1) / 2), "obj_a": 100.0, "obj_b": 50.0, "clips": 2}


def test_submission_format():
    sub = M.submission(["P01_101_0"], [[0.5] * 97], [[0.25] * 300], "action_recognition", 2, 3, 4)
    assert sub["version"] == "0.2" and sub["challenge"] == "action_recognition"
    assert (sub["sls_pt"], sub["sls_tl"], sub["sls_td"]) == (2, 3, 4)
    assert list(sub["results"]["P01_101_0"]["verb"])[:3] == ["0", "1", "2"]
    assert len(sub["results"]["P01_101_0"]["noun"]) == 300


def test_vendored_splits_are_the_official_ones():
    s = M.load_split()
    assert s.unseen == {"P18", "P32"}
    assert len(s.tail_verbs) == 86 and len(s.tail_nouns) == 228
    assert 10 in s.tail_verbs and 56 in s.tail_nouns


@pytest.fixture
def files(tmp_path):
    preds = tmp_path / "p.jsonl"
    v = onehot_scores(2, 97, [1, 2]).tolist()
    n = onehot_scores(2, 300, [10, 12]).tolist()
    lines = [json.dumps({"id": "P01_01_0", "verb_scores": v[0], "noun_scores": n[0],
                         "program": {"steps": [{"verb_id": 1, "object_ids": [10]}]}}),
             "not json",
             json.dumps({"id": "P18_01_1", "verb_scores": v[1], "noun_scores": n[1], "program": {"steps": []}})]
    preds.write_text("\n".join(lines) + "\n")
    ann = tmp_path / "a.csv"
    ann.write_text("narration_id,participant_id,video_id,verb_class,noun_class\n"
                   "P01_01_0,P01,P01_01,1,10\nP18_01_1,P18,P18_01,2,11\nP18_01_2,P18,P18_01,3,11\n")
    progs = tmp_path / "g.jsonl"
    progs.write_text(json.dumps({"id": "P01_01_0", "program": {"steps": [{"verb_id": 1, "object_ids": [10]}]}}) + "\n"
                     + json.dumps({"id": "P18_01_1", "program": {"missing": "no response", "steps": []}}) + "\n")
    return preds, ann, progs


def test_cli_recognition_prints_json_and_reports_problems(files):
    preds, ann, _ = files
    res = run_tool("leap-eval", "recognition", "--predictions", preds, "--annotations", ann)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["all_verb_accuracy_at_1"] == 100.0 and out["all_noun_accuracy_at_1"] == 50.0
    assert out["unseen_noun_accuracy_at_1"] == 0.0
    assert f"{preds}:2: not JSON" in res.stderr
    assert "1 annotated clips have no prediction and are not evaluated" in res.stderr


def test_cli_programs_and_submission(files):
    preds, _, progs = files
    res = run_tool("leap-eval", "programs", "--predictions", preds, "--annotations", progs, check=True)
    assert json.loads(res.stdout) == {"clips": 1, "obj_a": 100.0, "obj_b": 100.0, "s_verb": 100.0}
    assert "1 clips have no ground-truth program and are not evaluated" in res.stderr
    res = run_tool("leap-eval", "submission", "--predictions", preds, "--sls-pt", "2", "--sls-tl", "3",
                   "--sls-td", "4", check=True)
    sub = json.loads(res.stdout)
    assert sorted(sub["results"]) == ["P01_01_0", "P18_01_1"] and sub["sls_tl"] == 3


def test_cli_unknown_prediction_id_is_an_error(files, tmp_path):
    preds, ann, _ = files
    other = tmp_path / "a2.csv"
    other.write_text("narration_id,participant_id,verb_class,noun_class\nP01_01_0,P01,1,10\n")
    res = run_tool("leap-eval", "recognition", "--predictions", preds, "--annotations", other)
    assert res.returncode == 1
    assert "1 predicted ids are not in the annotations (first: P18_01_1)" in res.stderr


def test_cli_bad_annotation_rows_and_duplicate_predictions_are_reported(files, tmp_path):
    preds, _, _ = files
    dup = tmp_path / "dup.jsonl"
    dup.write_text(preds.read_text() + preds.read_text().splitlines()[0] + "\n")
    ann = tmp_path / "bad.csv"
    ann.write_text("narration_id,participant_id,verb_class,noun_class\nP01_01_0,P01,1,10\nP18_01_1,P18,x,11\n")
    res = run_tool("leap-eval", "recognition", "--predictions", dup, "--annotations", ann)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["all_verb_accuracy_at_1"] == 100.0      # P01_01_0 only, counted once
    assert f"{dup}:4: P01_01_0: a second prediction for this clip (line 1 kept)" in res.stderr
    assert f"{ann}:3: P18_01_1: verb_class 'x' is not a class id" in res.stderr
    assert "1 clips have no verb_class and noun_class in the annotations and are not evaluated" in res.stderr
    records = tmp_path / "gt.jsonl"
    records.write_text('{"id": "P01_01_0", "verb_class": 1, "noun_class": 10}\n{oops\n')
    res = run_tool("leap-eval", "recognition", "--predictions", dup, "--annotations", records)
    assert f"{records}:2: not JSON" in res.stderr
    no_col = tmp_path / "no_col.csv"
    no_col.write_text("narration_id,verb_class\nP01_01_0,1\n")
    res = run_tool("leap-eval", "recognition", "--predictions", preds, "--annotations", no_col)
    assert res.returncode == 1
    assert f"{no_col}: no column noun_class" in res.stderr


def test_eval_and_train_commands_do_not_import_torch_at_start():
    import subprocess
    import sys
    code = ("import sys; from leap_cli.commands import eval as e, train as t; "
            "from leap_cli.learn import evaluate, metrics; print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_program_sets_use_verb_names_and_skip_objects_without_id():
    pred = [[{"verb_id": 1, "object_ids": [23]}, {"verb_id": 4, "object_ids": [5, 7]}]]
    gt = [[{"verb": "grasp", "object_ids": [23]}, {"verb": "use", "object_ids": [None, 7]}]]
    # verbs {1,4} = {1,4}; first objects {23,5} vs {23}: 1/2; second {7} = {7}
    assert M.programs(pred, gt) == {"s_verb": 100.0, "obj_a": 50.0, "obj_b": 100.0, "clips": 1}


@pytest.mark.parametrize("verb, noun, message", [
    ("1e400", None, "verb_scores[5] is inf: scores must be finite numbers"),
    (None, '"x"', "noun_scores[5] is 'x', not a number"),
    (None, "true", "noun_scores[5] is True, not a number"),
])
def test_cli_a_score_that_is_not_a_finite_number_is_an_error_naming_file_and_line(files, tmp_path, verb, noun, message):
    preds, ann, _ = files
    rec = json.loads(preds.read_text().splitlines()[2])
    key, literal = ("verb_scores", verb) if verb else ("noun_scores", noun)
    rec[key][5] = "@@"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(preds.read_text().splitlines()[0] + "\n" + json.dumps(rec).replace('"@@"', literal) + "\n")
    res = run_tool("leap-eval", "recognition", "--predictions", bad, "--annotations", ann)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.rstrip().endswith(f"Error: {bad}:2: P18_01_1: {message}")


def test_cli_a_class_id_out_of_range_is_an_error_naming_file_and_line(files, tmp_path):
    preds, _, _ = files
    ann = tmp_path / "a.csv"
    ann.write_text("narration_id,participant_id,verb_class,noun_class\nP01_01_0,P01,1,10\nP18_01_1,P18,97,11\n")
    res = run_tool("leap-eval", "recognition", "--predictions", preds, "--annotations", ann)
    assert res.returncode == 1
    assert res.stderr.rstrip().endswith(f"Error: {ann}:3: P18_01_1: verb_class 97 is out of range (EPIC-100 has 97: 0-96)")
    gt = tmp_path / "gt.jsonl"
    gt.write_text('{"id": "P01_01_0", "verb_class": 1, "noun_class": -1}\n')
    res = run_tool("leap-eval", "recognition", "--predictions", preds, "--annotations", gt)
    assert res.stderr.rstrip().endswith(f"Error: {gt}:1: P01_01_0: noun_class -1 is out of range (EPIC-100 has 300: 0-299)")
