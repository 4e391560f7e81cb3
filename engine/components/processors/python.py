"""The `python` processor: messages handed to a Python function of your own (the plugin story)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from ... import spec as s
from ...component import Processor, mark_error
from ...message import Batch, Message
from ...registry import register

_JSON_SCALARS = (int, float, bool)


def load_function(path: str) -> Callable[..., Any]:
    """Import "package.module:callable" (the callable may be dotted, e.g. "mod:Class.method")."""
    module_name, sep, attr_path = path.partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise ValueError(f'function "{path}" must look like "package.module:callable"')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = ""
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            hint = " (is it installed, or is its directory on PYTHONPATH?)"
        raise ValueError(f'cannot import module "{module_name}" for function "{path}": {exc}{hint}') from None
    except Exception as exc:  # noqa: BLE001 - a module that fails while importing (SyntaxError, ...)
        raise ValueError(f'cannot import module "{module_name}" for function "{path}": '
                         f"{type(exc).__name__}: {exc}") from None
    target: Any = module
    where = module_name
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise ValueError(f'cannot import function "{path}": "{where}" has no attribute "{attr}"') from None
        where = f"{where}.{attr}"
    if not callable(target):
        raise ValueError(f'function "{path}" is not callable (it is {type(target).__name__})')
    return target  # type: ignore[no-any-return]


def _check_signature(fn: Callable[..., Any], path: str, args: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature; they fail at call time instead
        return
    try:
        signature.bind(None, **args)
    except TypeError as exc:
        given = f" and keyword arguments {', '.join(sorted(args))}" if args else ""
        raise ValueError(f'function "{path}" cannot be called with one positional argument{given}: {exc}') from None


def _to_message(value: Any, origin: Message | None) -> Message | None:
    """Turn what the function returned into a message; None means the message is dropped."""
    if value is None:
        return None
    if isinstance(value, Message):
        return value
    meta = dict(origin.meta) if origin is not None and origin.has_meta else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        out = Message(bytes(value), meta)
    elif isinstance(value, str):
        out = Message(value.encode(), meta)
    elif isinstance(value, (dict, list, tuple)) or isinstance(value, _JSON_SCALARS):
        out = Message.from_structured(list(value) if isinstance(value, tuple) else value, meta)
        try:
            out.raw  # encode now (and keep the bytes): a value that is not JSON fails here, not at the output
        except TypeError as exc:
            raise TypeError(f"returned a value that cannot be encoded as JSON: {exc}") from None
    else:
        raise TypeError(f"returned {type(value).__name__}; expected a Message, bytes, str, dict, list or None")
    if origin is not None:
        out.error = origin.error
    return out


class PythonProcessor(Processor):
    def __init__(self, path: str, batch: bool = False, args: dict[str, Any] | None = None) -> None:
        if args is None:
            args = {}
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise ValueError("args: expected an object of keyword arguments (names to values)")
        self.path = path
        self.fn = load_function(path)
        self.batch_mode = batch
        self.args = args
        _check_signature(self.fn, path, args)

    async def _call(self, value: Any) -> Any:
        result = self.fn(value, **self.args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _failed(self, msgs: Batch, exc: Exception) -> None:
        self.log.debug("%s raised %s: %s", self.path, type(exc).__name__, exc, exc_info=exc)
        for msg in msgs:
            mark_error(msg, self, exc)

    async def process_batch(self, batch: Batch) -> Batch:
        if self.batch_mode:
            return await self._process_whole(batch)
        out: Batch = []
        for msg in batch:
            try:
                result = _to_message(await self._call(msg), msg)
            except Exception as exc:  # noqa: BLE001 - the message is flagged; the stream carries on
                self._failed([msg], exc)
                out.append(msg)
                continue
            if result is not None:
                out.append(result)
        return out

    async def _process_whole(self, batch: Batch) -> Batch:
        try:
            result = await self._call(batch)
            if result is None:
                return []
            if isinstance(result, Message):
                result = [result]
            if not isinstance(result, (list, tuple)):
                raise TypeError(f"returned {type(result).__name__} in batch mode; expected a list "
                                "(of Message, bytes, str, dict, list or None) or None")
            # Items that are not messages take the metadata of the message at the same position
            # when the function returned one item per message; otherwise they start without any.
            aligned = len(result) == len(batch)
            out: Batch = []
            for i, item in enumerate(result):
                msg = _to_message(item, batch[i] if aligned else None)
                if msg is not None:
                    out.append(msg)
            return out
        except Exception as exc:  # noqa: BLE001 - the batch is flagged; the stream carries on
            self._failed(batch, exc)
            return batch


def _factory(conf: dict[str, Any], ctx: Any) -> PythonProcessor:
    return PythonProcessor(conf["function"], conf["batch"], conf["args"])


_DESCRIPTION = """\
Calls a Python function of your own for each message (or, with `batch: true`, once per batch). This is how
AsyncGate is extended: write an ordinary Python module, make it importable, and name the function as
`package.module:callable`. The function is imported when the stream is built, so a typo in the path, a
module that does not import, or a name that is not callable stops the config from starting with an error
naming the import path.

