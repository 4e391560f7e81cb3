"""`asyncgate blobl`, through a real subprocess: one document per line in, one result per line out."""

from __future__ import annotations

import json
import os
import pathlib
import selectors
import subprocess
import sys
import time

import pytest

PYTHON = "/work/main/.venv/bin/python" if os.path.exists("/work/main/.venv/bin/python") else sys.executable
ROOT = pathlib.Path(__file__).resolve().parents[3]


def blobl(*args: str, stdin: bytes = b"", timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PYTHON, "-m", "engine", "blobl", *args], input=stdin, capture_output=True, check=False,
                          timeout=timeout, cwd=ROOT)


def test_each_line_is_mapped_to_one_output_line() -> None:
    res = blobl("root.who = this.name.uppercase()\nroot.n = this.n + 1",
                stdin=b'{"name":"ada","n":1}\n{"name":"bob","n":41}\n')
    assert res.returncode == 0, res.stderr
    assert res.stdout == b'{"n":2,"who":"ADA"}\n{"n":42,"who":"BOB"}\n'
    assert res.stderr == b""


def test_a_string_root_is_written_raw_and_other_values_as_compact_json() -> None:
    res = blobl("root = this.v", stdin=b'{"v":"text"}\n{"v":[1, 2]}\n{"v":{"b":1, "a":null}}\n{"v":2.5}\n{"v":true}\n{}\n')
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == ["text", "[1,2]", '{"a":null,"b":1}', "2.5", "true", "null"]


def test_a_failing_line_is_reported_with_its_number_and_the_others_go_on() -> None:
    res = blobl("root = this.n * 2", stdin=b'{"n":1}\nnot json\n{"n":"x"}\n{"n":4}\n')
    assert res.returncode == 0  # as Bento's blobl: the run completes; failures are on stderr
    assert res.stdout == b"2\n8\n"
    errors = res.stderr.decode().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("input line 2: failed to execute map: failed assignment (line 1): "
                                "unable to reference message as structured")
    assert errors[1].startswith("input line 3: failed to execute map: failed assignment (line 1): ")
    assert "Traceback" not in res.stderr.decode()


def test_a_runtime_throw_is_reported_for_its_line() -> None:
    res = blobl('root = if this.ok { this.v } else { throw("bad record " + this.id) }',
                stdin=b'{"ok":true,"v":1}\n{"ok":false,"id":"r2"}\n')
    assert res.stdout == b"1\n"
    assert res.stderr.decode().strip() == "input line 2: failed to execute map: failed assignment (line 1): bad record r2"


def test_deleted_prints_nothing_for_that_line() -> None:
    res = blobl('root = if this.level == "debug" { deleted() }',
                stdin=b'{"level":"info","m":1}\n{"level":"debug","m":2}\n{"level":"warn","m":3}\n')
    assert res.returncode == 0 and res.stderr == b""
    assert res.stdout == b'{"level":"info","m":1}\n{"level":"warn","m":3}\n'


def test_an_unassigned_root_prints_the_input_as_compact_json_or_as_it_came() -> None:
    res = blobl("meta x = 1", stdin=b'{"b": 1,  "a": [1, 2]}\nplain text\n')
    assert res.stdout == b'{"a":[1,2],"b":1}\nplain text\n'


def test_content_works_on_lines_that_are_not_json() -> None:
    res = blobl("root = content().uppercase()", stdin=b"hello world\nfoo bar\n")
    assert res.stdout == b"HELLO WORLD\nFOO BAR\n"


def test_last_line_without_newline_and_crlf_endings() -> None:
    res = blobl("root = this.a", stdin=b'{"a":1}\r\n{"a":2}')
    assert res.stdout == b"1\n2\n"


def test_an_empty_line_is_an_input_document_like_any_other() -> None:
    res = blobl("root = content().length()", stdin=b"ab\n\nabc\n")
    assert res.stdout == b"2\n0\n3\n"


def test_a_mapping_that_does_not_parse_exits_1_with_the_located_error() -> None:
    res = blobl("root.a = this.a\nroot.b = this.b +", stdin=b"{}\n")
    assert res.returncode == 1 and res.stdout == b""
    err = res.stderr.decode()
    assert err.startswith("failed to parse mapping: line 2 char 18: expected expression, got end of input\n")
    assert "  root.b = this.b +\n" in err and err.rstrip().endswith("^")
    assert "Traceback" not in err


def test_mapping_from_a_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mapping.blobl"
    path.write_text("# enrich\nroot = this\nroot.total = this.price * this.qty\n")
    res = blobl("-f", str(path), stdin=b'{"price":2.5,"qty":4}\n')
    assert res.returncode == 0, res.stderr
    assert res.stdout == b'{"price":2.5,"qty":4,"total":10}\n'


