"""What a component is: the small interfaces inputs, processors and outputs implement."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .message import Batch, LineBatch, Message

if TYPE_CHECKING:
    from .config.validate import ComponentConfig
    from .runtime.context import BuildContext

AckFn = Callable[[BaseException | None], Awaitable[None]]


async def noop_ack(error: BaseException | None) -> None:
    return None


class EndOfInput(Exception):
    """Raised by `Input.read` once a finite input has nothing more to give."""


class Component:
    """Common part: the config block a component was built from, for messages and logs."""

    component: "ComponentConfig"
    log: logging.Logger

    def bind(self, component: "ComponentConfig", ctx: "BuildContext") -> None:
        self.component = component
        self.log = ctx.logger(component)

    @property
    def where(self) -> str:
        return self.component.where if hasattr(self, "component") else type(self).__name__


class Input(Component):
    """Produces batches. `read` returns a batch and the function that settles it.

    The ack function is called once with None (delivered) or the error (not delivered).
    An input that cannot redeliver by itself leaves `supports_nack` False and the
    runtime re-sends nacked batches on its behalf.

    `reads_inline`: `read` may start in its caller's task and go on in another once it first waits (as
    `Output.writes_inline`: only for a read that binds nothing to the current task, such as a cancel scope,
    before its first wait).
    """

    supports_nack = False
    reads_inline = False

    async def connect(self) -> None:
        return None

    async def read(self) -> tuple[Batch, AckFn]:
        raise NotImplementedError

    def pack_lines(self) -> bool:
        """From now on `read` may return a LineBatch instead of a list (the stream's stages all take
        one); False when this input never does."""
        return False

    async def close(self) -> None:
        return None


class Processor(Component):
    """Turns a batch into a batch. Returning an empty batch drops the messages on purpose."""

    takes_lines = False  # has a `process_lines` worth calling

    async def process_batch(self, batch: Batch) -> Batch:
        raise NotImplementedError

    def process_lines(self, batch: LineBatch) -> LineBatch | None:
        """What `process_batch` would make of BATCH's messages, kept as a LineBatch; None when it
        cannot tell without the messages (`process_batch` then gets them)."""
        return None

    async def close(self) -> None:
        return None


class MessageProcessor(Processor):
    """A processor written per message. An exception marks that message as errored
    (Bento semantics) and the rest of the batch carries on."""

    def process(self, msg: Message, batch: Batch, index: int) -> Message | list[Message] | None:
        raise NotImplementedError

    def failed(self, msg: Message, exc: Exception) -> None:
        """Flag MSG, which PROCESS raised EXC for; it then continues down the pipeline unchanged."""
        mark_error(msg, self, exc)

    async def process_batch(self, batch: Batch) -> Batch:
        out: Batch = []
        process = self.process
        for index, msg in enumerate(batch):
            try:
                result = process(msg, batch, index)
            except Exception as exc:  # noqa: BLE001 - a failing message is flagged, never fatal
                self.failed(msg, exc)
                out.append(msg)
                continue
            if result is None:
                continue
            if isinstance(result, list):
                out.extend(result)
            else:
                out.append(result)
        return out


class Output(Component):
    """Consumes batches. `write` returns once the batch is delivered and raises if it was not.
    An output whose `takes_lines` is true is also given LineBatch batches.

    `writes_inline`: `write` may start in its caller's task and go on in another once it first waits. True only
    for an output whose write (and what it calls) binds nothing to the current task before its first wait
    (no `asyncio.timeout`, no `current_task()`): a timeout bound there would cancel the caller, not the write."""

    takes_lines = False
    writes_inline = False

    async def connect(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        raise NotImplementedError

    def stopping(self) -> None:
        """The stream stops reading. A write waiting for something that may never come (a subscriber,
        say) should give up now and fail, so the batch is nacked rather than holding up shutdown."""
        return None

    async def close(self) -> None:
        return None


class PartialDelivery(Exception):
    """Raised by `Output.write` when only part of its batch was delivered.

    `failed` holds the messages that were NOT delivered, as the very Message objects the
    output's `write` was given (not copies), and `errors` the reason for each one, in the
    same order. Every other message of the batch WAS delivered. A caller matches the
    failed messages to its own by identity (`locate`); one that cannot match every failed
    message must treat the whole batch as failed (at-least-once).

    `fallback` passes only the failed messages on to its next output, and the runtime's
    redelivery (engine/runtime/inputs.py) re-sends only those messages.
    """

    def __init__(self, failed: Batch, errors: "list[str] | str", total: int | None = None) -> None:
        self.failed: Batch = list(failed)
        self.errors: list[str] = [errors] * len(self.failed) if isinstance(errors, str) else list(errors)
        if len(self.errors) != len(self.failed):
            raise ValueError("PartialDelivery needs one error per failed message")
        self.total = total
        super().__init__(self._summary())

    def _summary(self) -> str:
        distinct = list(dict.fromkeys(self.errors))
        text = distinct[0] if distinct else "not delivered"
        if len(distinct) > 1:
            text += f" (and {len(distinct) - 1} other error(s))"
        count = len(self.failed)
        if count == 1 and self.total in (None, 1):
            return text
        of = f" of {self.total}" if self.total else ""
        return f"{count}{of} message(s) not delivered: {text}"

    def locate(self, sent: Batch) -> dict[int, str] | None:
        """Positions in SENT of the failed messages, each with its error; None when some
        failed message is not one of SENT (the caller must then assume all of SENT failed)."""
        where = {id(m): i for i, m in enumerate(sent)}
        found: dict[int, str] = {}
        for msg, error in zip(self.failed, self.errors):
            i = where.get(id(msg))
            if i is None:
                return None
            found[i] = error
        return found


def mark_error(msg: Message, component: Component, exc: BaseException | str) -> None:
    text = str(exc) or type(exc).__name__
    msg.error = text
    if hasattr(component, "log"):
        component.log.debug("message errored: %s", text)


Factory = Callable[[Any, "BuildContext"], Component]
