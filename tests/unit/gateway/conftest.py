from __future__ import annotations

from typing import Iterator

import pytest

from . import memkafka


@pytest.fixture
def kafka() -> Iterator[object]:
    """The test-only `memkafka` input and output (Kafka's fields and consumer groups, in memory)."""
    with memkafka.installed():
        yield memkafka
