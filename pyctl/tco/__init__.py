"""Total cost of ownership: the GPU fleet in NetBox against a cloud API, per million tokens.

The TCO workflow (`pyctl tco`); pure: no I/O. Split into :mod:`~.assumptions`, :mod:`~.fleet`,
:mod:`~.model` and :mod:`~.render`. :func:`fleet_from_inventories` counts GPU servers and GPUs per model
per data center from :class:`~pyctl.inventory.Inventory` objects; :func:`load_assumptions` reads the
assumptions (``inventories/tco-assumptions.yml`` documents every key); :func:`compute_tco` prices
the fleet and compares it with the cloud API for the same daily volume.

The model, every formula as :func:`compute_tco` applies it (``render_text`` prints them with the numbers):

* capex            = Σ servers × server price (per GPU model)
* depreciation     = capex / (depreciation years × 12)                       per month
* power            = Σ servers × server kW × PUE × hours per month × electricity price
* colo             = racks × colo price per rack; racks per DC and model = ⌈servers / ⌊rack kW / server kW⌋⌉
* network          = servers × network cost per server
* staff            = FTE × cost per FTE-year / 12
* opex             = power + colo + network + staff;   self-hosted = depreciation + opex  (per month)
* GPU-seconds per token (a GPU model) = small share / small tokens/s + large share / large tokens/s
  (the portfolio: a token is served by a small quantized model or by a large one)
* capacity         = Σ GPUs / GPU-seconds per token × utilisation            tokens/s, then per month
* cost per million = self-hosted per month / (capacity per month / 10⁶)
* cloud            = volume per month / 10⁶ × blended price; the blend weighs input and output prices
  of the small and the large model class by the token shares
* break-even       = capex / (cloud per month − opex per month); never when the cloud costs no more
* GPUs needed      = ⌈daily volume / 86,400 × peak factor × GPU-seconds per token / utilisation⌉

A month is 365.25 / 12 days (730.5 hours). Management hosts (control planes, etcd) are not costed:
only GPU workers are. Hardware is not replaced at the end of its depreciation.
"""

from __future__ import annotations

from pyctl.tco.assumptions import (
    ASSUMPTION,
    DAYS_PER_MONTH,
    DEFAULT_DELTA,
    DEFAULT_HARDWARE,
    HARDWARE_SOURCES,
    HOURS_PER_MONTH,
    MILLION,
    SECONDS_PER_DAY,
    SECONDS_PER_MONTH,
    SERVER_SPEC_FIELDS,
    SRC_A100_PCIE,
    SRC_DGX_A100,
    SRC_DGX_H100,
    SRC_EIA,
    SRC_HF_PRICE,
    SRC_ISSUE,
    SRC_MLPERF_A100,
    SRC_OPENAI_4O,
    SRC_OPENAI_MINI,
    SRC_PUE,
    SRC_TRTLLM,
    Assumptions,
    ServerSpec,
    load_assumptions,
)
from pyctl.tco.fleet import Fleet, FleetEntry, fleet_from_inventories
from pyctl.tco.model import (
    FORMULAS,
    HARDWARE_SENSITIVITY_KEYS,
    SENSITIVITY_KEYS,
    RightSized,
    Sensitivity,
    TcoResult,
    cloud_usd_per_million,
    compute_tco,
    cumulative_costs,
    gpu_seconds_per_token,
    gpus_needed,
    right_sized,
    scaled,
    sensitivity,
    servers_per_rack,
)
from pyctl.tco.render import render_svg, render_text, tokens, usd

__all__ = [
    "ASSUMPTION",
    "DAYS_PER_MONTH",
    "DEFAULT_DELTA",
    "DEFAULT_HARDWARE",
    "FORMULAS",
    "HARDWARE_SENSITIVITY_KEYS",
    "HARDWARE_SOURCES",
    "HOURS_PER_MONTH",
    "MILLION",
    "SECONDS_PER_DAY",
    "SECONDS_PER_MONTH",
    "SENSITIVITY_KEYS",
    "SERVER_SPEC_FIELDS",
    "SRC_A100_PCIE",
    "SRC_DGX_A100",
    "SRC_DGX_H100",
    "SRC_EIA",
    "SRC_HF_PRICE",
    "SRC_ISSUE",
    "SRC_MLPERF_A100",
    "SRC_OPENAI_4O",
    "SRC_OPENAI_MINI",
    "SRC_PUE",
    "SRC_TRTLLM",
    "Assumptions",
    "Fleet",
    "FleetEntry",
    "RightSized",
    "Sensitivity",
    "ServerSpec",
    "TcoResult",
    "cloud_usd_per_million",
    "compute_tco",
    "cumulative_costs",
    "fleet_from_inventories",
    "gpu_seconds_per_token",
    "gpus_needed",
    "load_assumptions",
    "render_svg",
    "render_text",
    "right_sized",
    "scaled",
    "sensitivity",
    "servers_per_rack",
    "tokens",
    "usd",
]