**What the function receives.** In the default mode, one `engine.message.Message` and the keyword
arguments from `args`. A message has `.raw` (the payload bytes, as received), `.structured` (the payload
decoded as JSON, on first use; raises `ValueError` if it is not JSON), `.meta` (a dict of metadata) and
`.error` (the error text if an earlier processor failed on it, else `None`). With `batch: true` it receives
the list of messages of the batch instead.

**What it returns.** In the default mode, one of:

- a `Message` (the same one, changed in place, or a new one): sent on as it is (after changing the
  decoded `msg.structured` in place, call `msg.set_structured(value)` so the payload is encoded anew);
- `bytes` or `str`: the new payload (UTF-8 for `str`), metadata kept;
- a `dict` or `list` (or a number or boolean): the new payload as structured JSON, metadata kept;
- `None`: the message is dropped on purpose (and acknowledged, as with `mapping: root = deleted()`).

With `batch: true`, a list of such items (each becomes one message, `None` items are dropped; when the list
has as many items as the batch had messages, each item keeps the metadata of the message at its position),
or `None` to drop the whole batch. The result may hold more or fewer messages than the batch.

**Async.** The function may be an `async def`; it is awaited. Functions run on the event loop, one message
after another: a plain `def` must not block (no network calls or long computations); do blocking work in an
`async def` with `await asyncio.to_thread(...)`.

**Errors.** An exception raised by the function does not stop the stream: the message (or, in batch mode,
every message of the batch) is flagged as errored with the exception text, and passed on unchanged, so a
following `catch` can handle it and read the text with `error()`. Returning something that is not one of the
types above is an error of the same kind.

**Worked example.** A module `enrich.py` in a directory on `PYTHONPATH` (for example
`PYTHONPATH=plugins asyncgate run config.yaml`):

```python
import asyncio

def add_total(msg, currency="EUR"):
    order = msg.structured                      # {"id": 7, "items": [{"price": 2.5, "qty": 4}]}
    if not order.get("items"):
        return None                             # drop empty orders
    if any(i["qty"] < 0 for i in order["items"]):
        raise ValueError("negative quantity")   # flagged; see the catch below
    order["total"] = sum(i["price"] * i["qty"] for i in order["items"])
    order["currency"] = currency
    msg.meta["priced"] = "yes"
    return order                                # becomes the JSON payload; metadata kept

async def dedupe(batch):
    seen, out = set(), []
    for msg in batch:
        key = msg.structured["id"]
        if key not in seen:
            seen.add(key)
            out.append(msg)
    await asyncio.sleep(0)                      # async functions are awaited
    return out
```

```yaml
pipeline:
  processors:
    - python:
        function: enrich:add_total
        args: { currency: USD }
    - python:
        function: enrich:dedupe
        batch: true
    - catch:
        - log:
            level: WARN
            message: 'order rejected: ${! error() }'
```

The order `{"id": 7, "items": [{"price": 2.5, "qty": 4}]}` leaves as
`{"currency":"USD","id":7,"items":[{"price":2.5,"qty":4}],"total":10.0}` with the metadata `priced: yes`;
an order with a negative quantity is logged as `order rejected: negative quantity` and passed on unchanged.
"""

register(s.ComponentSpec(
    name="python", kind="processor", category="mapping", status="beta",
    summary="Processes messages with a Python function of your own, imported from a module you provide.",
    description=_DESCRIPTION,
    config=s.obj(
        "python", "",
        s.string("function", 'The function to call, as "package.module:callable" (the callable may be dotted, '
                 'e.g. "mymod:Enricher.process"). Imported when the stream is built.',
                 examples=("enrich:add_total", "myplugins.orders:price")),
        s.boolean("batch", "Call the function once per batch with the list of messages, instead of once per "
                  "message.", False),
        s.Field("args", "any", "Keyword arguments passed to the function on every call.", default={},
                examples=({"currency": "USD"},)),
    ),
    factory=_factory,
    examples=(
        "pipeline:\n  processors:\n    - python:\n        function: enrich:add_total\n"
        "        args:\n          currency: USD",
    ),
))
