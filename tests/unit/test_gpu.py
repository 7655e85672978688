"""MIG layouts against each GPU model's profiles (RULES.md, NVIDIA: mig-parted profiles per GPU)."""

from __future__ import annotations

import pytest

from pyctl.gpu import GPU_MODELS, mig_layout_problems


@pytest.mark.parametrize(("model", "layout"), [
    ("H100-80GB", {"1g.10gb": 7}),
    ("H100-80GB", {"1g.20gb": 4}),
    ("H100-80GB", {"3g.40gb": 2}),
    ("H100-80GB", {"4g.40gb": 1, "3g.40gb": 1}),
    ("H100-80GB", {"7g.80gb": 1}),
    ("A100-80GB", {"2g.20gb": 3, "1g.10gb": 1}),
    ("H200-141GB", {"1g.18gb": 7}),
    ("H200-141GB", {"1g.35gb": 4}),
    ("H200-141GB", {"3g.71gb": 2}),
    ("A100-40GB", {"1g.5gb": 7}),
    ("A100-40GB", {"3g.20gb": 2}),
])
def test_documented_layouts_fit(model: str, layout: dict[str, int]) -> None:
    assert mig_layout_problems(model, layout) == []


def test_eight_1g_instances_exceed_the_per_profile_maximum() -> None:
    assert mig_layout_problems("H100-80GB", {"1g.10gb": 8}) == [
        "H100-80GB holds at most 7 × 1g.10gb, layout asks for 8"]


def test_h200_profiles_are_not_h100_profiles() -> None:
    assert mig_layout_problems("H200-141GB", {"1g.10gb": 7}) == [
        "H200-141GB has no MIG profile '1g.10gb' (valid: 1g.18gb, 1g.35gb, 2g.35gb, 3g.71gb, 4g.71gb, 7g.141gb)"]


def test_memory_slices_are_counted_not_only_compute_slices() -> None:
    # 4 × 1g.20gb takes all 8 memory slices; one more 1g.10gb fits in compute but not in memory.
    assert mig_layout_problems("H100-80GB", {"1g.20gb": 4, "1g.10gb": 1}) == [
        "layout takes 9 of a H100-80GB's 8 memory slices"]


def test_zero_or_negative_counts_are_bad_input() -> None:
    assert mig_layout_problems("H100-80GB", {"1g.10gb": 0}) == [
        "MIG profile '1g.10gb': count must be a positive integer, got 0"]


def test_unknown_model() -> None:
    assert mig_layout_problems("V100", {"1g.5gb": 1}) == [
        "unknown GPU model 'V100' (known: A100-40GB, A100-80GB, H100-80GB, H200-141GB)"]


def test_only_hgx_class_models_are_nvswitch_capable() -> None:
    assert {m.name for m in GPU_MODELS.values() if m.nvswitch_capable} == {"H100-80GB", "A100-80GB", "H200-141GB"}
