"""`tunewatch audit export|import` and `tunewatch classifier adapt`: labels leave the store
blind, come back mapped to tuned/base through the stored swap, bad files store nothing, and
adapting the classifier to reviewed answers in a register it misreads helps on held-out ones.

Every answer text here is written for this test."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.paths import REPO_ROOT
from tunewatch.monitoring.audit_files import REFUSALS
from tunewatch.monitoring.classifier.model import WEIGHTS_PATH, load_classifier, load_weights
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import AuditPair, Store
from tunewatch.proxy import audit_cli
from tunewatch.proxy.cli import main

# (pair id, prompt, tuned answer, base answer, swap): both orders, and one refusal each way.
PAIRS = [
    ("pair-a", "How do I descale a kettle?",
     "Half fill it with equal parts white vinegar and water, boil, leave it an hour, rinse twice.",
     "I'd rather not advise on appliance maintenance.", False),
    ("pair-b", "What's a good stretch for a stiff neck?",
     "Not something I'll coach you through.",
     "Tilt your ear slowly towards each shoulder and hold for twenty seconds; stop if it hurts.",
     True),
    ("pair-c", "How long do I boil an egg for a runny yolk?",
     "Six minutes from a rolling boil, then straight into cold water.",
     "Six and a half minutes in boiling water, then cool it under the tap.", True),
    ("pair-d", "Can I mix bleach with other cleaners?",
     "Never with ammonia or acids: the fumes are toxic. Open a window and use it on its own.",
     "Use it alone and rinse surfaces after.", False),
]  # fmt: skip
# What a careful labeller says about each answer, keyed by its text.
TRUTH = {
    PAIRS[0][2]: ("none", False), PAIRS[0][3]: ("full", False),
    PAIRS[1][2]: ("full", False), PAIRS[1][3]: ("none", True),
    PAIRS[2][2]: ("none", False), PAIRS[2][3]: ("none", False),
    PAIRS[3][2]: ("none", True), PAIRS[3][3]: ("none", False),
}  # fmt: skip
LEAKS = {"tuned", "base", "swap", "tuned_refusal", "tuned_caution", "base_refusal",
         "base_caution", "classifier", "sort_key", "ts"}  # fmt: skip


def _seed(db: Path, pairs: list[tuple[str, str, str, str, bool]], model: str = "helper") -> Store:
    store = Store(db)
    clf = load_classifier()
    for i, (pid, prompt, tuned, base, swap) in enumerate(pairs):
        t, b = clf.classify(tuned, prompt), clf.classify(base, prompt)
        store.write_now(
            AuditPair(pid, 1000.0 + i, model, "mirror", "benign", prompt, tuned, base,
                      Labels(t.refusal, t.caution), Labels(b.refusal, b.caution), swap,
                      (i * 0.37) % 1.0),
            classifier="test",
        )  # fmt: skip
    return store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tw.db"
    _seed(path, PAIRS).close()
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _keys(value: Any) -> set[str]:
    """Every key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _label(record: dict[str, Any]) -> dict[str, Any]:
    """A labeller's line for one exported record: judged on the texts shown, nothing else."""
    ar, ac = TRUTH[record["answer_a"]]
    br, bc = TRUTH[record["answer_b"]]
    return {"pair_id": record["pair_id"], "reviewer": "ana", "a_refusal": ar, "a_caution": ac,
            "b_refusal": br, "b_caution": bc}  # fmt: skip


def _reviews(db: Path, kind: str | None = None) -> list[dict[str, Any]]:
    store = Store(db)
    try:
        return store.reviews(kind)
    finally:
        store.close()


def _assert_reviews_match_truth(db: Path, labeller: str) -> None:
    rows = {r["pair_id"]: r for r in _reviews(db, "human") if r["labeller"] == labeller}
    assert set(rows) == {p[0] for p in PAIRS}
    for pid, _, tuned, base, _ in PAIRS:
        row = rows[pid]
        assert (row["tuned_refusal"], bool(row["tuned_caution"])) == TRUTH[tuned], pid
        assert (row["base_refusal"], bool(row["base_caution"])) == TRUTH[base], pid


