"""`tunewatch report`: exit codes, formats, config metadata and settings, bad inputs."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_report import MODEL, OTHER, populate
from tunewatch.monitoring.store import Store
from tunewatch.proxy import report_cli as cli


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("report-cli") / "tunewatch.db"
    store = Store(path)
    populate(store)
    store.close()
    yield path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_markdown_to_stdout(db: Path) -> None:
    code, out, err = run("--db", str(db), "--format", "md")
    assert code == 0, err
    assert out.startswith("# tunewatch drift report")
    assert "| Category | Metric | Pairs |" in out
    assert f"## Model: {MODEL}" in out and "**ALARM**" in out


def test_html_to_a_file_and_format_from_the_suffix(db: Path, tmp_path: Path) -> None:
    code, out, err = run("--db", str(db), "--out", str(tmp_path / "r.html"))
    assert code == 0 and out == ""
    assert "wrote" in err
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    code, _, _ = run("--db", str(db), "--out", str(tmp_path / "r.md"))
    assert code == 0
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("# tunewatch drift report")


def test_one_model_and_since(db: Path) -> None:
    code, out, _ = run("--db", str(db), "--model", OTHER, "--format", "md")
    assert code == 0
    assert f"## Model: {OTHER}" in out and f"## Model: {MODEL}" not in out
    # the data is from January 2026 and the test runs later: nothing in the last hour
    code, out, _ = run("--db", str(db), "--since", "1h", "--format", "md")
    assert code == 0 and "0 stored observations" in out


def test_config_gives_metadata_settings_and_the_default_db(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "tunewatch.yaml"
    config.write_text(
        f"""
models:
  - name: {MODEL}
    upstream: http://vllm:8000/v1
    base: {{upstream: http://vllm:8000/v1, model: llama-base}}
    metadata:
      base: llama-base
      adapter: med-lora
      method: "LoRA <r=16>"
      version: "3"
categories:
  custom: [{{name: pharmacy, hazard: "Specialized advice (pharmacy)", expect: caution}}]
store: {{url: "sqlite:///{db}"}}
drift: {{alpha: 0.05, family_size: 10}}
""",
        encoding="utf-8",
    )
    code, out, err = run("--config", str(config), "--format", "html")
    assert code == 0, err
    assert "med-lora" in out and "LoRA &lt;r=16&gt;" in out
    assert "α = 0.05" in out and "family of 10" in out
    code, out, _ = run("--config", str(config), "--alpha", "0.001", "--format", "md")
    assert code == 0 and "α = 0.001" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--db", "/nonexistent/dir/tunewatch.db"], "no database at"),
        (["--format", "md"], "give --db"),
        (["--db", "{db}", "--model", "nobody"], "no observations for model 'nobody'"),
        (["--db", "{notdb}"], "cannot open"),
        (["--db", "{db}", "--out", "/nonexistent/dir/r.html"], "cannot write"),
        (["--config", "{badconfig}"], "invalid config"),
    ],
)
def test_errors_exit_2_with_a_clear_message(
    db: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    notdb = tmp_path / "not.db"
    notdb.write_text("this is not SQLite\n" * 100)
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: []\n")
    paths = {"db": str(db), "notdb": str(notdb), "badconfig": str(bad)}
    code, out, err = run(*(a.format(**paths) for a in argv))
    assert code == 2
    assert out == ""
    assert err.startswith("tunewatch report: error:") and message in err
    assert not Path("/nonexistent").exists()  # a bad path is never created


@pytest.mark.parametrize(
    "argv", [["--alpha", "0.9"], ["--since", "soon"], ["--format", "pdf"], ["--bogus"]]
)
def test_bad_arguments_exit_2_with_usage(db: Path, argv: list[str]) -> None:
    code, out, err = run("--db", str(db), *argv)
    assert code == 2 and out == ""
    assert "usage: tunewatch report" in err and "error:" in err


def test_help_exits_0() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "--db" in out and "--since" in out


def test_subcommand_mounting_shares_the_options(db: Path) -> None:
    """What proxy/cli.py does: add_arguments on a subparser, then run_parsed."""
    parser = argparse.ArgumentParser(prog="tunewatch")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_arguments(sub.add_parser("report"))
    args = parser.parse_args(["report", "--db", str(db), "--format", "md"])
    out, err = io.StringIO(), io.StringIO()
    assert cli.run_parsed(args, out, err) == 0
    assert "| Category |" in out.getvalue()
