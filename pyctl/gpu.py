"""GPU models pyctl knows, and the MIG profiles each can hold.

Profiles and counts: NVIDIA MIG user guide, "Supported MIG Profiles" (A100, H100, H200), as
summarised in RULES.md. A GPU has 7 compute slices; the leading number of a profile (``3g``) is the
number of slices it takes. Memory slices are 8 per GPU; the largest count a profile allows on one
GPU (``max``) reflects the memory it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

COMPUTE_SLICES = 7
MEMORY_SLICES = 8


@dataclass(frozen=True)
class GpuModel:
    name: str
    memory_gb: int
    mig_profiles: Mapping[str, int]  # profile -> the most instances of it one GPU holds
    nvswitch_capable: bool  # sold as HGX/SXM boards that need Fabric Manager when on NVSwitch


GPU_MODELS: dict[str, GpuModel] = {
    m.name: m
    for m in (
        GpuModel("H100-80GB", 80, {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1,
                                   "7g.80gb": 1}, True),
        GpuModel("A100-80GB", 80, {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1,
                                   "7g.80gb": 1}, True),
        GpuModel("H200-141GB", 141, {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1,
                                     "7g.141gb": 1}, True),
        GpuModel("A100-40GB", 40, {"1g.5gb": 7, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1}, False),
    )
}


def _slices(profile: str) -> int:
    return int(profile.split("g.", 1)[0])


def _memory_gb(profile: str) -> int:
    return int(profile.split("g.", 1)[1].removesuffix("gb"))


def _memory_slices(model: GpuModel, profile: str) -> int:
    # Each memory slice is an eighth of the GPU's memory; profile names round it to whole GB.
    return round(_memory_gb(profile) * MEMORY_SLICES / model.memory_gb)


def mig_layout_problems(model_name: str, layout: Mapping[str, int]) -> list[str]:
    """Why ``layout`` (profile -> instances per GPU) does not fit one GPU of ``model_name``; [] when it fits."""
    model = GPU_MODELS.get(model_name)
    if model is None:
        return [f"unknown GPU model {model_name!r} (known: {', '.join(sorted(GPU_MODELS))})"]
    problems: list[str] = []
    for profile, count in layout.items():
        if profile not in model.mig_profiles:
            problems.append(f"{model_name} has no MIG profile {profile!r} "
                            f"(valid: {', '.join(model.mig_profiles)})")
        elif not isinstance(count, int) or isinstance(count, bool) or count < 1:
            problems.append(f"MIG profile {profile!r}: count must be a positive integer, got {count!r}")
        elif count > model.mig_profiles[profile]:
            problems.append(f"{model_name} holds at most {model.mig_profiles[profile]} × {profile}, "
                            f"layout asks for {count}")
    if problems:
        return problems
    slices = sum(_slices(p) * c for p, c in layout.items())
    if slices > COMPUTE_SLICES:
        problems.append(f"layout takes {slices} compute slices; a {model_name} has {COMPUTE_SLICES}")
    memory_slices = sum(_memory_slices(model, p) * c for p, c in layout.items())
    if memory_slices > MEMORY_SLICES:
        problems.append(f"layout takes {memory_slices} of a {model_name}'s {MEMORY_SLICES} memory slices")
    return problems