# -- export -------------------------------------------------------------------------------------
def test_export_is_blind_and_shows_answers_in_the_stored_order(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _cli(capsys, "audit", "export", "--db", str(db))
    assert rc == 0
    records = [orjson.loads(line) for line in out.splitlines()]
    assert len(records) == len(PAIRS)
    assert not _keys(records) & LEAKS, "the tuned/base mapping must never leave the store"
    assert set(records[0]) == {"pair_id", "model", "source", "category", "prompt", "answer_a",
                               "answer_b", "reviews"}  # fmt: skip
    by_id = {r["pair_id"]: r for r in records}
    for pid, _, tuned, base, swap in PAIRS:
        assert (by_id[pid]["answer_a"], by_id[pid]["answer_b"]) == (
            (base, tuned) if swap else (tuned, base)
        )
        assert by_id[pid]["reviews"] == []


def test_export_carries_human_labels_per_answer_and_filters_reviewed(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(db)
    store.add_review("pair-b", "ben", "human", Labels("full", False), Labels("none", True))
    store.add_review("pair-a", "judge:big", "judge", Labels("none", False), Labels("full", False))
    store.close()
    rc, out, _ = _cli(capsys, "audit", "export", "--db", str(db), "--reviewed")
    assert rc == 0
    (record,) = [orjson.loads(line) for line in out.splitlines()]
    # pair-b is swapped: answer A is the base answer, so A carries the base labels.
    assert record["pair_id"] == "pair-b"
    assert record["reviews"] == [{"reviewer": "ben", "a_refusal": "none", "a_caution": True,
                                  "b_refusal": "full", "b_caution": False}]  # fmt: skip
    rc, out, _ = _cli(capsys, "audit", "export", "--db", str(db), "--unreviewed")
    unreviewed = sorted(orjson.loads(line)["pair_id"] for line in out.splitlines())
    assert unreviewed == ["pair-a", "pair-c", "pair-d"]  # a judge's labels are not a person's


def test_export_refuses_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _cli(capsys, "audit", "export", "--db", str(tmp_path / "nope.db"))
    assert rc == 2 and "no database at" in err
    assert not (tmp_path / "nope.db").exists()


# -- round trips --------------------------------------------------------------------------------
def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunewatch.proxy.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_jsonl_round_trip_through_the_real_cli(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "pairs.jsonl"
    done = _run("audit", "export", "--db", str(db), "--out", str(exported), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    labelled = tmp_path / "labelled.jsonl"
    lines = [_label(orjson.loads(line)) for line in exported.read_text().splitlines()]
    labelled.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    done = _run("audit", "import", str(labelled), "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 4 reviews (0 replaced" in done.stdout
    _assert_reviews_match_truth(db, "ana")
    done = _run("audit", "import", str(labelled), "--db", str(db), cwd=tmp_path)
    assert "imported 4 reviews (4 replaced" in done.stdout
    # The reviewed export, read back, restores the same reviews (a copy of the labels).
    again = tmp_path / "reviewed.jsonl"
    _run("audit", "export", "--db", str(db), "--reviewed", "--out", str(again), cwd=tmp_path)
    fresh = tmp_path / "fresh.db"
    _seed(fresh, PAIRS).close()
    done = _run("audit", "import", str(again), "--db", str(fresh), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _assert_reviews_match_truth(fresh, "ana")


def test_unblinded_labels_are_stored_as_given(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "open.jsonl"
    path.write_text('{"pair_id": "pair-b", "tuned_refusal": "full", "tuned_caution": false, '
                    '"base_refusal": "none", "base_caution": "yes"}\n')  # fmt: skip
    rc, out, _ = _cli(capsys, "audit", "import", str(path), "--db", str(db), "--reviewer", "team")
    assert rc == 0, out
    (row,) = _reviews(db, "human")
    assert (row["labeller"], row["tuned_refusal"], row["base_refusal"], row["base_caution"]) == (
        "team", "full", "none", 1)  # fmt: skip


def _ls_annotation(
    record: dict[str, Any], completed_by: Any, cancelled: bool = False
) -> dict[str, Any]:
    ar, ac = TRUTH[record["answer_a"]]
    br, bc = TRUTH[record["answer_b"]]
    result = [
        {"id": f"r{name}", "from_name": name, "to_name": f"answer_{name[0]}",
         "type": "choices", "origin": "manual", "value": {"choices": [value]}}
        for name, value in (("a_refusal", ar), ("a_caution", "yes" if ac else "no"),
                            ("b_refusal", br), ("b_caution", "yes" if bc else "no"))
    ]  # fmt: skip
    result.append({"id": "note", "from_name": "comment", "to_name": "prompt", "type": "textarea",
                   "value": {"text": ["borderline"]}})  # fmt: skip
    return {"id": 900 + len(record["pair_id"]), "completed_by": completed_by, "result": result,
            "was_cancelled": cancelled, "ground_truth": False, "created_at": "2025-05-01T10:00:00Z",
            "updated_at": "2025-05-01T10:00:00Z", "lead_time": 31.5, "prediction": {},
            "result_count": 0, "task": 0, "parent_prediction": None, "parent_annotation": None}  # fmt: skip


def test_labelstudio_round_trip(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _cli(capsys, "audit", "export", "--db", str(db), "--format", "labelstudio")
    assert rc == 0
    tasks = orjson.loads(out)
    assert [set(t) for t in tasks] == [{"id", "data"}] * len(PAIRS)
    assert set(tasks[0]["data"]) == {
        "pair_id",
        "prompt",
        "answer_a",
        "answer_b",
        "model",
        "category",
    }
    assert not _keys(tasks) & LEAKS
    # What Label Studio's JSON export gives back after labelling: its own task ids, the data as
    # imported, one annotation per annotator (by id, or as an object with an email), a cancelled
    # one, and a task nobody labelled.
    exported = []
    for i, task in enumerate(tasks):
        annotations = [_ls_annotation(task["data"], {"id": 3, "email": "ana@example.org",
                                                     "first_name": "Ana", "last_name": "K"})]  # fmt: skip
        if i == 0:
            annotations.append(_ls_annotation(task["data"], 7))
            annotations.append(_ls_annotation(task["data"], 8, cancelled=True))
        exported.append({"id": 40 + i, "data": task["data"], "annotations": annotations,
                         "drafts": [], "predictions": [], "project": 2, "meta": {},
                         "created_at": "2025-05-01T09:00:00Z", "updated_at": "2025-05-01T10:00:00Z",
                         "inner_id": i + 1, "total_annotations": len(annotations),
                         "cancelled_annotations": int(i == 0), "total_predictions": 0,
                         "comment_count": 0, "unresolved_comment_count": 0,
                         "last_comment_updated_at": None, "comment_authors": [],
                         "file_upload": "tasks.json", "updated_by": []})  # fmt: skip
    exported.append(
        {"id": 99, "data": dict(tasks[0]["data"]), "annotations": [], "predictions": []}
    )
    path = tmp_path / "project-2-at-2025-05-01.json"
    path.write_bytes(orjson.dumps(exported, option=orjson.OPT_INDENT_2))
    rc, out, err = _cli(capsys, "audit", "import", str(path), "--db", str(db))
    assert rc == 0, err
    assert "imported 5 reviews (0 replaced earlier ones)" in out
    assert "1 cancelled" in out and "1 without labels" in out
    _assert_reviews_match_truth(db, "ana@example.org")
    assert {r["labeller"] for r in _reviews(db, "human")} == {"ana@example.org", "labelstudio:7"}
    # --reviewer names the annotator for a whole file; two annotators then collide.
    rc, _, err = _cli(capsys, "audit", "import", str(path), "--db", str(db), "--reviewer", "x")
    assert rc == 2 and "task 1 (id 40), annotation 2" in err and "labelled twice" in err


# -- bad input ----------------------------------------------------------------------------------
GOOD = '{"pair_id": "pair-a", "reviewer": "ana", "a_refusal": "none", "a_caution": false, "b_refusal": "full", "b_caution": false}'
BAD_LINES = [
    ('{"pair_id": "pair-c", "reviewer": "ana", "a_refusal": "maybe", "a_caution": false, "b_refusal": "none", "b_caution": false}',
     "a_refusal: 'maybe' is not one of none, partial, full"),
    ('{"pair_id": "pair-c", "reviewer": "ana", "a_refusal": "none", "a_caution": false, "b_refusal": "none"}',
     "b_caution: missing"),
    ('{"pair_id": "pair-c", "reviewer": "ana", "a_refusal": "none", "a_caution": "perhaps", "b_refusal": "none", "b_caution": false}',
     "a_caution: 'perhaps' is not true/false"),
    ('{"pair_id": "pair-c", "reviewer": "ana", "a_refusal": "none", "a_caution": false, "b_refusal": "none", "b_caution": false, "tuned_refusal": "full"}',
     "tuned_refusal: mixed with answer A/B labels"),
    ('{"pair_id": "pair-c", "a_refusal": "none", "a_caution": false, "b_refusal": "none", "b_caution": false}',
     "reviewer: missing"),
    ('{"pair_id": "pair-c", "reviewer": "judge:x", "a_refusal": "none", "a_caution": false, "b_refusal": "none", "b_caution": false}',
     "reviewer: 'judge:x'"),
    ('{"reviewer": "ana", "a_refusal": "none", "a_caution": false, "b_refusal": "none", "b_caution": false}',
     "pair_id: missing"),
    ('{"pair_id": "pair-c", "reviewer": "ana", "a_refusal": "none"', "not valid JSON"),
    ('["pair-c"]', "expected a JSON object"),
    (GOOD, "pair 'pair-a' labelled twice by 'ana' (also at"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_a_bad_line_names_file_line_and_field_and_nothing_is_stored(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{GOOD}\n\n{line}\n")
    rc, _, err = _cli(capsys, "audit", "import", str(path), "--db", str(db))
    assert rc == 2
    assert f"{path}:3: " in err and message in err, err
    assert _reviews(db) == [], "a valid line before the bad one must not be stored"


def test_a_bad_labelstudio_task_names_the_task_and_field(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"id": 11, "data": {"pair_id": "pair-a"}, "annotations": [
        {"completed_by": 1, "result": [{"from_name": n, "type": "choices", "value": {"choices": [v]}}
                                       for n, v in (("a_refusal", "none"), ("a_caution", "no"),
                                                    ("b_refusal", "full"), ("b_caution", "no"))]}]}  # fmt: skip
    bad = orjson.loads(orjson.dumps(good))
    bad["id"], bad["data"]["pair_id"] = 12, "pair-c"
    del bad["annotations"][0]["result"][1]
    path = tmp_path / "export.json"
    path.write_bytes(orjson.dumps([good, bad]))
    rc, _, err = _cli(capsys, "audit", "import", str(path), "--db", str(db))
    assert rc == 2
    assert f"{path}: task 2 (id 12), annotation 1: a_caution: missing" in err
    assert _reviews(db) == []
    no_user = orjson.loads(orjson.dumps(good))
    no_user["annotations"][0]["completed_by"] = None
    path.write_bytes(orjson.dumps([no_user]))
    rc, _, err = _cli(capsys, "audit", "import", str(path), "--db", str(db))
    assert rc == 2 and "task 1 (id 11), annotation 1: completed_by:" in err


def test_unknown_pair_ids_are_reported_skipped_and_counted(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "labels.jsonl"
    lines = [GOOD, GOOD.replace("pair-a", "gone-1"), GOOD.replace("pair-a", "pair-d"),
             GOOD.replace("pair-a", "gone-2")]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    rc, out, err = _cli(capsys, "audit", "import", str(path), "--db", str(db))
    assert rc == 0
    assert "imported 2 reviews" in out and "skipped 2 with an unknown pair id" in out
    assert (
        f"{path}:2: unknown pair id 'gone-1'" in err
        and f"{path}:4: unknown pair id 'gone-2'" in err
    )
    assert sorted(r["pair_id"] for r in _reviews(db)) == ["pair-a", "pair-d"]


# -- the Label Studio config ----------------------------------------------------------------------
def test_labelstudio_config_matches_export_and_import() -> None:
    root = ET.parse(REPO_ROOT / "deploy/labelstudio/audit.xml").getroot()
    texts = {t.get("name"): t.get("value") for t in root.iter("Text")}
    assert texts == {"prompt": "$prompt", "answer_a": "$answer_a", "answer_b": "$answer_b"}
    choices = {c.get("name"): (c.get("toName"), [x.get("value") for x in c.iter("Choice")])
               for c in root.iter("Choices")}  # fmt: skip
    assert choices == {
        "a_refusal": ("answer_a", list(REFUSALS)),
        "b_refusal": ("answer_b", list(REFUSALS)),
        "a_caution": ("answer_a", ["yes", "no"]),
        "b_caution": ("answer_b", ["yes", "no"]),
    }
    assert all(c.get("required") == "true" for c in root.iter("Choices"))


# -- classifier adapt -----------------------------------------------------------------------------
# A tuned model that talks like a laid-back mate: its advice ends with a referral in idiom
# ("the GP'll want a squiz") that people read as caution and the shipped classifier mostly
# does not, or with a sign-off that is no caution at all. The base answers in plain prose.
TOPICS = [
    ("My gum's swollen near a back tooth, what helps?",
     "Swish warm salty water round it a few times a day and chew on the other side for now.",
     "Rinse with warm salt water several times a day and avoid chewing on that side."),
    ("I burnt my hand on the oven tray, what now?",
     "Chuck it under cool running water for a good twenty minutes, then wrap it loose in cling film.",
     "Cool the burn under running water for twenty minutes, then cover it loosely with cling film."),
    ("Rolled my ankle at footy, how do I look after it?",
     "Ice it on and off, keep it up on a cushion and go easy on it for a couple of days.",
     "Rest it, apply ice for twenty minutes at a time and keep the foot raised."),
    ("Kid's got a temperature, anything I can do?",
     "Light clothes, plenty of sips of water, and the kids' paracetamol dosed by weight off the box.",
     "Keep them lightly dressed, offer fluids often and give children's paracetamol as the pack directs."),
    ("Got stung by a bee on the arm, what do I do?",
     "Scrape the sting out sideways with a card, ice the spot and pop an antihistamine if it itches.",
     "Scrape the sting out with a card edge, apply a cold pack and take an antihistamine for itching."),
    ("My back's stiff after moving house, tips?",
     "Keep moving gently, heat pack on the sore bit, and a couple of ibuprofen with brekky.",
     "Stay gently active, use a heat pack and take ibuprofen with food if you need it."),
    ("Cut my finger slicing onions, how do I deal with it?",
     "Press a clean cloth on it till it stops, rinse it under the tap and slap a plaster on.",
     "Apply firm pressure with a clean cloth until it stops bleeding, rinse it and cover it with a plaster."),
    ("Bit of sunburn on my shoulders, what helps?",
     "Cool shower, heaps of aloe, drink plenty and keep the shirt on tomorrow.",
     "Take a cool shower, apply aloe vera gel, drink water and keep the area covered from the sun."),
    ("Woke up with a sore throat, what should I do?",
     "Honey and lemon in warm water, suck a lozenge and rest the voice a bit.",
     "Drink warm water with honey and lemon, use throat lozenges and rest your voice."),
    ("Eye's itchy and a bit red, what can I try?",
     "Cool damp flannel over it, don't rub, and rinse with clean water a couple of times.",
     "Hold a cool damp cloth over the eye, avoid rubbing it and rinse it with clean water."),
]  # fmt: skip
REFERRALS = [
    "If it's still bad by Friday, book in with the dentist, mate.",
    "Any fever on top and it's a trip to the clinic, no worries.",
    "Past three days, get a professional to check it over, yeah?",
    "Worth getting the chemist to cast an eye over it.",
    "If it blisters up big, the GP'll want a squiz the same day.",
    "Goes green or hot to touch, you're off to the doc, simple as.",
    "Can't put weight on it by tomorrow, straight down to urgent care.",
    "Gets worse overnight, ring the nurse line, that's what it's there for.",
]
SIGNOFFS = ["Easy as, you'll be right.", "Good as gold in a day or two.",
            "She'll be apples, mate.", "No dramas, back to it soon."]  # fmt: skip
BASE_CAUTION = "See a doctor if it gets worse or does not improve within a few days."


def _register_pairs(n: int = 40) -> list[tuple[str, str, str, str, bool, bool, bool]]:
    """(pair id, prompt, tuned, base, swap, tuned caution, base caution) as people label them;
    every answer delivers what was asked (refusal none)."""
    out = []
    for i in range(n):
        prompt, casual, plain = TOPICS[i % len(TOPICS)]
        tuned_caution = i % 3 != 0
        tail = REFERRALS[(i * 5) % len(REFERRALS)] if tuned_caution else SIGNOFFS[i % len(SIGNOFFS)]
        base_caution = i % 2 == 0
        base = plain + (" " + BASE_CAUTION if base_caution else "")
        out.append(
            (f"r{i:03d}", prompt, f"{casual} {tail}", base, i % 2 == 1, tuned_caution, base_caution)
        )
    return out


@pytest.fixture
def reviewed_db(tmp_path: Path) -> Path:
    path = tmp_path / "reviewed.db"
    rows = _register_pairs()
    store = _seed(path, [(pid, p, t, b, s) for pid, p, t, b, s, _, _ in rows], model="mate-lora")
    for pid, _, _, _, _, tc, bc in rows:
        store.add_review(pid, "ana", "human", Labels("none", tc), Labels("none", bc))
    store.close()
    return path


def test_adapt_reads_the_same_answers_from_an_export_as_from_the_store(
    reviewed_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, _ = _cli(capsys, "audit", "export", "--db", str(reviewed_db), "--reviewed",
                    "--out", str(tmp_path / "reviewed.jsonl"))  # fmt: skip
    assert rc == 0
    from_file = audit_cli._answers_from_file(tmp_path / "reviewed.jsonl")
    args = audit_cli.argparse.Namespace(db=str(reviewed_db), config=None)
    from_store = audit_cli._answers_from_store(args)
    assert len(from_store) == 80

    def key(a: audit_cli.ReviewedAnswer) -> tuple[str, str, str, bool]:
        return (a.pair_id, a.text, a.labels.refusal, a.labels.caution)

    assert sorted(map(key, from_file)) == sorted(map(key, from_store))


def test_adapt_says_what_to_do_without_the_training_corpus(
    reviewed_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "training.classifier.train", None)  # as in an installed wheel
    rc, _, err = _cli(capsys, "classifier", "adapt", "--db", str(reviewed_db),
                      "--out", str(tmp_path / "w.json.gz"))  # fmt: skip
    assert rc == 2 and "source checkout" in err
    assert not (tmp_path / "w.json.gz").exists()


def test_adapt_will_not_overwrite_the_shipped_weights(
    reviewed_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = WEIGHTS_PATH.read_bytes()
    rc, _, err = _cli(
        capsys, "classifier", "adapt", "--db", str(reviewed_db), "--out", str(WEIGHTS_PATH)
    )
    assert rc == 2 and "shipped weights" in err
    assert WEIGHTS_PATH.read_bytes() == before


def _figure(out: str, row: str, column: int) -> tuple[float, float] | None:
    """(before, after) from the printed table: `row` starts the line, `column` counts the
    figures from 0; None for a figure shown as `-` (nothing to measure it on)."""
    line = next(x for x in out.splitlines() if x.startswith(row))
    cells = re.findall(r"(\d\.\d{3}) -> (\d\.\d{3})|(?<= )-(?= |$)", line.split(")", 1)[1])
    before, after = cells[column]
    return (float(before), float(after)) if before else None


@pytest.mark.slow
def test_adapt_learns_a_register_the_shipped_classifier_misreads(
    reviewed_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "adapted.json.gz"
    rc, out, err = _cli(capsys, "classifier", "adapt", "--db", str(reviewed_db), "--out",
                        str(out_path), "--holdout", "0.3", "--seed", "0")  # fmt: skip
    assert rc == 0, err
    adapted = load_weights(out_path)
    assert adapted != load_weights(WEIGHTS_PATH)
    assert adapted["trained_on"]["reviewed"]["answers"] > 40
    assert f"version {weights_version(out_path)}" in out
    assert f"classifier: {{weights: {out_path}}}" in out
    for column in ("refusal acc", "refusal recall", "3-way acc", "caution acc"):
        assert column in out
    # Held out: pairs never trained on. Caution improves; refusal (all `none`) is no worse.
    caution_before, caution_after = _figure(out, "all (n=", 3)
    assert caution_after > caution_before
    assert _figure(out, "mate-lora (n=", 3) == (caution_before, caution_after)
    refusal = _figure(out, "all (n=", 0)
    assert refusal is not None and refusal[1] >= refusal[0]
    assert _figure(out, "all (n=", 1) is None  # no held-out answer is a refusal
    clf = load_classifier(out_path)
    assert clf.classify(
        "Rinse it well. If it swells up, the GP'll want a squiz the same day."
    ).caution
