"""Timestamp methods: Go-layout and strftime parsing/formatting, Unix conversions, durations."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .registry import Param, method
from .values import QueryError, Timestamp, expected

RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$")


def parse_rfc3339(s: str) -> Timestamp:
    m = _RFC3339_RE.match(s.strip())
    if not m:
        raise QueryError(f'parsing time "{s}" as "{RFC3339_NANO}": cannot parse as RFC 3339')
    y, mo, d, h, mi, sec, frac, z, sign, oh, om = m.groups()
    tz: tzinfo = timezone.utc
    if sign:
        off = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-off if sign == "-" else off)
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=tz)
    except ValueError as exc:
        raise QueryError(f'parsing time "{s}": {exc}') from None
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    return Timestamp.from_datetime(dt, nanos)


def to_timestamp(v: Any) -> Timestamp:
    """Coerce a method target to a timestamp: RFC 3339 strings and Unix seconds are accepted."""
    t = type(v)
    if t is Timestamp:
        return v
    if t is str or t is bytes:
        return parse_rfc3339(v if t is str else v.decode())
    if t is int:
        return Timestamp(v * 1_000_000_000)
    if t is float:
        return Timestamp(round(v * 1_000_000) * 1000)
    raise expected("timestamp", v)


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if name in ("UTC", ""):
        return timezone.utc
    if name == "Local":
        return datetime.now().astimezone().tzinfo or timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(f"unknown time zone {name}") from None


# -- Go layouts -----------------------------------------------------------------
_STD_CHUNKS = [
    "January", "Jan", "Monday", "Mon", "MST",
    "2006", "002", "01", "02", "03", "04", "05", "06", "15", "1", "2", "_2", "3", "4", "5",
    "PM", "pm",
    "-07:00:00", "-070000", "-07:00", "-0700", "-07",
    "Z07:00:00", "Z070000", "Z07:00", "Z0700", "Z07",
]
_FRAC_RE = re.compile(r"[.,](0+|9+)(?!\d)")


@lru_cache(maxsize=256)
def _layout_tokens(layout: str) -> tuple[tuple[bool, str], ...]:
    """Split a Go layout into (is_std, text) chunks."""
    out: list[tuple[bool, str]] = []
    i = 0
    lit = []
    while i < len(layout):
        m = _FRAC_RE.match(layout, i)
        # Fractions only count right after a seconds field ("05" or "5").
        if m and out and out[-1][0] and out[-1][1] in ("05", "5") and not lit:
            out.append((True, m.group(0)))
            i = m.end()
            continue
        for chunk in _STD_CHUNKS:
            if layout.startswith(chunk, i):
                if chunk == "Mon" and layout.startswith("Monday", i):
                    chunk = "Monday"
                if chunk in ("1", "2", "3", "4", "5", "06") and chunk == "2" and layout.startswith("2006", i):
                    chunk = "2006"
                if lit:
                    out.append((False, "".join(lit)))
                    lit = []
                out.append((True, chunk))
                i += len(chunk)
                break
        else:
            lit.append(layout[i])
            i += 1
    if lit:
        out.append((False, "".join(lit)))
    return tuple(out)


def go_format(ts: Timestamp, layout: str) -> str:
    dt = ts.datetime()
    out = []
    for is_std, chunk in _layout_tokens(layout):
        if not is_std:
            out.append(chunk)
            continue
        c = chunk
        if c == "2006":
            out.append(f"{dt.year:04d}")
        elif c == "06":
            out.append(f"{dt.year % 100:02d}")
        elif c == "January":
            out.append(_MONTHS[dt.month - 1])
        elif c == "Jan":
            out.append(_MONTHS[dt.month - 1][:3])
        elif c == "01":
            out.append(f"{dt.month:02d}")
        elif c == "1":
            out.append(str(dt.month))
        elif c == "Monday":
            out.append(_DAYS[dt.weekday()])
        elif c == "Mon":
            out.append(_DAYS[dt.weekday()][:3])
        elif c == "02":
            out.append(f"{dt.day:02d}")
        elif c == "_2":
            out.append(f"{dt.day:2d}")
        elif c == "2":
            out.append(str(dt.day))
        elif c == "002":
            out.append(f"{dt.timetuple().tm_yday:03d}")
        elif c == "15":
            out.append(f"{dt.hour:02d}")
        elif c in ("03", "3"):
            h = dt.hour % 12 or 12
            out.append(f"{h:02d}" if c == "03" else str(h))
        elif c in ("04", "4"):
            out.append(f"{dt.minute:02d}" if c == "04" else str(dt.minute))
        elif c in ("05", "5"):
            out.append(f"{dt.second:02d}" if c == "05" else str(dt.second))
        elif c in ("PM", "pm"):
            s = "PM" if dt.hour >= 12 else "AM"
            out.append(s if c == "PM" else s.lower())
        elif c == "MST":
            name = dt.tzname() or ""
            out.append("UTC" if name in ("UTC", "UTC+00:00") else name)
        elif c[0] in ".,":
            digits = f"{ts.nanosecond:09d}"[: len(c) - 1]
            if c[1] == "9":
                digits = digits.rstrip("0")
                out.append(c[0] + digits if digits else "")
            else:
                out.append(c[0] + digits)
        else:  # zone offsets
            off = dt.utcoffset() or timedelta(0)
            total = int(off.total_seconds())
            if c.startswith("Z") and total == 0:
                out.append("Z")
                continue
            sign = "-" if total < 0 else "+"
            total = abs(total)
            hh, mm, ss = total // 3600, total % 3600 // 60, total % 60
            body = c.lstrip("Z-")
            if body == "07":
                out.append(f"{sign}{hh:02d}")
            elif body == "0700":
                out.append(f"{sign}{hh:02d}{mm:02d}")
            elif body == "07:00":
                out.append(f"{sign}{hh:02d}:{mm:02d}")
            elif body == "070000":
                out.append(f"{sign}{hh:02d}{mm:02d}{ss:02d}")
            else:
                out.append(f"{sign}{hh:02d}:{mm:02d}:{ss:02d}")
    return "".join(out)


_PARSE_PATTERNS = {
    "2006": r"(?P<year>\d{4})", "06": r"(?P<year2>\d{2})",
    "January": "(?P<month_name>" + "|".join(_MONTHS) + ")",
    "Jan": "(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "01": r"(?P<month>\d{2})", "1": r"(?P<month>\d{1,2})",
    "Monday": "(?:" + "|".join(_DAYS) + ")", "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "02": r"(?P<day>\d{2})", "_2": r" ?(?P<day>\d{1,2})", "2": r"(?P<day>\d{1,2})",
    "002": r"(?P<yday>\d{3})",
    "15": r"(?P<hour>\d{1,2})", "03": r"(?P<hour12>\d{2})", "3": r"(?P<hour12>\d{1,2})",
    "04": r"(?P<minute>\d{2})", "4": r"(?P<minute>\d{1,2})",
    "05": r"(?P<second>\d{2})(?:[.,](?P<frac>\d+))?", "5": r"(?P<second>\d{1,2})(?:[.,](?P<frac>\d+))?",
    "PM": r"(?P<ampm>AM|PM)", "pm": r"(?P<ampm>am|pm)",
    "MST": r"(?P<zname>[A-Z]{3,5}|[+-]\d+)",
}


@lru_cache(maxsize=256)
def _layout_regex(layout: str) -> re.Pattern[str]:
    parts = []
    seen: set[str] = set()
    for is_std, chunk in _layout_tokens(layout):
        if not is_std:
            parts.append(re.escape(chunk))
            continue
        if chunk[0] in ".,":
            parts.append(r"(?:[.,](?P<frac2>\d+))?" if chunk[1] == "9" else r"[.,](?P<frac2>\d+)")
            continue
        if chunk in _PARSE_PATTERNS:
            pat = _PARSE_PATTERNS[chunk]
        else:  # zone offsets
            z = r"Z|" if chunk.startswith("Z") else ""
            pat = rf"(?P<zone>{z}[+-]\d{{2}}(?::?\d{{2}}(?::?\d{{2}})?)?)"
        for name in re.findall(r"\?P<(\w+)>", pat):
            if name in seen:
                pat = pat.replace(f"?P<{name}>", "?:")
            seen.add(name)
        parts.append(pat)
    return re.compile("".join(parts) + "$")


def go_parse(s: str, layout: str, default_tz: tzinfo = timezone.utc) -> Timestamp:
    m = _layout_regex(layout).match(s)
    if not m:
        raise QueryError(f'parsing time "{s}" as "{layout}": cannot parse')
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    year = int(g["year"]) if "year" in g else (2000 + int(g["year2"]) if int(g.get("year2", 0)) < 69 else 1900 + int(g["year2"])) if "year2" in g else 0
    if "year" not in g and "year2" not in g:
        year = 0
    if "month_name" in g:
        month = _MONTHS.index(g["month_name"]) + 1
    elif "month_abbr" in g:
        month = [mo[:3] for mo in _MONTHS].index(g["month_abbr"]) + 1
    else:
        month = int(g.get("month", 1))
    day = int(g.get("day", 1))
    hour = int(g.get("hour", 0))
    if "hour12" in g:
        hour = int(g["hour12"]) % 12
        if g.get("ampm", "").upper() == "PM":
            hour += 12
    minute = int(g.get("minute", 0))
    second = int(g.get("second", 0))
    frac = g.get("frac") or g.get("frac2") or "0"
    tz = default_tz
    zone = g.get("zone")
    if zone:
        if zone == "Z":
            tz = timezone.utc
        else:
            digits = zone[1:].replace(":", "")
            secs = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
            tz = timezone(timedelta(seconds=-secs if zone[0] == "-" else secs))
    elif g.get("zname") in ("UTC", "GMT", "Z"):
        tz = timezone.utc
    try:
        dt = datetime(max(year, 1), month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise QueryError(f'parsing time "{s}": {exc}') from None
    if "yday" in g:
        dt = dt.replace(month=1, day=1) + timedelta(days=int(g["yday"]) - 1)
    return Timestamp.from_datetime(dt, int(frac[:9].ljust(9, "0")))


def _with_tz(ts: Timestamp, tz: Any) -> Timestamp:
    if tz is None or tz == "":
        return ts
    if type(tz) is not str:
        raise expected("string", tz)
    return Timestamp(ts.ns, _zone(tz))


# -- methods ----------------------------------------------------------------------
@method("ts_parse", "format", Param("tz", None), aliases=("parse_timestamp",))
def ts_parse(v: Any, layout: Any, tz: Any) -> Timestamp:
    if type(v) not in (str, bytes):
        raise expected("string", v)
    s = v if type(v) is str else v.decode()
    return go_parse(s, str(layout), _zone(tz) if tz else timezone.utc)


@method("ts_strptime", "format", aliases=("parse_timestamp_strptime",))
def ts_strptime(v: Any, fmt: Any) -> Timestamp:
    if type(v) not in (str, bytes):
        raise expected("string", v)
    s = v if type(v) is str else v.decode()
    try:
        dt = datetime.strptime(s, str(fmt))
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    return Timestamp.from_datetime(dt)


@method("ts_format", Param("format", RFC3339_NANO), Param("tz", None), aliases=("format_timestamp",))
def ts_format(v: Any, layout: Any, tz: Any) -> str:
    return go_format(_with_tz(to_timestamp(v), tz), str(layout))


@method("ts_strftime", "format", Param("tz", None), aliases=("format_timestamp_strftime",))
def ts_strftime(v: Any, fmt: Any, tz: Any) -> str:
    ts = _with_tz(to_timestamp(v), tz)
    f = str(fmt).replace("%f", f"{ts.nanosecond // 1000:06d}")
    return ts.datetime().strftime(f)


@method("ts_unix", aliases=("format_timestamp_unix",))
def ts_unix(v: Any) -> int:
    return to_timestamp(v).ns // 1_000_000_000


@method("ts_unix_milli", aliases=("format_timestamp_unix_milli",))
def ts_unix_milli(v: Any) -> int:
    return to_timestamp(v).ns // 1_000_000


@method("ts_unix_micro", aliases=("format_timestamp_unix_micro",))
def ts_unix_micro(v: Any) -> int:
    return to_timestamp(v).ns // 1_000


@method("ts_unix_nano", aliases=("format_timestamp_unix_nano",))
def ts_unix_nano(v: Any) -> int:
    return to_timestamp(v).ns


@method("ts_tz", "tz")
def ts_tz(v: Any, tz: Any) -> Timestamp:
    if type(tz) is not str:
        raise expected("string", tz)
    return Timestamp(to_timestamp(v).ns, _zone(tz))


@method("ts_round", "duration")
def ts_round(v: Any, duration: Any) -> Timestamp:
    ts = to_timestamp(v)
    if type(duration) is not int or duration <= 0:
        raise expected("positive integer duration", duration)
    r = ts.ns % duration
    ns = ts.ns - r + (duration if r * 2 >= duration else 0)
    return Timestamp(ns, ts.tz)


@method("ts_sub", "t2")
def ts_sub(v: Any, other: Any) -> int:
    return to_timestamp(v).ns - to_timestamp(other).ns


_ISO_DURATION = re.compile(
    r"^([+-])?P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$")


def _iso_parts(s: str) -> tuple[int, list[float]]:
    m = _ISO_DURATION.match(s)
    if not m or s in ("P", "PT") or s.endswith("T"):
        raise QueryError(f"invalid ISO 8601 duration {s!r}")
    sign = -1 if m.group(1) == "-" else 1
    return sign, [float(g.replace(",", ".")) if g else 0.0 for g in m.groups()[1:]]


def _add_iso(ts: Timestamp, s: str, direction: int) -> Timestamp:
    sign, (y, mo, w, d, h, mi, sec) = _iso_parts(s)
    sign *= direction
    dt = ts.datetime()
    nanos = ts.nanosecond
    # Go's AddDate: add calendar fields, then let out-of-range days roll over.
    total_months = dt.year * 12 + (dt.month - 1) + sign * (int(y) * 12 + int(mo))
    year, month = divmod(total_months, 12)
    base = datetime(year, month + 1, 1, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=dt.tzinfo)
    base += timedelta(days=dt.day - 1 + sign * (int(w) * 7 + int(d)))
    base += sign * timedelta(hours=h, minutes=mi, seconds=sec)
    return Timestamp.from_datetime(base, nanos if sec == int(sec) else None)


@method("ts_add_iso8601", "duration")
def ts_add_iso8601(v: Any, duration: Any) -> Timestamp:
    return _add_iso(to_timestamp(v), str(duration), 1)


@method("ts_sub_iso8601", "duration")
def ts_sub_iso8601(v: Any, duration: Any) -> Timestamp:
    return _add_iso(to_timestamp(v), str(duration), -1)


_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


@method("parse_duration")
def parse_duration(v: Any) -> int:
    if type(v) not in (str, bytes):
        raise expected("string", v)
    s = v if type(v) is str else v.decode()
    body = s
    sign = 1
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    pos = 0
    total = 0.0
    for m in _GO_DURATION.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        raise QueryError(f'time: invalid duration "{s}"')
    return sign * int(round(total))


@method("parse_duration_iso8601")
def parse_duration_iso8601(v: Any) -> Any:
    if type(v) not in (str, bytes):
        raise expected("string", v)
    sign, (y, mo, w, d, h, mi, sec) = _iso_parts(v if type(v) is str else v.decode())
    # Without a reference date a year is 365.2425 days and a month a twelfth of that.
    seconds = y * 31556952 + mo * 2629746 + w * 604800 + d * 86400 + h * 3600 + mi * 60 + sec
    return sign * int(round(seconds * 1_000_000_000))


