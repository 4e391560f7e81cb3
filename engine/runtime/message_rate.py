"""Per-subscriber message rates: at most RATE messages in any PER seconds sent to one subscriber.

The gateway decides each subscriber's rate (the API's `x-asyncgate-message-rate`, or its key's / policies'
`message_rate`/`message_per`) and passes it in the ASGI scope as `scope["asyncgate"]["message_rate"]`; the
http_server output keeps one MessageWindow per subscriber and asks it once per batch how many messages fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._fast import window

RateAction = Literal["drop", "close"]
ACTIONS: tuple[RateAction, ...] = ("drop", "close")


@dataclass(frozen=True)
class MessageRate:
    rate: int  # messages
    per: float  # seconds
    action: RateAction = "drop"  # what happens to a subscriber sent more: its extra messages dropped, or closed

    def __str__(self) -> str:
        return f"{self.rate} message{'s' if self.rate != 1 else ''} per {self.per:g}s"


class MessageWindow:
    """An exact sliding window over the times messages were sent to one subscriber."""

    __slots__ = ("limit", "over", "_sent")

    def __init__(self, limit: MessageRate) -> None:
        self.limit = limit
        self.over = False  # a message was refused (the subscriber was told or logged about once)
        self._sent = window.SlidingWindow(limit.rate)

    def room(self, now: float) -> int:
        """How many messages may be sent at NOW."""
        return self.limit.rate - self._sent.expire(now - self.limit.per)  # what left (now - per, now]

    def take(self, count: int, now: float) -> int:
        """Log as sent, at NOW, as many of COUNT messages as fit; return how many that is."""
        fit = min(count, self.room(now))
        self._sent.add(now, fit)
        return fit

    def wait(self, now: float) -> float:
        """Seconds from NOW until one more message fits (0 when one fits now)."""
        if self.room(now) > 0:
            return 0.0
        return self._sent.until_leaves(len(self._sent) - self.limit.rate, self.limit.per, now)
