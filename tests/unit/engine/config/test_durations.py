"""Go-style duration strings."""

from __future__ import annotations

import pytest

from engine.config.durations import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("0", 0.0), ("", 0.0), ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0),
    ("1.5s", 1.5), (".5s", 0.5), ("100us", 1e-4), ("100µs", 1e-4), ("10ns", 1e-8),
    ("1h2m3s4ms", 3723.004), ("-1s", -1.0), ("+2s", 2.0), (" 3s ", 3.0),
])
def test_valid(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "s", "1x", "1 s", "1s2", "ms", "1.2.3s", "--1s", "1S", "one second"])
def test_invalid_names_the_text(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert "is not a duration" in str(info.value)
