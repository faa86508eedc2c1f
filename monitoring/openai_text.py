"""Text out of OpenAI API payloads: the prompt a client sent and the answer it got back,
whether the answer came whole or as SSE chunks. Runs off the request path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


def prompt_text(request: dict[str, Any]) -> str:
    """The last user turn of a chat request (or a Responses API request's `input`), or a
    completion request's prompt."""
    given = request.get("input")
    if isinstance(given, str):
        return given
    messages = given if isinstance(given, list) else request.get("messages")
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


# The text parts of multi-part content: chat's `text`, the Responses API's input and output.
_TEXT_PARTS = ("text", "input_text", "output_text")


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        return "\n".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type") in _TEXT_PARTS
        )
    return ""


def response_answer(response: dict[str, Any]) -> tuple[str, bool]:
    """The first choice's text of a non-streamed chat or completion answer, and whether it
    calls a tool (an agent's turn that hands work to a tool says nothing to label); for the
    Responses API, its assistant messages' text."""
    output = response.get("output")
    if isinstance(output, list):
        return _output_text(output)
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", False
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict):
        return _content(message.get("content")), _calls_tool(message)
    text = choice.get("text")
    return (text if isinstance(text, str) else ""), False


def _output_text(output: list[Any]) -> tuple[str, bool]:
    items = [item for item in output if isinstance(item, dict)]
    text = "\n".join(_content(i.get("content")) for i in items if i.get("type") == "message")
    return text, any(i.get("type") in _TOOL_ITEMS for i in items)


# The Responses API's last event carries the whole answer (incomplete: it hit a limit)
_FINAL_EVENTS = ("response.completed", "response.incomplete")
# Responses API output items that hand work to a tool rather than answer
_TOOL_ITEMS = ("function_call", "custom_tool_call", "mcp_call", "web_search_call")


def _calls_tool(message: dict[str, Any]) -> bool:
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def stream_answer(chunks: Iterable[bytes]) -> tuple[str, bool]:
    """The first choice's text reassembled from SSE `data:` lines, and whether it calls a tool;
    for the Responses API, its completed answer (or its text deltas, when cut short)."""
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
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind in _FINAL_EVENTS and isinstance(event.get("response"), dict):
            return response_answer(event["response"])  # the Responses API's whole answer
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            parts.append(event["delta"])
            continue
        item = event.get("item")
        if kind == "response.output_item.added" and isinstance(item, dict):
            tool = tool or item.get("type") in _TOOL_ITEMS
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
    tool loop, not a new user turn (that turn was counted when it was first answered); for the
    Responses API, an input that ends with a tool's output."""
    messages = request.get("messages", request.get("input"))
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    last = messages[-1]
    return last.get("role") in ("tool", "function") or last.get("type") in _TOOL_OUTPUTS


_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "mcp_call_output")
