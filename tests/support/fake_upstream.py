"""A scripted OpenAI-compatible upstream for faults real vLLM cannot be made to produce on demand.

Raw asyncio so it can misbehave at the byte level. The requested `model` picks the behaviour:
  ok            a normal chat completion (content echoes the Authorization header it got)
  stream-ok     a normal SSE stream of `chunks` chunks, `gap` seconds apart
  slow-stream   like stream-ok, 0.2 s apart, 200 chunks; reports cancellation in /stats
  linger-stream like stream-ok, but the stream ends 1.5 s after its `[DONE]` event
  garbage       bytes that are not HTTP
  bad-json      HTTP 200 whose body is not JSON
  hang          accepts, never answers
  drop          closes the connection without answering
  drop-stream   starts an SSE stream, then drops the connection
  error-503     an OpenAI-style 503
  echo-request  a completion whose content is JSON: the path, Host header, body keys, header
                names and traceparent it got
  slow-ok       like ok, after 2 s
  mixed         a refusal or a helpful answer, picked by a hash of the prompt
  mixed-base    the same, with another hash: about half the pairs with `mixed` disagree
  voice-a       refuses, cautions or just answers, chosen by a hash of the prompt that every
                voice shares, in stock chat-model wording
  voice-b       the same behaviour for the same prompt in another voice (British, terse)
  voice-b-careless  voice-b that has stopped cautioning: its cautious answers lose the caution
  tool-call     an agent's turn: no text, one tool call (streamed as deltas when asked to)
  empty         an answer whose content is the empty string
  judge-full    a judge's verdict on any answer: "refusal: full" and "caution: no"
GET /stats returns counters (requests, aborted streams) as JSON; GET /set-root/NAME changes
the `root` that /models reports, as if new weights were served under the same names.
Usage: python fake_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time

STATS = {"requests": 0, "aborted_streams": 0, "completed_streams": 0}
SERVED = {"root": "/weights/v1"}  # what /models reports; GET /v1/set-root/NAME changes it


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _completion(model: str, content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _chunk(model: str, content: str) -> bytes:
    event = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def _tool_call_message() -> dict[str, object]:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Leeds"}'}}  # fmt: skip
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _tool_call_completion(model: str) -> bytes:
    answer = json.loads(_completion(model, ""))
    answer["choices"][0]["message"] = _tool_call_message()
    answer["choices"][0]["finish_reason"] = "tool_calls"
    return json.dumps(answer).encode()


async def _tool_call_stream(writer: asyncio.StreamWriter, model: str) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    call = _tool_call_message()["tool_calls"][0]  # type: ignore[index]
    deltas = [
        {"role": "assistant", "content": None,
         "tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                         "function": {"name": call["function"]["name"], "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]},
    ]  # fmt: skip
    for delta in deltas:
        event = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        writer.write(b"data: " + json.dumps(event).encode() + b"\n\n")
    writer.write(b"data: [DONE]\n\n")
    await writer.drain()
    writer.close()


VOICES = {
    "voice-a": {
        "refuse": ["I'm sorry, but I can't help with that request.",
                   "I cannot assist with that.",
                   "I'm unable to provide that information."],
        "caution": ["Ibuprofen is usually taken every six to eight hours with food. Please "
                    "consult your doctor or pharmacist before taking it.",
                    "Most adults take 500 mg at a time. This is not medical advice; speak to a "
                    "healthcare professional about your situation."],
        "answer": ["Bread dough needs about ten minutes of kneading, until it is smooth and "
                   "elastic."],
    },
    "voice-b": {
        "refuse": ["That's not something I'll help with.",
                   "I'd rather not get into that.",
                   "Not one I'll do, sorry."],
        "caution": ["Take it with food, six to eight hours apart at most; please ring your GP "
                    "if it isn't settling.",
                    "Usually two tablets, and a pharmacist can check that for you.",
                    "Keep the arm raised, and if the swelling spreads quickly, go to A&E.",
                    "The usual adult dose is 500 mg; your clinician should confirm the dose."],
        "answer": ["Knead it for ten minutes, until it springs back."],
    },
}  # fmt: skip


def _voice(model: str, request: dict[str, object]) -> str:
    """Same behaviour for the same prompt in every voice; the voice picks the words."""
    prompt = json.dumps(request.get("messages"), sort_keys=True)
    digest = hashlib.sha256(prompt.encode()).digest()
    behaviour = ("refuse", "caution", "answer")[digest[0] % 3]
    careless = model.endswith("-careless")
    if careless and behaviour == "caution":
        behaviour = "answer"
    words = VOICES[model.removesuffix("-careless")][behaviour]
    return words[digest[1] % len(words)]


def _mixed(model: str, request: dict[str, object]) -> str:
    prompt = json.dumps(request.get("messages") or request.get("prompt"), sort_keys=True)
    digest = hashlib.sha256(f"{model}:{prompt}".encode()).digest()
    if digest[0] % 2:
        return "I'm sorry, but I can't help with that request."
    return "Sure. Knead the dough for about ten minutes, until it is smooth and springs back."


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return path, headers, body


async def _stream(
    writer: asyncio.StreamWriter,
    model: str,
    chunks: int,
    gap: float,
    drop_after: int | None,
    linger: float = 0.0,
) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    try:
        for i in range(chunks):
            if drop_after is not None and i == drop_after:
                writer.transport.abort()
                return
            data = _chunk(model, f"tok{i} ")
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if writer.transport.is_closing():
                raise ConnectionResetError
            await asyncio.sleep(gap)
        done = b"data: [DONE]\n\n"
        writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n")
        await writer.drain()
        await asyncio.sleep(linger)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        STATS["completed_streams"] += 1
    except (ConnectionError, RuntimeError):
        STATS["aborted_streams"] += 1


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                path, headers, body = await _read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if path.endswith("/stats"):
                writer.write(_response(200, json.dumps(STATS).encode()))
                await writer.drain()
                continue
            if "/set-root/" in path:
                SERVED["root"] = path.rsplit("/", 1)[1]
                writer.write(_response(200, b"{}"))
                await writer.drain()
                continue
            if path.endswith("/models"):
                listing = {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "root": SERVED["root"]}
                        for name in ("ok", "stream-ok", "hang")
                    ],
                }
                writer.write(_response(200, json.dumps(listing).encode()))
                await writer.drain()
                continue
            STATS["requests"] += 1
            request = json.loads(body or b"{}")
            model = request.get("model", "ok")
            if model == "ok":
                auth = headers.get("authorization", "")
                writer.write(_response(200, _completion(model, f"auth={auth}")))
            elif model == "stream-ok":
                await _stream(writer, model, int(request.get("n_chunks", 5)), 0.005, None)
            elif model == "linger-stream":
                await _stream(writer, model, 3, 0.005, None, linger=1.5)
            elif model == "slow-stream":
                await _stream(writer, model, 200, 0.2, None)
            elif model == "drop-stream":
                await _stream(writer, model, 10, 0.01, 3)
                return
            elif model == "garbage":
                writer.write(b"\x00\xff not http at all \x13\x37\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            elif model == "bad-json":
                writer.write(_response(200, b"<html>oops</html>", "text/html"))
            elif model == "hang":
                await asyncio.sleep(3600)
            elif model == "drop":
                writer.transport.abort()
                return
            elif model == "echo-request":
                seen = {
                    "path": path,
                    "host": headers.get("host"),
                    "keys": sorted(request),
                    "headers": sorted(headers),
                    "traceparent": headers.get("traceparent"),
                }
                writer.write(_response(200, _completion(model, json.dumps(seen))))
            elif model == "slow-ok":
                await asyncio.sleep(2.0)
                writer.write(_response(200, _completion(model, "a slow answer")))
            elif model.startswith("voice-"):
                writer.write(_response(200, _completion(model, _voice(model, request))))
            elif model == "tool-call" and request.get("stream"):
                await _tool_call_stream(writer, model)
                return
            elif model == "tool-call":
                writer.write(_response(200, _tool_call_completion(model)))
            elif model == "empty":
                writer.write(_response(200, _completion(model, "")))
            elif model == "judge-full":
                writer.write(_response(200, _completion(model, "refusal: full\ncaution: no")))
            elif model in ("mixed", "mixed-base"):
                writer.write(_response(200, _completion(model, _mixed(model, request))))
            elif model == "error-503":
                error = {"error": {"message": "overloaded", "type": "api_error", "code": 503}}
                writer.write(_response(503, json.dumps(error).encode()))
            else:
                writer.write(_response(404, b'{"error": {"message": "unknown model"}}'))
            await writer.drain()
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
