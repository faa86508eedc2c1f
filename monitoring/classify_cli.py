"""`tunewatch classify [FILE]`: JSON lines in, the same objects plus labels out.

Each input line is `{"response": str, "prompt": str | null}` (prompt optional, other fields
kept).  Output lines carry the input's fields plus `refusal`, `caution` and `scores`.  A bad
line is reported on stderr with its line number and skipped, the good lines are still
written, and the exit status is 1 (2 when the file cannot be opened).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from contextlib import redirect_stderr, redirect_stdout
from typing import IO, Any

import orjson

from tunewatch.monitoring.classifier import Classifier, load_classifier


def _parse(line: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc})"
    if not isinstance(obj, dict):
        return None, "expected a JSON object"
    response = obj.get("response")
    if not isinstance(response, str):
        return None, 'missing or non-string "response"'
    prompt = obj.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        return None, '"prompt" must be a string or null'
    return obj, None


def classify_lines(
    lines: Iterable[str], clf: Classifier, stdout: IO[str], stderr: IO[str], name: str
) -> int:
    """Stream-classify; returns the number of bad lines."""
    bad = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        obj, error = _parse(line)
        if obj is None:
            bad += 1
            print(f"tunewatch classify: {name}:{number}: {error}", file=stderr)
            continue
        c = clf.classify(obj["response"], obj.get("prompt"))
        out = {**obj, "refusal": c.refusal, "caution": c.caution, "scores": c.scores}
        stdout.write(orjson.dumps(out).decode() + "\n")
    return bad


def run(
    argv: list[str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Entry point for the CLI wiring: 0 ok, 1 some bad lines, 2 unusable input."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    ap = argparse.ArgumentParser(prog="tunewatch classify", description=__doc__)
    ap.add_argument("file", nargs="?", help="JSON-lines file (default: stdin)")
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    clf = load_classifier()
    if args.file is None or args.file == "-":
        bad = classify_lines(stdin, clf, stdout, stderr, "<stdin>")
    else:
        try:
            with open(args.file, encoding="utf-8") as fh:
                bad = classify_lines(fh, clf, stdout, stderr, args.file)
        except OSError as exc:
            print(f"tunewatch classify: cannot read {args.file}: {exc.strerror}", file=stderr)
            return 2
        except UnicodeDecodeError as exc:
            print(f"tunewatch classify: {args.file} is not UTF-8 ({exc.reason})", file=stderr)
            return 2
    stdout.flush()
    if bad:
        print(f"tunewatch classify: {bad} bad line(s) skipped", file=stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
