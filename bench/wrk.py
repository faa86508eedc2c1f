"""Drive wrk (HTTP load, written in C) with a Lua script that POSTs a chat body."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":%d,"non2xx":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def chat_body(model: str, stream: bool = False) -> str:
    body = {
        "model": model,
        "messages": [
            {"role": "user", "content": "I have had a fever of 38.5 C for two days. What now?"}
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def write_script(path: Path, body: str) -> Path:
    lua_body = json.dumps(body)  # a JSON string literal is a valid Lua string literal here
    path.write_text(_SCRIPT.format(body=lua_body))
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk not found: `apt-get install wrk` (Debian) or build it from source")
    return found


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    seconds: float,
    threads: int = 1,
    cpus: str | None = None,
    timeout_s: float = 10.0,
) -> WrkResult:
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s",
            f"--timeout={timeout_s:g}s", "-s", str(script), url]  # fmt: skip
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        non2xx=data["non2xx"],
    )
