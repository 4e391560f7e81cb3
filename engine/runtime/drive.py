"""Driving a coroutine by hand: started in the caller's task, continued in a task of its own only if it waits."""

from __future__ import annotations

import types
from typing import Any, Coroutine, Generator


@types.coroutine
def resume(coroutine: Coroutine[Any, Any, Any], awaiting: Any) -> Generator[Any, Any, Any]:
    """Drive COROUTINE, already started and now waiting on AWAITING, as a task drives a coroutine; its result is
    this one's."""
    while True:
        try:
            sent = yield awaiting
        except BaseException as exc:  # noqa: BLE001 - the task's throw (a cancellation) goes on into it
            try:
                awaiting = coroutine.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                awaiting = coroutine.send(sent)
            except StopIteration as done:
                return done.value
