"""`asyncgate blobl`: run a Bloblang mapping over documents read from stdin, one per line.

    printf '{"name":"ada"}\\n' | asyncgate blobl 'root.upper = this.name.uppercase()'

Input is read as it arrives (never all at once) and each result is written as soon as it is
computed; when stdout is a terminal, a pipe or a socket every line is flushed at once, so the
command works interactively and at the end of a pipeline.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

_CHUNK = 1 << 16

_DESCRIPTION = """\
Execute a Bloblang mapping on documents read from standard input, one document per line, and
write each result on one line of standard output, in order:

  - a string root is written as it is (raw, without quotes); bytes likewise;
  - any other value (object, array, number, boolean, null) as compact JSON, keys sorted;
  - root = deleted() writes nothing for that line;
  - a mapping that never assigns root writes the input document back (as compact JSON when
    it is JSON).

Each line is parsed as JSON only when the mapping reads it (this, json(), ...), so mappings
that use content() work on any text. Metadata is not printed.

A line that fails (it is not JSON where the mapping needs JSON, or the mapping fails at run
time, e.g. throw("...")) prints "input line N: failed to execute map: <error>" on standard
error, and processing goes on with the next line.

Input is streamed: results appear as lines arrive, and each one is flushed at once when
standard output is a terminal or a pipe."""

_EPILOG = """\
examples:
  $ printf '{"name":"ada","age":36}\\n{"name":"bob"}\\n' | \\
      asyncgate blobl 'root.who = this.name.uppercase()
  root.adult = this.age >= 18'
  {"adult":true,"who":"ADA"}
  input line 2: failed to execute map: failed assignment (line 2): cannot compare types null and number (18) with >=

  $ cat events.jsonl | asyncgate blobl 'root = if this.level == "debug" { deleted() }'
  $ asyncgate blobl -f mapping.blobl < in.jsonl > out.jsonl
  $ printf 'hello\\n' | asyncgate blobl -r 'root = this.uppercase()'
  HELLO

exit status:
  0  standard input was read to its end, even if some lines failed (as Bento's `blobl`;
     the failures are on standard error)
  1  the mapping does not parse (the error, with its line and column, is on standard
     error) or the mapping file cannot be read
  2  usage error (no mapping, or both MAPPING and -f)"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `blobl` on the `asyncgate` sub-command parsers."""
    parser = subparsers.add_parser(
        "blobl", help="run a Bloblang mapping on JSON documents read from stdin, one per line",
        description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mapping", nargs="?", metavar="MAPPING", help="the Bloblang mapping to execute")
    parser.add_argument("-f", "--file", metavar="FILE", help="read the mapping from FILE instead")
    parser.add_argument("-r", "--raw", action="store_true",
                        help="consume raw strings: `this` is each line as a string, not parsed as JSON")
    parser.add_argument("-p", "--pretty", action="store_true",
                        help="pretty-print structured results (over several lines, indented by two spaces)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from .bloblang import ParseError, compile_mapping

    if args.file is not None and args.mapping is not None:
        print("asyncgate blobl: give either MAPPING or -f FILE, not both", file=sys.stderr)
        return 2
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                source = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"failed to read mapping file: {exc}", file=sys.stderr)
            return 1
        where = f"{args.file}: "
    elif args.mapping is not None:
        source, where = args.mapping, ""
    else:
        print("asyncgate blobl: a MAPPING (or -f FILE) is required; see asyncgate blobl --help", file=sys.stderr)
        return 2
    try:
        mapping = compile_mapping(source)
    except ParseError as exc:
        print(f"{where}failed to parse mapping: {exc}", file=sys.stderr)
        return 1

    stdout = sys.stdout.buffer
    if sys.stdin is None:  # started with stdin closed: no documents
        return 0
    try:
        _stream(sys.stdin.buffer, stdout, mapping, raw=args.raw, pretty=args.pretty,
                line_flush=_is_interactive(stdout))
        stdout.flush()
    except BrokenPipeError:  # e.g. `asyncgate blobl ... | head -1`: stop quietly
        _silence_stdout()
    return 0


def _is_interactive(out: BinaryIO) -> bool:
    """Whether each line should be flushed at once: a terminal, a pipe or a socket."""
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    if os.isatty(fd):
        return True
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _stream(stdin: BinaryIO, stdout: BinaryIO, mapping: Any, *, raw: bool, pretty: bool,
            line_flush: bool) -> None:
    """Read STDIN as it arrives, split it into lines, write one result per line."""
    convert = _converter(mapping, raw=raw, pretty=pretty)
    write, flush = stdout.write, stdout.flush
    read: Callable[[int], bytes] = getattr(stdin, "read1", None) or stdin.read
    number = 0

    def handle(line: bytes) -> None:
        nonlocal number
        number += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            result = convert(line)
        except Exception as exc:  # noqa: BLE001 - one failing line never stops the others
            flush()  # keep stdout and stderr in order on a terminal
            sys.stderr.write(f"input line {number}: failed to execute map: {exc or type(exc).__name__}\n")
            sys.stderr.flush()
            return
        if result is not None:
            write(result)
            write(b"\n")
            if line_flush:
                flush()

    partial: list[bytes] = []  # pieces of a line whose end has not arrived yet
    while True:
        chunk = read(_CHUNK)  # whatever is available (at most one read), b"" at the end
        if not chunk:
            break
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            partial.append(chunk)
            continue
        if partial:
            partial.append(lines[0])
            lines[0] = b"".join(partial)
            partial = []
        tail = lines.pop()
        for line in lines:
            handle(line)
        if tail:
            partial.append(tail)
        if not line_flush:
            flush()  # a chunk at a time to a file: few writes, still streaming
    if partial:
        handle(b"".join(partial))


def _converter(mapping: Any, *, raw: bool, pretty: bool) -> Callable[[bytes], bytes | None]:
    """A function from one input line to its output bytes (None: deleted), raising on failure."""
    import orjson

    from .message import Message

    apply = mapping.apply
    pretty_opts = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS

    def convert(line: bytes) -> bytes | None:
        msg = Message.from_structured(line.decode("utf-8", "replace")) if raw else Message(line)
        out = apply(msg, None, 0)
        if out is None:
            return None
        if out.raw is msg.raw:
            # root never assigned, or `root = this`: Bento prints the input document re-encoded.
            if raw:
                return line
            try:
                value = msg.structured
            except ValueError:
                return line  # not JSON and the mapping never looked: printed as it came
            return orjson.dumps(value, option=pretty_opts if pretty else orjson.OPT_SORT_KEYS)
        if pretty and out.has_structured:
            value = out.structured
            if not isinstance(value, (str, bytes)):
                return orjson.dumps(value, option=pretty_opts)
        return out.raw

    return convert
