"""Both implementations of an engine._fast module as pytest params: the pure-Python twin, and the compiled one
(skipped, not left out, when the extensions should have been built and were not)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from engine import _fast


def twin_params(name: str) -> list[Any]:
    """Params for engine._fast._NAME_py and engine._fast._NAME, ids "python" and "cython"."""
    params = [pytest.param(importlib.import_module(f"engine._fast._{name}_py"), id="python")]
    try:
        compiled = importlib.import_module(f"engine._fast._{name}")
    except ImportError:
        if _fast.USE_EXTENSIONS:
            params.append(pytest.param(None, id="cython", marks=pytest.mark.skip("extension not built")))
    else:
        params.append(pytest.param(compiled, id="cython"))
    return params
