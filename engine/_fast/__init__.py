"""Hot paths, compiled with Cython where available.

Each compiled module has a pure-Python twin with the same interface (see protocols.py).
The choice is made once, here: ASYNCGATE_NO_EXTENSIONS=1 forces the twins, and a
missing or broken build falls back to them.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _fanout_py, _framing_py, _jsonscan_py, _messages_py, _window_py
from .protocols import Fanout, Framing, JsonScan

USE_EXTENSIONS = os.environ.get("ASYNCGATE_NO_EXTENSIONS", "") not in ("1", "true", "yes")


def _load(compiled: str, twin: ModuleType) -> ModuleType:
    if not USE_EXTENSIONS:
        return twin
    try:
        return __import__(f"{__name__}.{compiled}", fromlist=[compiled])
    except ImportError:
        return twin


fanout: Fanout = _load("_fanout", _fanout_py)  # type: ignore[assignment]
framing: Framing = _load("_framing", _framing_py)  # type: ignore[assignment]
jsonscan: JsonScan = _load("_jsonscan", _jsonscan_py)  # type: ignore[assignment]
messages: ModuleType = _load("_messages", _messages_py)  # MessageKit, see engine/message.py
window: ModuleType = _load("_window", _window_py)  # SlidingWindow, for the rate limiters
COMPILED = (fanout is not _fanout_py and framing is not _framing_py and jsonscan is not _jsonscan_py
            and messages is not _messages_py and window is not _window_py)

__all__ = ["COMPILED", "USE_EXTENSIONS", "fanout", "framing", "jsonscan", "messages", "window"]