def test_a_bad_mapping_file_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.blobl"
    path.write_text("root = this.(\n")
    res = blobl("-f", str(path))
    assert res.returncode == 1
    assert res.stderr.decode().startswith(f"{path}: failed to parse mapping: line 1 char 14:")
    missing = blobl("-f", str(tmp_path / "nope.blobl"))
    assert missing.returncode == 1 and b"failed to read mapping file" in missing.stderr


def test_usage_errors_exit_2() -> None:
    both = blobl("-f", "x.blobl", "root = 1")
    assert both.returncode == 2 and b"not both" in both.stderr
    neither = blobl()
    assert neither.returncode == 2 and b"MAPPING" in neither.stderr


def test_help_explains_the_command_with_an_example() -> None:
    res = blobl("--help")
    text = res.stdout.decode()
    assert res.returncode == 0
    for fragment in ("one document per line", "deleted()", "input line N", "examples:", "exit status:",
                     "even if some lines failed", "-f FILE", "asyncgate blobl 'root"):
        assert fragment in text, fragment


def test_the_top_level_help_lists_blobl() -> None:
    res = subprocess.run([PYTHON, "-m", "engine", "--help"], capture_output=True, timeout=20, cwd=ROOT, check=False)
    assert b"blobl" in res.stdout


def test_raw_and_pretty_modes() -> None:
    raw = blobl("-r", "root = this.uppercase()", stdin=b"hello\n")
    assert raw.stdout == b"HELLO\n"
    pretty = blobl("-p", "root = this", stdin=b'{"b":[1],"a":1}\n')
    assert pretty.stdout == b'{\n  "a": 1,\n  "b": [\n    1\n  ]\n}\n'


def test_results_stream_line_by_line_through_a_pipe() -> None:
    """Each result is written as soon as its line arrives, before stdin is closed."""
    proc = subprocess.Popen([PYTHON, "-m", "engine", "blobl", "root = this.n * 2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        for n in range(3):
            proc.stdin.write(b'{"n":%d}\n' % n)
            proc.stdin.flush()
            deadline = time.monotonic() + 15
            assert sel.select(timeout=max(0.0, deadline - time.monotonic())), f"no output for line {n + 1}"
            assert proc.stdout.readline() == b"%d\n" % (n * 2)
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_printf_piped_into_blobl_in_a_shell() -> None:
    res = subprocess.run(f"printf '{{\"a\":1}}\\n{{\"a\":2}}\\n' | {PYTHON} -m engine blobl 'root = this.a + 10' | cat",
                         shell=True, capture_output=True, timeout=20, cwd=ROOT, check=False)
    assert res.stdout == b"11\n12\n" and res.returncode == 0


def test_a_big_input_is_streamed(tmp_path: pathlib.Path) -> None:
    lines = 50_000
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(b'{"i":%d}\n' % i for i in range(lines)))
    dst = tmp_path / "out.txt"
    with src.open("rb") as fin, dst.open("wb") as fout:
        res = subprocess.run([PYTHON, "-m", "engine", "blobl", "root = this.i + 1"], stdin=fin, stdout=fout,
                             stderr=subprocess.PIPE, timeout=120, cwd=ROOT, check=False)
    assert res.returncode == 0, res.stderr
    out = dst.read_bytes().split(b"\n")
    assert len(out) == lines + 1 and out[0] == b"1" and out[-2] == b"%d" % lines and out[-1] == b""


def test_a_closed_pipe_downstream_stops_quietly() -> None:
    res = subprocess.run(f"yes '{{\"a\":1}}' | head -n 100000 | {PYTHON} -m engine blobl 'root = this.a' | head -n 2",
                         shell=True, capture_output=True, timeout=60, cwd=ROOT, check=False)
    assert res.stdout == b"1\n1\n"
    assert b"Traceback" not in res.stderr and b"BrokenPipe" not in res.stderr


def test_count_and_batch_functions_see_one_message_per_line() -> None:
    res = blobl('root = [batch_index(), batch_size(), count("blobl-cli-test")]', stdin=b"{}\n{}\n")
    assert [json.loads(line) for line in res.stdout.splitlines()] == [[0, 1, 1], [0, 1, 2]]


@pytest.mark.parametrize("extensions", ["0", "1"])
def test_same_output_with_and_without_extensions(extensions: str) -> None:
    env = dict(os.environ, ASYNCGATE_NO_EXTENSIONS=extensions)
    res = subprocess.run([PYTHON, "-m", "engine", "blobl", "root.s = this.s.uppercase()"], input=b'{"s":"\xc3\xa9t\xc3\xa9"}\n',
                         capture_output=True, timeout=20, cwd=ROOT, env=env, check=False)
    assert res.stdout == '{"s":"ÉTÉ"}\n'.encode()
