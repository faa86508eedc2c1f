"""Text out of OpenAI API payloads: the prompt a client sent and the answer it got back,
whether the answer came whole or as SSE chunks. Runs off the request path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


def prompt_text(request: dict[str, Any]) -> str:
    """The last user turn of a chat request, or a completion request's prompt."""
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _content(message.get("content"))
        return ""
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0]
    return ""


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def response_text(response: dict[str, Any]) -> str:
    """The first choice's text of a non-streamed chat or completion answer."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict):
        return _content(message.get("content"))
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def stream_text(chunks: Iterable[bytes]) -> str:
    """The first choice's text reassembled from SSE `data:` lines."""
    parts: list[str] = []
    for line in b"".join(chunks).split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if not data or data == b"[DONE]":
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            elif isinstance(choice.get("text"), str):
                parts.append(choice["text"])
    return "".join(parts)
