"""The component registry. Each component module registers its spec at import time."""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from .spec import COMPONENT_KINDS, ComponentKind, ComponentSpec

_registry: dict[ComponentKind, dict[str, ComponentSpec]] = {k: {} for k in COMPONENT_KINDS}
_loaded = False


def register(spec: ComponentSpec) -> ComponentSpec:
    table = _registry[spec.kind]
    for name in (spec.name, *spec.aliases):
        if name in table:
            raise ValueError(f"{spec.kind} {name!r} is registered twice")
        table[name] = spec
    return spec


def load_builtin_components() -> None:
    """Import every module under engine.components so each registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import components

    for info in pkgutil.walk_packages(components.__path__, components.__name__ + "."):
        importlib.import_module(info.name)


def get(kind: ComponentKind, name: str) -> ComponentSpec | None:
    load_builtin_components()
    return _registry[kind].get(name)


def specs(kind: ComponentKind) -> list[ComponentSpec]:
    """The specs of one kind, each once (aliases folded), sorted by name."""
    load_builtin_components()
    unique = {id(s): s for s in _registry[kind].values()}
    return sorted(unique.values(), key=lambda s: s.name)


def names(kind: ComponentKind) -> list[str]:
    load_builtin_components()
    return sorted(_registry[kind])


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """A ' (did you mean "x"?)' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
