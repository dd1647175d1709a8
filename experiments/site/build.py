"""mkdocs-gen-files script (``mkdocs.yml``): writes the generated pages into the site."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # mkdocs runs this file by path; the harness is not installed

from experiments.site.reference import (  # noqa: E402
    cli_page,
    configuration_page,
    rest_page,
    simulate_cli_page,
    spec_page,
)
from experiments.site.results import results_pages  # noqa: E402
from experiments.spec.schema import json_schema  # noqa: E402

pages = {
    "reference/configuration.md": configuration_page(),
    "reference/cli.md": cli_page(),
    "reference/simulate-cli.md": simulate_cli_page(),
    "reference/rest.md": rest_page(),
    "reference/spec.md": spec_page(),
    "reference/spec.schema.json": json.dumps(json_schema(), indent=2),
    "changelog.md": (ROOT / "CHANGELOG.md").read_text(),
    **results_pages(),
}
for path, text in pages.items():
    with mkdocs_gen_files.open(path, "w") as f:
        f.write(text)
