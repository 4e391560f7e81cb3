"""`${VAR}` / `${VAR:default}` environment interpolation, applied to the raw text as Benthos does.

`${! ... }` (Bloblang interpolation) is left alone, and `$${VAR}` escapes to a literal `${VAR}`.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

_PATTERN = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}\n]*))?\}")


def interpolate_env(text: str, environ: Mapping[str, str] | None = None) -> tuple[str, list[tuple[int, str]]]:
    """Return the text with variables replaced, and (offset, name) of each unset variable without a default."""
    env = os.environ if environ is None else environ
    missing: list[tuple[int, str]] = []

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        value = env.get(name)
        if value is not None and value != "":
            return value
        if default is not None:
            return default
        missing.append((match.start(), name))
        return ""

    return _PATTERN.sub(replace, text), missing
