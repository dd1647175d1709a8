"""Reference pages generated from the code: nothing here is typed by hand."""

from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path
from typing import Any

from faas import config
from faas.cli import parser as faas_parser

ROOT = Path(__file__).resolve().parents[2]


def _field_docs(source: str, cls: str) -> dict[str, str]:
    """The ``#:`` comments above each annotated field of class ``cls`` in ``source``."""
    lines = source.splitlines()
    docs = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ClassDef) and node.name == cls):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                above: list[str] = []
                i = item.lineno - 2
                while i >= 0 and lines[i].strip().startswith("#:"):
                    above.insert(0, lines[i].strip()[2:].strip())
                    i -= 1
                docs[item.target.id] = " ".join(above)
    return docs


def configuration_page() -> str:
    """Every ``FAAS_*`` variable: its type, default and what it does (``faas/config.py``)."""
    docs = _field_docs(Path(config.__file__).read_text(), "Settings")
    rows = ["| variable | type | default | what it does |", "|---|---|---|---|"]
    for name, field in config.Settings.model_fields.items():
        kind = re.sub(r"typing\.|<class '(\w+)'>", r"\1", str(field.annotation))
        default = "" if field.default is None else f"`{field.default}`"
        text = docs.get(name, "").replace("``", "`").replace("|", "\\|")
        rows.append(f"| `FAAS_{name.upper()}` | `{kind}` | {default} | {text} |")
    return (
        "# Configuration\n\n"
        "Every setting is read from an environment variable `FAAS_<NAME>` (`faas/config.py`, "
        "a pydantic `BaseSettings`); nothing else in the package reads the environment.\n\n"
        + "\n".join(rows)
        + "\n"
    )


def _subcommands(p: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    actions = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return [(name, sub) for a in actions for name, sub in a.choices.items()]


def _help(p: argparse.ArgumentParser) -> str:
    return "```text\n" + p.format_help().rstrip() + "\n```\n"


def cli_page() -> str:
    """``faas --help`` and every subcommand's help, from the parser itself."""
    top = faas_parser()
    top.prog = "faas"
    parts = [
        "# Command line\n",
        "`faas` is installed with the package (`pip install faas` gives the user commands; "
        "the server commands need the `server` extra). Every option below is from the parser "
        "itself (`faas/cli.py`).\n",
        _help(top),
    ]
    for name, sub in _subcommands(top):
        sub.prog = f"faas {name}"
        parts += [f"## faas {name}\n", _help(sub)]
    return "\n".join(parts)


def simulate_cli_page() -> str:
    """``python -m experiments.simulate`` and its subcommands' help."""
    from experiments.simulate.cli import parser

    top = parser()
    parts = ["# Simulator command line\n", _help(top)]
    for name, sub in _subcommands(top):
        sub.prog = f"python -m experiments.simulate {name}"
        parts += [f"## {name}\n", _help(sub)]
    return "\n".join(parts)


def _kind(prop: dict[str, Any]) -> str:
    """A JSON Schema property's type in a few characters."""
    if "const" in prop:
        return json.dumps(prop["const"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if prop.get("type") == "array":
        return f"list of {_kind(prop.get('items', {}))}"
    if "oneOf" in prop or "anyOf" in prop:
        return " or ".join(_kind(o) for o in prop.get("oneOf", prop.get("anyOf", [])))
    return str(prop.get("type", "any"))


def _schema_row(path: str, prop: dict[str, Any]) -> str:
    kind = _kind(prop)
    if "enum" in prop:
        kind = " | ".join(json.dumps(v) for v in prop["enum"])
    default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
    return f"| `{path}` | {kind} | {default} | {prop.get('description', '')} |"


def rest_page() -> str:
    """Every endpoint of the app's OpenAPI schema: method, path, summary, description,
    request body and answers."""
    from faas.api.app import create_app

    schema = create_app().openapi()
    parts = [
        "# REST API\n",
        f"{schema['info']['title']} {schema['info']['version']}. Generated from the app's "
        "OpenAPI schema; a running API serves the same as interactive pages at `/docs` and "
        'as JSON at `/openapi.json`. Errors are JSON `{"detail": ...}` with a 4xx status.\n',
    ]
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            parts.append(f"## `{method.upper()} {path}`\n")
            parts.append(f"**{op.get('summary', '')}**\n")
            if op.get("description"):
                parts.append(op["description"].strip() + "\n")
            body = op.get("requestBody", {}).get("content", {})
            for kind, content in body.items():
                ref = content.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                parts.append(
                    f"Request body: `{kind}`" + (f", schema `{ref}`" if ref else "") + "\n"
                )
            answers = ", ".join(
                f"`{code}` {r.get('description', '')}" for code, r in op["responses"].items()
            )
            parts.append(f"Answers: {answers}.\n")
    parts.append("## Schemas\n")
    for name, model in schema.get("components", {}).get("schemas", {}).items():
        rows = ["| field | type | default | description |", "|---|---|---|---|"]
        rows += [_schema_row(f, p) for f, p in model.get("properties", {}).items()]
        parts.append(
            f"### {name}\n\n" + (model.get("description", "") + "\n\n") + "\n".join(rows) + "\n"
        )
    return "\n".join(parts)


def spec_page() -> str:
    """The spec format, from its pydantic models' JSON Schema: every table's keys with
    their types, defaults and what they mean; then the shipped example."""
    from experiments import spec
    from experiments.spec.schema import json_schema

    schema = json_schema()
    tables = {"SpecModel": "the file", **{k: k for k in schema.get("$defs", {})}}
    parts = [
        "# Spec format\n",
        _rst_to_markdown(spec.__doc__ or ""),
        "\n## Keys\n",
        "From the format's pydantic models (`experiments/spec/schema.py`); the same as a JSON "
        "Schema: [spec.schema.json](spec.schema.json).\n",
    ]
    for name, title in tables.items():
        model = schema if name == "SpecModel" else schema["$defs"][name]
        rows = ["| key | type | default | what it is |", "|---|---|---|---|"]
        rows += [_schema_row(k, p) for k, p in model.get("properties", {}).items()]
        required = ", ".join(f"`{k}`" for k in model.get("required", [])) or "none"
        parts.append(
            f"### {title}\n\n{model.get('description', '')}\n\nRequired: {required}.\n\n"
            + "\n".join(rows)
            + "\n"
        )
    example = (ROOT / "experiments/specs/example.toml").read_text()
    parts += ["## The shipped example (`experiments/specs/example.toml`)\n",
              f"```toml\n{example.rstrip()}\n```\n"]  # fmt: skip
    return "\n".join(parts)


def _rst_to_markdown(text: str) -> str:
    """A docstring's reStructuredText literals and literal blocks as Markdown."""
    text = text.replace("``", "`")
    out, block = [], False
    for line in text.splitlines():
        if line.endswith("::"):
            out += [line[:-1], "", "```toml" if "repeats" in text else "```"]
            block = True
            continue
        if block and line and not line.startswith("    "):
            out += ["```", ""]
            block = False
        out.append(line[4:] if block else line)
    if block:
        out.append("```")
    return "\n".join(out)
