"""Running a stream config in-process the way `asyncgate run` does (uvloop, Manager)."""

from __future__ import annotations

import logging


def run_stream(config_yaml: str) -> int:
    """Build and run the one stream of CONFIG_YAML until its input is exhausted and everything is
    delivered; return the number of messages its input produced."""
    import uvloop

    from engine.config.loader import load_text
    from engine.runtime.gc_tuning import tune_for_throughput
    from engine.runtime.manager import Manager

    manager = Manager(load_text(config_yaml, "benchmark.yaml", {}), logging.getLogger("asyncgate.bench"))
    manager.build()
    tune_for_throughput()  # as `asyncgate run` does once its streams are built
    if not uvloop.run(manager.run()):
        raise RuntimeError("the stream did not deliver everything")
    return sum(stream.read_messages for stream in manager.streams.values())


def quoted(path: str) -> str:
    import json

    return json.dumps(path)  # a JSON string is a YAML string
