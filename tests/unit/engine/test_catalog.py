"""Rendering the specs: `asyncgate list`, the JSON Schema and the generated Markdown docs."""

from __future__ import annotations

import json
import pathlib

import pytest

from engine import catalog, registry
from engine import spec as s
from engine.spec import COMPONENT_KINDS

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs" / "components"

SAMPLE = s.ComponentSpec(
    name="sample", kind="processor", summary="A made-up processor.", description="Longer words.\n",
    config=s.obj("sample", "",
                 s.string("mode", "How.", "fast", options=("fast", "slow"), examples=("slow",)),
                 s.integer("count", "How many."),
                 s.duration("wait", "How long.", "1s", interpolated=True),
                 s.obj("inner", "Nested.", s.boolean("flag", "A flag.", False), default={}),
                 s.unsupported("legacy"),
                 default={}),
    factory=lambda conf, ctx: None, aliases=("sample_alias",), examples=("pipeline:\n  processors:\n    - sample: {}",),
)


def test_render_text_lists_every_kind_and_component() -> None:
    text = catalog.render(None, "text")
    for kind in COMPONENT_KINDS:
        for spec in registry.specs(kind):
            assert f"  {spec.name}" in text
    assert text.splitlines()[0] == "Inputs:"


def test_render_one_kind() -> None:
    text = catalog.render("outputs", "text")
    assert text.splitlines()[0] == "Outputs:"
    assert "Inputs:" not in text


def test_render_json_round_trips_the_specs() -> None:
    data = json.loads(catalog.render("inputs", "json"))
    assert [c["name"] for c in data["input"]] == [spec.name for spec in registry.specs("input")]


def test_field_to_json() -> None:
    out = catalog.spec_to_json(SAMPLE)
    assert out["aliases"] == ["sample_alias"]
    fields = {f["name"]: f for f in out["config"]["children"]}
    assert fields["mode"] == {"name": "mode", "type": "string", "kind": "scalar", "description": "How.",
                              "default": "fast", "options": ["fast", "slow"], "examples": ["slow"]}
    assert fields["count"]["required"] is True and "default" not in fields["count"]
    assert fields["wait"]["interpolated"] is True
    assert fields["legacy"]["unsupported"] is True
    assert fields["inner"]["children"][0]["name"] == "flag"


def test_field_schema() -> None:
    schema = catalog.field_schema(SAMPLE.config)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["count"]
    assert schema["properties"]["mode"]["enum"] == ["fast", "slow"]
    assert schema["properties"]["count"]["type"] == "integer"
    assert schema["properties"]["inner"]["properties"]["flag"]["type"] == "boolean"
    assert schema["properties"]["legacy"] == {"description": "Accepted for Bento compatibility; not implemented."}


def test_duration_pattern_matches_the_parser() -> None:
    import re

    from engine.config.durations import parse_duration

    pattern = re.compile(catalog.field_schema(s.duration("d", "", "1s"))["pattern"])
    for good in ["", "0", "1s", "1m30s", "500ms", "1.5h", ".5s", "-1s", "100µs"]:
        parse_duration(good)
        assert pattern.search(good), good
    for bad in ["1", "s", "1x", "1 s", "--1s"]:
        with pytest.raises(ValueError):
            parse_duration(bad)
        assert not pattern.search(bad), bad


def test_json_schema_has_the_three_shapes() -> None:
    schema = catalog.json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    single, streams, openapi = schema["anyOf"]
    assert {"input", "output", "pipeline"} <= set(single["properties"])
    assert "streams" in streams["properties"]
    assert "x-tyk-streaming" in openapi["properties"]
    for kind in COMPONENT_KINDS:
        names = [next(iter(alt["required"])) for alt in schema["$defs"][kind]["oneOf"]]
        assert names == [n for spec in registry.specs(kind) for n in (spec.name, *spec.aliases)]


def test_spec_markdown() -> None:
    text = catalog.spec_markdown(SAMPLE)
    assert text.startswith("# `sample` (processor)\n\nA made-up processor.\n")
    assert "Aliases: `sample_alias`" in text
    assert "Longer words." in text
    assert "```yaml\npipeline:\n  processors:\n    - sample: {}\n```" in text
    assert "### `mode`\n\nHow.\n\nType: `string`  \nDefault: `\"fast\"`  \nOptions: `fast`, `slow`  \n" in text
    assert "### `count`\n\nHow many.\n\nType: `int`  \nRequired.  \n" in text
    assert "This field supports `${! ... }` interpolation." in text
    assert "### `inner.flag`" in text
    assert "### `legacy`" in text and "Accepted for Bento compatibility and ignored" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_spec_markdown_of_a_scalar_config() -> None:
    inproc = registry.get("input", "inproc")
    assert inproc is not None
    text = catalog.spec_markdown(inproc)
    assert "### `inproc`" in text and "Required." in text


def test_write_docs(tmp_path: pathlib.Path) -> None:
    written = catalog.write_docs(str(tmp_path))
    for kind in COMPONENT_KINDS:
        for spec in registry.specs(kind):
            page = tmp_path / f"{kind}s" / f"{spec.name}.md"
            assert str(page) in written
            assert page.read_text() == catalog.spec_markdown(spec)
    index = (tmp_path / "README.md").read_text()
    assert "- [`stdin`](inputs/stdin.md): " in index
    assert index.startswith("# Components\n")


def _tree(root: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.md"))}


def _docs_problems(committed: pathlib.Path, scratch: pathlib.Path) -> tuple[list[str], list[str], list[str]]:
    """(stale, missing, no longer generated) pages of COMMITTED against docs regenerated into SCRATCH."""
    catalog.write_docs(str(scratch))
    fresh, old = _tree(scratch), _tree(committed)
    stale = sorted(name for name in fresh.keys() & old.keys() if fresh[name] != old[name])
    return stale, sorted(fresh.keys() - old.keys()), sorted(old.keys() - fresh.keys())


def test_committed_docs_are_up_to_date(tmp_path: pathlib.Path) -> None:
    if not DOCS.is_dir():
        pytest.skip(f"{DOCS} does not exist yet: generate it with `python -m engine.catalog docs/components` "
                    f"(make docs) and commit it")
    stale, missing, extra = _docs_problems(DOCS, tmp_path)
    assert (stale, missing, extra) == ([], [], []), (
        "docs/components is out of date with the specs; regenerate with `make docs` "
        f"(stale: {stale}, missing: {missing}, no longer generated: {extra})")


def test_stale_docs_are_noticed(tmp_path: pathlib.Path) -> None:
    committed = tmp_path / "committed"
    catalog.write_docs(str(committed))
    assert _docs_problems(committed, tmp_path / "same") == ([], [], [])
    (committed / "inputs" / "stdin.md").write_text("old words\n")
    (committed / "outputs" / "drop.md").unlink()
    (committed / "outputs" / "gone.md").write_text("a component that was removed\n")
    assert _docs_problems(committed, tmp_path / "fresh") == (
        ["inputs/stdin.md"], ["outputs/drop.md"], ["outputs/gone.md"])
