"""ansible-doc shows every filter the plugins in plugins/filter export (docs in plugins/filter/<name>.yml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.load import load_file

ROOT = Path(__file__).resolve().parents[2]
FILTER_DIR = ROOT / "plugins" / "filter"
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")
ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FILTER_PLUGINS": str(FILTER_DIR),
       "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}


def _exported() -> list[str]:
    names: list[str] = []
    for path in sorted(FILTER_DIR.glob("*.py")):
        module = load_file(path, f"_filter_docs_{path.stem}")
        names += module.FilterModule().filters()
    return sorted(names)


FILTERS = _exported()


def _ansible_doc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ANSIBLE_DOC), "-t", "filter", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def shown() -> dict[str, dict[str, Any]]:
    """`ansible-doc -t filter --json <every filter>`, in one call: a name it cannot find is left out of the
    document (and warned about; the exit status stays 0), so every name is looked up in it."""
    proc = _ansible_doc("--json", *FILTERS)
    assert proc.returncode == 0, proc.stderr
    docs: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return docs


def test_the_plugins_export_filters_and_every_doc_file_names_one() -> None:
    assert len(FILTERS) == len(set(FILTERS)) >= 20
    assert sorted(p.stem for p in FILTER_DIR.glob("*.yml")) == FILTERS


def test_ansible_doc_lists_every_filter_with_its_short_description() -> None:
    proc = _ansible_doc("--list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {name.removeprefix("ansible.legacy."): desc for name, desc in json.loads(proc.stdout).items()}
    for name in FILTERS:
        doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text())["DOCUMENTATION"]
        assert listed.get(name) == doc["short_description"], name
        assert doc["short_description"], name


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_shows_the_filter(name: str, shown: dict[str, dict[str, Any]]) -> None:
    assert name in shown, f"ansible-doc -t filter does not find {name}"
    entry = shown[name]
    assert entry["doc"]["filename"] == str(FILTER_DIR / f"{name}.yml")
    assert entry["doc"]["description"]
    assert entry["examples"]
    assert entry["return"]
