"""Carrying a playback token into every URI of a playlist (and of the seek-preview WebVTT).

A playlist is split once, when it is cached, into the text between the places a token goes; serving it
to a token holder is then one ``token.join(parts)``. Only same-origin URIs get the token (relative ones
and absolute paths): a URI with a scheme or a host would carry the token to someone else.
"""

from __future__ import annotations

import re

_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _same_origin(uri: str) -> bool:
    return bool(uri) and not uri.startswith("//") and not _SCHEME.match(uri)


def _insertion_point(uri: str) -> tuple[int, str]:
    """Where, inside ``uri``, the token parameter goes (before any #fragment) and with which separator."""
    end = uri.find("#")
    end = len(uri) if end < 0 else end
    separator = "&token=" if "?" in uri[:end] else "?token="
    return end, separator


class _Splitter:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.current: list[str] = []

    def text(self, text: str) -> None:
        self.current.append(text)

    def uri(self, uri: str) -> None:
        if not _same_origin(uri):
            self.current.append(uri)
            return
        at, separator = _insertion_point(uri)
        self.current.append(uri[:at] + separator)
        self.parts.append("".join(self.current))
        self.current = [uri[at:]]

    def done(self) -> list[str]:
        self.parts.append("".join(self.current))
        return self.parts


def split_playlist(text: str) -> list[str]:
    """``text`` cut where a token goes: after every URI line and every ``URI="..."`` attribute."""
    out = _Splitter()
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        newline = line[len(body):]
        if not body.strip():
            out.text(line)
        elif body.startswith("#"):
            position = 0
            for match in _URI_ATTRIBUTE.finditer(body):
                out.text(body[position:match.start(1)])
                out.uri(match.group(1))
                position = match.end(1)
            out.text(body[position:] + newline)
        else:
            out.uri(body)
            out.text(newline)
    return out.done()


def split_thumbnails_vtt(text: str) -> list[str]:
    """The seek-preview WebVTT cut after each cue's image URI (``sprite.jpg#xywh=...``)."""
    out = _Splitter()
    in_cue = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        newline = line[len(body):]
        if "-->" in body:
            in_cue = True
            out.text(line)
        elif not body.strip():
            in_cue = False
            out.text(line)
        elif in_cue and " " not in body.strip():
            out.uri(body)
            out.text(newline)
        else:
            out.text(line)
    return out.done()
