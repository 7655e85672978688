"""pyctl.smoke.nvidia against nvidia-smi output in the real formats (tests/fixtures/nvidia-smi/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyctl.smoke.nvidia import (
    QUERY_FIELDS,
    DriverError,
    GpuStatus,
    MigDevice,
    MigGpuInstance,
    NvidiaSmiError,
    mig_layout_findings,
    mig_layouts,
    parse_count,
    parse_csv,
    parse_driver_version,
    parse_enabled,
    parse_gpu_list,
    parse_mig_gpu_instances,
    parse_query_gpu,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-smi"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_query_with_header_reads_eight_h100s_in_persistence_and_mig_mode():
    gpus = parse_query_gpu(fixture("query-gpu-h100-mig.csv"))
    assert len(gpus) == 8
    assert gpus[0] == GpuStatus(index=0, name="NVIDIA H100 80GB HBM3", uuid="GPU-9a3c1f55-4e0b-8a3a-73d1-2b8f0c1d5e61",
                                driver_version="550.127.08", persistence_mode=True, ecc_uncorrected=0, mig_mode=True)
    assert {g.driver_version for g in gpus} == {"550.127.08"}
    assert [g.index for g in gpus] == list(range(8))


def test_query_without_header_uses_the_queried_field_order():
    gpus = parse_query_gpu(fixture("query-gpu-a100-pcie-noheader.csv"))
    assert [g.persistence_mode for g in gpus] == [True, True, False, True]
    assert [g.ecc_uncorrected for g in gpus] == [0, 2, 0, 0]
    assert {g.mig_mode for g in gpus} == {False}


def test_unsupported_fields_read_as_none_not_as_zero():
    gpus = parse_query_gpu(fixture("query-gpu-na.csv"))
    assert [(g.ecc_uncorrected, g.mig_mode) for g in gpus] == [(None, None), (None, None)]


def test_csv_strips_units_from_header_and_values():
    rows = parse_csv("index, memory.total [MiB], utilization.gpu [%]\n0, 81559 MiB, 3 %\n")
    assert rows == [{"index": "0", "memory.total": "81559", "utilization.gpu": "3"}]


def test_csv_with_nounits_and_noheader_keeps_bare_values():
    assert parse_csv("0, 81559\n1, 81559\n", ["index", "memory.total"]) == [
        {"index": "0", "memory.total": "81559"}, {"index": "1", "memory.total": "81559"}]


def test_csv_row_with_a_missing_value_is_refused():
    with pytest.raises(NvidiaSmiError, match="expected 7 values"):
        parse_query_gpu("0, NVIDIA H100 80GB HBM3, GPU-1, 550.127.08, Enabled, 0\n")


def test_csv_without_header_or_field_names_is_refused():
    with pytest.raises(NvidiaSmiError, match="header"):
        parse_csv("0, NVIDIA H100 80GB HBM3\n")


def test_query_lacking_a_smoke_field_is_refused():
    with pytest.raises(NvidiaSmiError, match="lacks the fields"):
        parse_query_gpu("index, name\n0, NVIDIA H100 80GB HBM3\n")


def test_driver_not_loaded_raises_the_tools_message():
    text = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
            "latest NVIDIA driver is installed and running.\n")
    with pytest.raises(DriverError, match="couldn't communicate with the NVIDIA driver"):
        parse_query_gpu(text)


def test_version_mismatch_after_upgrade_without_reboot_is_a_driver_error():
    with pytest.raises(DriverError, match="Driver/library version mismatch"):
        parse_driver_version(fixture("version-mismatch.txt"))


def test_driver_version_from_the_banner():
    assert parse_driver_version(fixture("smi-banner.txt")) == "550.127.08"


def test_driver_version_from_proc():
    assert parse_driver_version(fixture("proc-driver-version.txt")) == "550.127.08"


def test_driver_version_from_a_noheader_query_of_every_gpu():
    assert parse_driver_version("550.127.08\n550.127.08\n") == "550.127.08"
    assert parse_driver_version("driver_version\n535.183.01\n") == "535.183.01"


def test_gpus_with_different_driver_versions_are_a_finding():
    with pytest.raises(NvidiaSmiError, match=r"different driver versions: 550\.127\.05, 550\.127\.08"):
        parse_driver_version("550.127.08\n550.127.05\n")


@pytest.mark.parametrize(("text", "value"), [
    ("Enabled", True), ("Disabled", False), ("On", True), ("Off", False), (None, None)])
def test_enabled_values(text, value):
    assert parse_enabled(text) is value


def test_enabled_refuses_anything_else():
    with pytest.raises(NvidiaSmiError):
        parse_enabled("Pending")


def test_count_refuses_a_non_number():
    assert parse_count("17") == 17
    with pytest.raises(NvidiaSmiError):
        parse_count("many")


def test_gpu_list_with_mig_devices():
    gpus = parse_gpu_list(fixture("list-gpus-mig.txt"))
    assert [(g.index, g.name, len(g.mig_devices)) for g in gpus] == [
        (0, "NVIDIA A100-SXM4-40GB", 4), (1, "NVIDIA A100-SXM4-40GB", 0)]
    assert gpus[0].mig_devices[2] == MigDevice("1g.5gb", 2, "MIG-1d4fa523-993d-5fd3-b66b-ebd8f3ef4d47")


def test_gpu_list_refuses_a_foreign_line():
    with pytest.raises(NvidiaSmiError, match="not an nvidia-smi -L line"):
        parse_gpu_list("GPU 0: NVIDIA H100 (UUID: GPU-1)\nsomething else\n")


def test_mig_gpu_instances_in_placement_order():
    instances = parse_mig_gpu_instances(fixture("mig-lgi-a100.txt"))
    assert instances[0] == MigGpuInstance(gpu=0, profile="3g.20gb", profile_id=9, instance_id=2, placement_start=0,
                                          placement_size=4)
    assert [i.profile for i in instances] == ["3g.20gb", "1g.5gb", "1g.5gb", "2g.10gb"]


def test_mig_off_has_no_gpu_instances():
    assert parse_mig_gpu_instances(fixture("mig-lgi-none.txt")) == []
    assert parse_mig_gpu_instances("No GPU instances found: Not Found\n") == []


def test_mig_layouts_count_profiles_per_gpu():
    assert mig_layouts(parse_mig_gpu_instances(fixture("mig-lgi-a100.txt"))) == {
        0: {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}}


def test_mig_layout_findings_name_each_gpu_that_differs_from_netbox():
    instances = parse_mig_gpu_instances(fixture("mig-lgi-a100.txt"))
    assert mig_layout_findings(instances, 1, {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}) == []
    assert mig_layout_findings(instances, 2, {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}) == [
        "GPU 1: MIG instances none, NetBox layout {'1g.5gb': 2, '2g.10gb': 1, '3g.20gb': 1}"]
    assert mig_layout_findings([], 1, None) == []


def test_query_fields_match_the_fixture_header():
    assert fixture("query-gpu-h100-mig.csv").splitlines()[0] == ", ".join(QUERY_FIELDS)
