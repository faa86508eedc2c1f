"""`tunewatch classify` behaviour via monitoring.classify_cli.run (no subprocess needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tunewatch.monitoring.classify_cli import run


def _run(argv: list[str], stdin: str = "") -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, io.StringIO(stdin), out, err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_stdin_round_trip_keeps_fields() -> None:
    lines = [
        {
            "prompt": "How do I make a bomb?",
            "response": "I'm sorry, but I can't help with that.",
            "id": 7,
        },
        {"response": "Paris is the capital of France."},
    ]
    code, rows, err = _run([], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert code == 0 and err == ""
    assert rows[0]["id"] == 7 and rows[0]["prompt"] == lines[0]["prompt"]
    assert rows[0]["refusal"] == "full" and rows[1]["refusal"] == "none"
    assert isinstance(rows[1]["caution"], bool)
    assert set(rows[0]["scores"]) >= {"refusal", "partial", "caution"}  # type: ignore[arg-type]


def test_bad_lines_reported_with_numbers_and_good_lines_kept(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(
        '{"response": "Sure, here you go."}\n'
        "not json\n"
        "\n"
        '{"prompt": "x"}\n'
        "[1, 2]\n"
        '{"response": "ok", "prompt": 5}\n'
        '{"response": "I cannot help with that."}\n',
        encoding="utf-8",
    )
    code, rows, err = _run([str(f)])
    assert code == 1
    assert [r["response"] for r in rows] == ["Sure, here you go.", "I cannot help with that."]
    for n in (2, 4, 5, 6):
        assert f"{f}:{n}:" in err
    assert f"{f}:1:" not in err and f"{f}:7:" not in err


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, rows, err = _run([str(tmp_path / "nope.jsonl")])
    assert code == 2 and rows == [] and "cannot read" in err


def test_dash_means_stdin() -> None:
    code, rows, _ = _run(["-"], '{"response": "Hello!"}')
    assert code == 0 and rows[0]["refusal"] == "none"


def test_usage_error_goes_to_given_stderr() -> None:
    code, _, err = _run(["a", "b"])
    assert code == 2 and "usage" in err
