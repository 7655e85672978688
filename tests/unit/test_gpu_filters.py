"""The Ansible filter plugin plugins/filter/pyctl_gpu.py: the gpu_driver role refuses the same MIG layouts,
with the same messages, as pyctl's inventory validation (which exits 3 before any host is touched)."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from pyctl.errors import ExitCode, InventoryError
from pyctl.inventory import DEVICE_CUSTOM_FIELDS, DeviceRecord, InterfaceRecord, SiteRecords, build
from tests.load import load_file

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "pyctl_gpu.py"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _load() -> ModuleType:
    return load_file(PLUGIN, "pyctl_gpu_filter")


plugin = _load()
FILTERS = plugin.FilterModule().filters()


def _worker(**cf: Any) -> SiteRecords:
    fields = {"cluster": "c1", "gpu_model": "H100-80GB", "gpu_count": 8, "nvswitch": True, "mig_layout": None, **cf}
    rec = DeviceRecord(name="w1", role="gpu-worker", device_type="hgx-h100-8gpu", rack="r01", platform="ubuntu-2204",
                       status="active", primary_ip4="10.0.1.11/24", custom_fields=fields,
                       pod_interfaces=(InterfaceRecord("ens1f0", 9000, addresses=("10.0.1.11/24",)),))
    return SiteRecords(site="dc9", devices=(rec,), prefixes=(), device_custom_fields=frozenset(DEVICE_CUSTOM_FIELDS))


def _docs(name: str) -> dict[str, Any]:
    """The filter's DOCUMENTATION / EXAMPLES / RETURN, in plugins/filter/<name>.yml as ansible-doc reads them."""
    docs: dict[str, Any] = yaml.safe_load((PLUGIN.parent / f"{name}.yml").read_text())
    return docs


def test_every_filter_is_exposed():
    assert set(FILTERS) == {"pyctl_mig_layout_problems", "pyctl_mig_parted_config", "pyctl_apt_packages"}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_documents_its_options_examples_and_return(name):
    docs = _docs(name)
    doc = docs["DOCUMENTATION"]
    assert doc["name"] == name
    assert doc["short_description"]
    params = list(inspect.signature(plugin.FILTERS[name]).parameters)
    assert list(doc["options"]) == ["_input", *params[1:]]
    assert yaml.safe_load(docs["EXAMPLES"])
    assert "_value" in docs["RETURN"]


def test_seven_1g_10gb_fit_an_h100():
    assert FILTERS["pyctl_mig_layout_problems"]("H100-80GB", {"1g.10gb": 7}) == []


def test_mig_off_checks_only_the_model():
    assert FILTERS["pyctl_mig_layout_problems"]("A100-40GB", None) == []
    assert FILTERS["pyctl_mig_layout_problems"]("A100-40GB", {}) == []


def test_unknown_gpu_model_lists_the_known_ones():
    assert FILTERS["pyctl_mig_layout_problems"]("T4-16GB", None) == [
        "unknown GPU model 'T4-16GB' (known: A100-40GB, A100-80GB, H100-80GB, H200-141GB)"]


def test_layout_over_seven_compute_slices_is_refused():
    assert FILTERS["pyctl_mig_layout_problems"]("H100-80GB", {"3g.40gb": 2, "2g.20gb": 1}) == [
        "layout takes 8 compute slices; a H100-80GB has 7",
        "layout takes 10 of a H100-80GB's 8 memory slices"]


def test_layout_that_is_not_a_mapping_is_refused():
    assert FILTERS["pyctl_mig_layout_problems"]("H100-80GB", ["1g.10gb"])[0].startswith(
        "MIG layout must map MIG profiles to counts")


@pytest.mark.parametrize(("model", "layout"), [
    ("H100-80GB", {"1g.10gb": 8}),
    ("H100-80GB", {"3g.40gb": 2, "2g.20gb": 1}),
    ("A100-40GB", {"1g.10gb": 7}),
    ("H200-141GB", {"7g.141gb": 1, "1g.18gb": 1}),
])
def test_role_refuses_exactly_what_the_inventory_refuses_with_exit_3(model, layout):
    # The same rule behind both: pyctl (before any host is touched) and the role's preflight.
    role_problems = FILTERS["pyctl_mig_layout_problems"](model, layout)
    assert role_problems
    with pytest.raises(InventoryError) as err:
        build(_worker(gpu_model=model, mig_layout=layout, nvswitch=False))
    assert err.value.exit_code == ExitCode.BAD_CONFIG == 3
    assert all(any(p in problem for problem in err.value.problems) for p in role_problems)


def test_mig_parted_config_has_the_layout_and_a_way_back():
    assert FILTERS["pyctl_mig_parted_config"]({"1g.10gb": 7}, "pyctl") == {
        "version": "v1",
        "mig-configs": {
            "pyctl": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
            "all-disabled": [{"devices": "all", "mig-enabled": False}],
        },
    }


def test_mig_parted_config_without_a_layout_turns_mig_off():
    config = FILTERS["pyctl_mig_parted_config"](None, "pyctl")
    assert config["mig-configs"]["pyctl"] == [{"devices": "all", "mig-enabled": False}]


def test_mig_parted_config_renders_as_yaml_in_jinja():
    env = jinja2.Environment()
    env.filters.update(FILTERS)
    env.filters["to_yaml"] = lambda v: yaml.safe_dump(v, sort_keys=False)
    out = env.from_string("{{ {'1g.10gb': 7} | pyctl_mig_parted_config('pyctl') | to_yaml }}").render()
    assert yaml.safe_load(out)["mig-configs"]["pyctl"][0]["mig-devices"] == {"1g.10gb": 7}


def test_apt_packages_lists_every_version_per_package():
    index = (
        "Package: nvidia-driver-550\nVersion: 550.127.05-1\nDepends: nvidia-utils-550 (= 550.127.05-1)\n"
        "Description: driver\n long text: with a colon\n\n"
        "Package: nvidia-driver-550\nVersion: 550.127.08-1\n\n"
        "Package: linux-modules-nvidia-550-6.8.0-45-generic\nVersion: 550.127.08-1\n"
    )
    assert FILTERS["pyctl_apt_packages"](index) == {
        "nvidia-driver-550": ["550.127.05-1", "550.127.08-1"],
        "linux-modules-nvidia-550-6.8.0-45-generic": ["550.127.08-1"],
    }


def test_apt_packages_of_an_empty_index_is_empty():
    assert FILTERS["pyctl_apt_packages"]("") == {}


def test_bad_input_raises_a_filter_error_naming_the_filter():
    with pytest.raises(AnsibleFilterError, match="pyctl_mig_parted_config"):
        FILTERS["pyctl_mig_parted_config"]({"1g.10gb": "seven"}, "pyctl")
