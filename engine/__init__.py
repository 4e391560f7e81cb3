"""AsyncGate engine: stream configs, the component registry and the batched runtime."""

__version__ = "0.1.0"
