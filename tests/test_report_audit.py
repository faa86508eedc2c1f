"""The report's audit figures: the corrected column, the labeller-bias table and the plot,
read from a real store through `tunewatch report`, equal to what /drift computes.

The scenario is the one the audit exists for: both models refuse the same prompts (no real
drift), but the classifier misses most of the tuned model's refusals, so the classifier's
difference alarms; people's reviews of a random sample correct it.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from tunewatch.monitoring.audit import UNVERIFIED, ReviewedPair, corrected, quad
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.report.model import Difference
from tunewatch.monitoring.report.text import diff_text
from tunewatch.monitoring.stats import PairedTable
from tunewatch.monitoring.store import AuditPair, Observation, Store
from tunewatch.proxy.report_cli import run

CLASSIFIER = "v-test"
PAIRS, REVIEWED = 400, 80


def _labels(refuses: bool) -> Labels:
    return Labels("full" if refuses else "none", False)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(11)
    path = tmp_path_factory.mktemp("report-audit") / "tw.db"
    store = Store(path)
    store.set_meta("classifier", CLASSIFIER)
    for i in range(PAIRS):
        truth = rng.random() < 0.5  # both models refuse the same prompts
        said_tuned = truth and rng.random() >= 0.6  # the classifier misses 60% of the tuned's
        said_base = truth and rng.random() >= 0.05
        pid = f"p{i}"
        t, b = _labels(said_tuned), _labels(said_base)
        rows: list[Observation | AuditPair] = [
            Observation(1000.0 + i, "med", "probe", "tuned", "medical", t.refusal, False,
                        pair_id=pid),
            Observation(1000.0 + i, "med", "probe", "base", "medical", b.refusal, False,
                        pair_id=pid),
        ]  # fmt: skip
        if i < REVIEWED:
            rows.append(AuditPair(pid, 1000.0 + i, "med", "probe", "medical", "q", "a", "b", t, b,
                                  swap=False, sort_key=rng.random()))  # fmt: skip
        store.write_now(*rows, classifier=CLASSIFIER)
        if i < REVIEWED:
            store.add_review(pid, "ann", "human", _labels(truth), _labels(truth))
    store.close()
    return path


def _report(path: Path, fmt: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert run(["--db", str(path), "--format", fmt], out, err) == 0, err.getvalue()
    return out.getvalue()


def test_the_corrected_column_matches_the_audit_module(store_path: Path) -> None:
    store = Store(store_path)
    reviewed = store.reviewed_pairs()
    rows = store.observations()
    store.close()
    assert len(reviewed) == REVIEWED
    table = PairedTable()
    by_pair: dict[str, dict[str, bool]] = {}
    for row in rows:
        by_pair.setdefault(row["pair_id"], {})[row["role"]] = row["refusal"] != "none"
    for sides in by_pair.values():
        table.add(sides["tuned"], sides["base"])
    expected = corrected(table, [quad(p, "refusal") for p in reviewed])
    assert expected is not None
    drift = expected["drift"]
    text = _report(store_path, "md")
    line = next(ln for ln in text.splitlines() if ln.startswith("| medical | Refusal"))
    assert f"{diff_text(Difference(**drift, n=REVIEWED))} ({REVIEWED} reviewed)" in line, line
    # the classifier's difference alarms; the audit says it is not to be trusted
    assert "ALARM" in line and UNVERIFIED in line
    assert drift["lower"] <= 0.0 <= drift["upper"]


def test_the_bias_table_and_the_plot_are_in_the_html(store_path: Path) -> None:
    html = _report(store_path, "html")
    assert "Audit: reviewed labels" in html
    assert "LABELLER BIAS" in html  # the classifier errs far more on the tuned model's answers
    assert html.count('class="forest"') == 2  # one plot per metric with corrected figures
    assert 'class="ci-fixed"' in html and 'class="ci-raw"' in html


def test_reviews_from_another_classifier_are_not_counted(store_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tw.db"
    copy.write_bytes(store_path.read_bytes())
    store = Store(copy)
    store.set_meta("classifier", "a-newer-classifier")
    store.close()
    text = _report(copy, "md")
    assert "Audit: reviewed labels" not in text
    assert "reviewed)" not in text


def test_reviewed_pair_quads_read_each_metric() -> None:
    pair = ReviewedPair("m", "probe", "c", 1.0, "v", (Labels("partial", False), Labels("none", True)),
                        (Labels("none", True), Labels("full", True)))  # fmt: skip
    assert quad(pair, "refusal") == (True, False, False, True)
    assert quad(pair, "caution") == (False, True, True, True)
