"""`${VAR}` / `${VAR:default}` environment interpolation, applied to the raw text as Benthos does.

As in Bento, a name may contain letters, digits, `_` and `.` (here it must start with a letter or `_`,
so `${1}`, a regex group reference in a mapping, is left alone); a default runs to the closing brace and
may itself contain `${! ... }` interpolations (`${TOPIC:${! meta("t") }}`) and colons
(`${KAFKA:127.0.0.1:19092}`); a variable that is set, even to "", wins over no default; a default
replaces an unset or empty variable; a newline in a value is written as `\\n` so it cannot break the
document's structure. `${! ... }` (Bloblang interpolation) is left alone. `$${VAR}` (and Bento's
`${{VAR}}`) escape to a literal `${VAR}`.
"""

from __future__ import annotations

import bisect
import os
import re
from typing import Mapping

_PATTERN = re.compile(
    r"\$(?P<escape>\$?)\{(?P<name>[A-Za-z_][A-Za-z0-9_.]*)(?::(?P<default>(?:\$\{[^}\n]+\}|[^}\n])*))?\}"
    r"|\$\{\{(?P<braced>[A-Za-z_][A-Za-z0-9_.]*(?::[^}\n]*)?)\}\}"
)


class OffsetMap:
    """Maps offsets in the interpolated text back to the original text."""

    def __init__(self) -> None:
        # For each replacement, in order: (start in new text, end in new text, start in old, end in old).
        self._new_starts: list[int] = []
        self._spans: list[tuple[int, int, int, int]] = []

    def add(self, new_start: int, new_end: int, old_start: int, old_end: int) -> None:
        self._new_starts.append(new_start)
        self._spans.append((new_start, new_end, old_start, old_end))

    def original(self, offset: int) -> int:
        i = bisect.bisect_right(self._new_starts, offset) - 1
        if i < 0:
            return offset
        new_start, new_end, old_start, old_end = self._spans[i]
        if offset < new_end:  # inside a substituted value: point at the `${`
            return old_start
        return old_end + (offset - new_end)


def interpolate_env(text: str, environ: Mapping[str, str] | None = None,
                    offsets: OffsetMap | None = None) -> tuple[str, list[tuple[int, str]]]:
    """Return the text with variables replaced, and (offset, name) of each unset variable without a default.

    When OFFSETS is given, it is filled so positions in the result can be mapped back to TEXT."""
    env = os.environ if environ is None else environ
    missing: list[tuple[int, str]] = []
    out: list[str] = []
    pos = new_len = 0
    for match in _PATTERN.finditer(text):
        if match.group("braced") is not None:
            value = "${" + match.group("braced") + "}"
        elif match.group("escape"):
            value = match.group(0)[1:]
        else:
            name, default = match.group("name"), match.group("default")
            found = env.get(name)
            if default is not None and not found:
                value = default
            elif found is not None:
                value = found.replace("\n", "\\n")
            else:
                missing.append((match.start(), name))
                value = ""
        out.append(text[pos:match.start()])
        new_len += match.start() - pos
        if offsets is not None:
            offsets.add(new_len, new_len + len(value), match.start(), match.end())
        out.append(value)
        new_len += len(value)
        pos = match.end()
    out.append(text[pos:])
    return "".join(out), missing
