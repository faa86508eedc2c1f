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


def response_answer(response: dict[str, Any]) -> tuple[str, bool]:
    """The first choice's text of a non-streamed chat or completion answer, and whether it
    calls a tool (an agent's turn that hands work to a tool says nothing to label)."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", False
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict):
        return _content(message.get("content")), _calls_tool(message)
    text = choice.get("text")
    return (text if isinstance(text, str) else ""), False


def _calls_tool(message: dict[str, Any]) -> bool:
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def stream_answer(chunks: Iterable[bytes]) -> tuple[str, bool]:
    """The first choice's text reassembled from SSE `data:` lines, and whether it calls a tool."""
    parts: list[str] = []
    tool = False
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
            if isinstance(delta, dict):
                tool = tool or _calls_tool(delta)
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
            elif isinstance(choice.get("text"), str):
                parts.append(choice["text"])
    return "".join(parts), tool


def follows_a_tool(request: dict[str, Any]) -> bool:
    """A chat request whose last message is a tool's result: a follow-up round of an agent's
    tool loop, not a new user turn (that turn was counted when it was first answered)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    return messages[-1].get("role") in ("tool", "function")
