"""The GPU fleet the TCO prices: GPU servers and GPUs per model per data center, counted from the inventories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyctl.inventory import ROLE_GPU_WORKER, Inventory

# --- the fleet ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FleetEntry:
    dc: str
    gpu_model: str
    servers: int
    gpus: int


@dataclass(frozen=True)
class Fleet:
    """GPU servers and GPUs per model per data center, sorted by (dc, model)."""

    entries: tuple[FleetEntry, ...]

    @property
    def dcs(self) -> tuple[str, ...]:
        return tuple(sorted({e.dc for e in self.entries}))

    @property
    def servers(self) -> int:
        return sum(e.servers for e in self.entries)

    @property
    def gpus(self) -> int:
        return sum(e.gpus for e in self.entries)

    def gpus_by_model(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.gpu_model] = out.get(e.gpu_model, 0) + e.gpus
        return dict(sorted(out.items()))


def fleet_from_inventories(invs: Iterable[Inventory]) -> Fleet:
    """Every GPU worker NetBox holds (whatever its status), counted per data center and GPU model."""
    counts: dict[tuple[str, str], list[int]] = {}
    for inv in invs:
        for h in inv.hosts:
            if h.role != ROLE_GPU_WORKER or h.gpu is None:
                continue
            c = counts.setdefault((inv.site, h.gpu.model), [0, 0])
            c[0] += 1
            c[1] += h.gpu.count
    return Fleet(tuple(FleetEntry(dc, model, s, g) for (dc, model), (s, g) in sorted(counts.items())))
