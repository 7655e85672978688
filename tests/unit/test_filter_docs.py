"""ansible-doc shows every filter the plugins in plugins/filter export (docs in plugins/filter/<name>.yml)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILTER_DIR = ROOT / "plugins" / "filter"
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")
ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FILTER_PLUGINS": str(FILTER_DIR),
       "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}


def _exported() -> list[str]:
    names: list[str] = []
    for path in sorted(FILTER_DIR.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_filter_docs_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names += module.FilterModule().filters()
    return sorted(names)


FILTERS = _exported()


def _ansible_doc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ANSIBLE_DOC), "-t", "filter", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def shown() -> dict[str, subprocess.CompletedProcess[str]]:
    """`ansible-doc -t filter <name>` for every filter, a few at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(FILTERS, pool.map(_ansible_doc, FILTERS), strict=True))


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
def test_ansible_doc_shows_the_filter(name: str, shown: dict[str, subprocess.CompletedProcess[str]]) -> None:
    proc = shown[name]
    assert proc.returncode == 0, proc.stderr
    assert f"FILTER {name} ({FILTER_DIR / name}.yml)" in proc.stdout, proc.stdout
    assert "EXAMPLES:" in proc.stdout
    assert "RETURN VALUES:" in proc.stdout
