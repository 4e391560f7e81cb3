"""Scenario 7, peers: Bytewax, Quix Streams and Faust on the mapping and Kafka-ingest workloads
(benchmarks/peers/scenario.py).

The peer programs here (<peer>_<case>.py) run under each peer's own virtualenv, which lacks our
packages: this package's import must stay standard-library only, so the scenario loads lazily."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SCENARIO":
        from .scenario import SCENARIO

        return SCENARIO
    raise AttributeError(name)
