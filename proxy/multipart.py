"""multipart/form-data bodies (the audio routes): only the `model` field is read and rewritten,
every other byte left as the client sent it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunewatch.proxy.errors import ApiError

BOUNDARY_RE = re.compile(
    rb'(?i)^multipart/form-data\s*;.*?\bboundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))'
)
_FIELD_NAME = re.compile(rb'(?i)(?:^|;)\s*name="?([^";]*)"?\s*(?:;|$)')


def boundary(content_type: bytes) -> bytes | None:
    match = BOUNDARY_RE.match(content_type.strip())
    if match is None:
        return None
    return match.group(1) or match.group(2)


@dataclass(slots=True)
class Form:
    """A multipart body cut at its delimiters (RFC 7578), so that one field can be replaced and
    every other byte left as the client sent it (a part's content never holds the delimiter)."""

    pieces: list[bytes]  # [preamble, part, ..., part, "--" epilogue], split on CRLF--boundary
    delimiter: bytes
    at: int  # the index of the `model` part, or -1
    model: str | None

    @classmethod
    def parse(cls, body: bytes, boundary: bytes) -> Form:
        delimiter = b"\r\n--" + boundary
        pieces = (b"\r\n" + body).split(delimiter)
        bad = ApiError(400, "The multipart/form-data body is malformed.", "invalid_request")
        if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
            raise bad
        at, model = -1, None
        for index in range(1, len(pieces) - 1):
            head, sep, content = pieces[index].partition(b"\r\n\r\n")
            if not sep:
                raise bad
            if _field_name(head) != b"model":
                continue
            if at >= 0:
                raise ApiError(400, "`model` is given twice.", "invalid_request", "model")
            try:
                at, model = index, content.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "`model` is not UTF-8.", "invalid_type", "model") from None
        return cls(pieces, delimiter, at, model)

    def with_model(self, name: str) -> bytes:
        pieces = list(self.pieces)
        if self.at >= 0:
            head = pieces[self.at].partition(b"\r\n\r\n")[0]
            pieces[self.at] = head + b"\r\n\r\n" + name.encode()
        else:  # a new field before the closing delimiter
            field = b'\r\nContent-Disposition: form-data; name="model"\r\n\r\n' + name.encode()
            pieces.insert(len(pieces) - 1, field)
        return self.delimiter.join(pieces)[2:]


def _field_name(head: bytes) -> bytes | None:
    """The form field a part's headers name (None for a file: audio is never the model)."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"content-disposition":
            continue
        kind, _, params = value.strip().partition(b";")
        if kind.strip().lower() != b"form-data" or b"filename" in params.lower():
            return None
        match = _FIELD_NAME.search(params)
        return match.group(1) if match else None
    return None
