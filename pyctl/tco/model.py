"""The TCO model: the result types and every formula :func:`compute_tco` applies (see :mod:`pyctl.tco`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyctl.errors import ConfigError
from pyctl.tco.assumptions import (
    _FIELDS,
    DAYS_PER_MONTH,
    DEFAULT_DELTA,
    HOURS_PER_MONTH,
    MILLION,
    SECONDS_PER_DAY,
    SECONDS_PER_MONTH,
    Assumptions,
    ServerSpec,
)
from pyctl.tco.fleet import Fleet, FleetEntry

# --- the result --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sensitivity:
    """How cost per million tokens moves when one assumption moves by ±delta (the others held)."""

    key: str
    low_factor: float  # the factor applied for the low case (1 - delta, or less when clamped)
    high_factor: float
    cost_per_million_low: float  # USD per 1M tokens with the assumption at low_factor
    cost_per_million_high: float
    swing_usd: float  # |high - low|, USD per 1M tokens
    swing_percent: float  # swing as a percentage of the base cost per million

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RightSized:
    """A fleet of one GPU model sized for the volume, priced with the same assumptions."""

    gpu_model: str
    gpus: int
    servers: int
    capex_usd: float
    opex_usd_per_month: float
    self_hosted_usd_per_month: float
    cost_per_million_at_volume_usd: float | None
    break_even_months: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TcoResult:
    fleet: Fleet
    assumptions: Assumptions
    racks: Mapping[tuple[str, str], int]  # (dc, model) -> racks
    capex_usd: float
    it_power_kw: float
    depreciation_usd_per_month: float
    power_usd_per_month: float
    colo_usd_per_month: float
    network_usd_per_month: float
    staff_usd_per_month: float
    gpu_seconds_per_token: Mapping[str, float]  # per GPU model in the fleet
    capacity_tokens_per_s: float  # at utilisation
    volume_tokens_per_month: float
    peak_tokens_per_s: float
    cloud_usd_per_million: float  # blended
    gpus_needed: Mapping[str, int]  # per GPU model (those of the fleet; all known models when it has none)
    right_sized: tuple[RightSized, ...] = ()
    sensitivity: tuple[Sensitivity, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def opex_usd_per_month(self) -> float:
        return self.power_usd_per_month + self.colo_usd_per_month + self.network_usd_per_month + \
            self.staff_usd_per_month

    @property
    def self_hosted_usd_per_month(self) -> float:
        return self.depreciation_usd_per_month + self.opex_usd_per_month

    @property
    def capacity_tokens_per_month(self) -> float:
        return self.capacity_tokens_per_s * SECONDS_PER_MONTH

    @property
    def cost_per_million_usd(self) -> float | None:
        """Self-hosted cost per 1M tokens with the fleet busy at the stated utilisation; None: no capacity."""
        if self.capacity_tokens_per_month <= 0:
            return None
        return self.self_hosted_usd_per_month / (self.capacity_tokens_per_month / MILLION)

    @property
    def served_tokens_per_month(self) -> float:
        return min(self.volume_tokens_per_month, self.capacity_tokens_per_month)

    @property
    def cost_per_million_at_volume_usd(self) -> float | None:
        """Self-hosted cost per 1M tokens of the volume actually served (the fleet costs the same when idle)."""
        if self.served_tokens_per_month <= 0:
            return None
        return self.self_hosted_usd_per_month / (self.served_tokens_per_month / MILLION)

    @property
    def cloud_usd_per_month(self) -> float:
        return self.volume_tokens_per_month / MILLION * self.cloud_usd_per_million

    @property
    def break_even_months(self) -> float | None:
        """capex / (cloud − opex) per month; None when the cloud costs no more than the opex (never)."""
        return _break_even(self.capex_usd, self.cloud_usd_per_month, self.opex_usd_per_month)

    @property
    def peak_coverage(self) -> float:
        """Fleet capacity at utilisation over the peak rate of the volume (≥ 1: the fleet carries the peak)."""
        return self.capacity_tokens_per_s / self.peak_tokens_per_s

    def to_dict(self) -> dict[str, Any]:
        a = self.assumptions
        be = self.break_even_months
        return {
            "dcs": list(self.fleet.dcs),
            "fleet": [{"dc": e.dc, "gpu_model": e.gpu_model, "servers": e.servers, "gpus": e.gpus,
                       "racks": self.racks[(e.dc, e.gpu_model)]} for e in self.fleet.entries],
            "capex_usd": self.capex_usd,
            "it_power_kw": self.it_power_kw,
            "monthly_usd": {
                "depreciation": self.depreciation_usd_per_month,
                "power": self.power_usd_per_month,
                "colo": self.colo_usd_per_month,
                "network": self.network_usd_per_month,
                "staff": self.staff_usd_per_month,
                "opex": self.opex_usd_per_month,
                "self_hosted": self.self_hosted_usd_per_month,
                "cloud": self.cloud_usd_per_month,
            },
            "capacity": {"tokens_per_s": self.capacity_tokens_per_s,
                         "tokens_per_month": self.capacity_tokens_per_month,
                         "utilisation": a.utilisation,
                         "gpu_seconds_per_token": dict(self.gpu_seconds_per_token)},
            "volume": {"tokens_per_day": a.tokens_per_day, "tokens_per_month": self.volume_tokens_per_month,
                       "peak_tokens_per_s": self.peak_tokens_per_s, "peak_factor": a.peak_factor,
                       "served_tokens_per_month": self.served_tokens_per_month,
                       "peak_coverage": self.peak_coverage},
            "cost_per_million_tokens_usd": self.cost_per_million_usd,
            "cost_per_million_tokens_at_volume_usd": self.cost_per_million_at_volume_usd,
            "cloud_usd_per_million_tokens": self.cloud_usd_per_million,
            "break_even_months": be,
            "breaks_even": be is not None,
            "gpus_needed": dict(self.gpus_needed),
            "fleet_gpus": self.fleet.gpus_by_model(),
            "right_sized": [r.to_dict() for r in self.right_sized],
            "sensitivity": [s.to_dict() for s in self.sensitivity],
            "warnings": list(self.warnings),
            "assumptions": a.describe(),
            "formulas": FORMULAS,
        }


FORMULAS = {
    "capex": "Σ servers × server_price_usd",
    "depreciation": "capex / (depreciation_years × 12)",
    "power": "Σ servers × server_power_kw × pue × 730.5 h × electricity_usd_per_kwh",
    "colo": "racks × colo_usd_per_rack_month; racks = ⌈servers / ⌊rack_power_kw / server_power_kw⌋⌉ per DC and model",
    "network": "servers × network_usd_per_server_month",
    "staff": "staff_fte × staff_usd_per_fte_year / 12",
    "gpu_seconds_per_token": "small_model_token_share / tokens_per_s_small + (1 − share) / tokens_per_s_large",
    "capacity": "Σ GPUs / gpu_seconds_per_token × utilisation",
    "cost_per_million": "(depreciation + opex) / (capacity per month / 1e6)",
    "cloud": "tokens_per_day × 30.4375 / 1e6 × blended cloud price",
    "break_even": "capex / (cloud − opex) per month; never when cloud ≤ opex",
    "gpus_needed": "⌈tokens_per_day / 86400 × peak_factor × gpu_seconds_per_token / utilisation⌉",
}


def _break_even(capex: float, cloud_month: float, opex_month: float) -> float | None:
    saving = cloud_month - opex_month
    if saving <= 0:
        return None
    return capex / saving


# --- the model ---------------------------------------------------------------------------------

def gpu_seconds_per_token(spec: ServerSpec, small_share: float) -> float:
    """GPU-seconds one token of the portfolio takes on this GPU model (the inverse of its mixed tokens/s)."""
    return small_share / spec.tokens_per_s_small + (1 - small_share) / spec.tokens_per_s_large


def cloud_usd_per_million(a: Assumptions) -> float:
    """The blended cloud price per 1M tokens: input/output split and small/large split as assumed."""
    i = a.input_token_share
    small = i * a.cloud_small_input_usd_per_million + (1 - i) * a.cloud_small_output_usd_per_million
    large = i * a.cloud_large_input_usd_per_million + (1 - i) * a.cloud_large_output_usd_per_million
    return a.small_model_token_share * small + (1 - a.small_model_token_share) * large


def servers_per_rack(spec: ServerSpec, rack_power_kw: float) -> int:
    """How many servers one rack powers; at least one (a server never shares a rack that cannot hold it)."""
    return max(1, math.floor(rack_power_kw / spec.server_power_kw + 1e-9))


def gpus_needed(a: Assumptions, spec: ServerSpec) -> int:
    """GPUs of this model that carry the peak of the daily volume at the stated utilisation."""
    peak = a.tokens_per_day / SECONDS_PER_DAY * a.peak_factor
    return math.ceil(peak * gpu_seconds_per_token(spec, a.small_model_token_share) / a.utilisation - 1e-9)


def _spec(a: Assumptions, model: str) -> ServerSpec:
    try:
        return a.hardware[model]
    except KeyError:
        raise ConfigError(f"no hardware assumptions for GPU model {model} "
                          f"(known: {', '.join(sorted(a.hardware))})") from None


def _core(fleet: Fleet, a: Assumptions) -> TcoResult:
    capex = power_kw = 0.0
    racks: dict[tuple[str, str], int] = {}
    capacity = 0.0
    secs: dict[str, float] = {}
    warnings: list[str] = []
    for e in fleet.entries:
        spec = _spec(a, e.gpu_model)
        capex += e.servers * spec.server_price_usd
        power_kw += e.servers * spec.server_power_kw
        racks[(e.dc, e.gpu_model)] = math.ceil(e.servers / servers_per_rack(spec, a.rack_power_kw))
        s = secs[e.gpu_model] = gpu_seconds_per_token(spec, a.small_model_token_share)
        capacity += e.gpus / s * a.utilisation
        if e.gpus != e.servers * spec.gpus_per_server:
            warnings.append(f"{e.dc}: {e.servers} {e.gpu_model} servers hold {e.gpus} GPUs, not "
                            f"{spec.gpus_per_server} each as the server price and power assume")
    models = sorted(secs) or sorted(a.hardware)
    needed = {m: gpus_needed(a, _spec(a, m)) for m in models}
    peak = a.tokens_per_day / SECONDS_PER_DAY * a.peak_factor
    if fleet.entries and capacity < peak:
        warnings.append(f"the fleet carries {capacity / peak:.0%} of the peak ({capacity:,.0f} of {peak:,.0f} "
                        "tokens/s): the cloud comparison and the break-even assume it serves the whole volume")
    return TcoResult(
        fleet=fleet, assumptions=a, racks=racks, capex_usd=capex, it_power_kw=power_kw,
        depreciation_usd_per_month=capex / (a.depreciation_years * 12),
        power_usd_per_month=power_kw * a.pue * HOURS_PER_MONTH * a.electricity_usd_per_kwh,
        colo_usd_per_month=sum(racks.values()) * a.colo_usd_per_rack_month,
        network_usd_per_month=fleet.servers * a.network_usd_per_server_month,
        staff_usd_per_month=a.staff_fte * a.staff_usd_per_fte_year / 12,
        gpu_seconds_per_token=dict(sorted(secs.items())),
        capacity_tokens_per_s=capacity,
        volume_tokens_per_month=a.tokens_per_day * DAYS_PER_MONTH,
        peak_tokens_per_s=peak,
        cloud_usd_per_million=cloud_usd_per_million(a),
        gpus_needed=needed,
        warnings=tuple(warnings),
    )


def right_sized(a: Assumptions, model: str) -> RightSized:
    """The TCO of just enough ``model`` servers for the volume (one data center)."""
    spec = _spec(a, model)
    gpus = gpus_needed(a, spec)
    servers = math.ceil(gpus / spec.gpus_per_server)
    r = _core(Fleet((FleetEntry("right-sized", model, servers, servers * spec.gpus_per_server),)), a)
    return RightSized(gpu_model=model, gpus=gpus, servers=servers, capex_usd=r.capex_usd,
                      opex_usd_per_month=r.opex_usd_per_month, self_hosted_usd_per_month=r.self_hosted_usd_per_month,
                      cost_per_million_at_volume_usd=r.cost_per_million_at_volume_usd,
                      break_even_months=r.break_even_months)


def compute_tco(fleet: Fleet, assumptions: Assumptions, *, delta: float | None = DEFAULT_DELTA) -> TcoResult:
    """The TCO of ``fleet`` under ``assumptions``, with the sensitivity to the top three assumptions
    (±``delta``; None: skip it) and a right-sized fleet of each of the fleet's GPU models.

    Raises ConfigError when the fleet has no GPU servers (nothing to cost) or a model has no hardware assumptions.
    """
    if not fleet.entries:
        raise ConfigError("no GPU workers in the fleet: nothing to cost")
    result = _core(fleet, assumptions)
    sens = tuple(sensitivity(fleet, assumptions, delta=delta)) if delta is not None else ()
    sized = tuple(right_sized(assumptions, m) for m in result.gpus_needed)
    return dataclasses.replace(result, sensitivity=sens, right_sized=sized)


# --- sensitivity -------------------------------------------------------------------------------

HARDWARE_SENSITIVITY_KEYS = ("server_price_usd", "server_power_kw", "tokens_per_s_small", "tokens_per_s_large")
_FRACTIONS = ("utilisation", "input_token_share", "small_model_token_share")
SENSITIVITY_KEYS: tuple[str, ...] = (
    *(k for k in _FIELDS if k not in ("hardware", "tokens_per_day")),
    *(f"hardware.{k}" for k in HARDWARE_SENSITIVITY_KEYS),
)


def scaled(a: Assumptions, key: str, factor: float) -> tuple[Assumptions, float]:
    """``a`` with assumption ``key`` multiplied by ``factor`` (``hardware.<k>``: every GPU model's <k>).

    Fractions stay ≤ 1 and ratios with a floor of 1 (PUE, peak factor) stay ≥ 1: the factor actually
    applied is returned with the assumptions.
    """
    if key.startswith("hardware."):
        attr = key.removeprefix("hardware.")
        if attr not in HARDWARE_SENSITIVITY_KEYS:
            raise ValueError(f"not a hardware assumption for sensitivity: {key!r}")
        hw = {m: dataclasses.replace(s, **{attr: getattr(s, attr) * factor}) for m, s in a.hardware.items()}
        return dataclasses.replace(a, hardware=hw), factor
    if key not in _FIELDS or key == "hardware":
        raise ValueError(f"unknown assumption {key!r} (known: {', '.join(SENSITIVITY_KEYS)})")
    base = float(getattr(a, key))
    value = base * factor
    if key in _FRACTIONS:
        value = min(value, 1.0)
    if key in ("pue", "peak_factor"):
        value = max(value, 1.0)
    if key == "tokens_per_day":
        return dataclasses.replace(a, tokens_per_day=max(1, round(value))), factor
    applied = value / base if base else factor
    changes: dict[str, Any] = {key: value}
    return dataclasses.replace(a, **changes), applied


def sensitivity(fleet: Fleet, assumptions: Assumptions, fields: Sequence[str] | None = None,
                delta: float = DEFAULT_DELTA, top: int = 3) -> list[Sensitivity]:
    """The ``top`` assumptions (of ``fields``; default: all) that move cost per million tokens the most
    when each alone moves by ±``delta``, largest swing first (ties by key)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be between 0 and 1, got {delta!r}")
    base = _core(fleet, assumptions).cost_per_million_usd
    if base is None:
        return []
    out: list[Sensitivity] = []
    for key in fields if fields is not None else SENSITIVITY_KEYS:
        lo_a, lo_f = scaled(assumptions, key, 1 - delta)
        hi_a, hi_f = scaled(assumptions, key, 1 + delta)
        lo = _core(fleet, lo_a).cost_per_million_usd
        hi = _core(fleet, hi_a).cost_per_million_usd
        if lo is None or hi is None:
            continue
        swing = abs(hi - lo)
        out.append(Sensitivity(key=key, low_factor=lo_f, high_factor=hi_f, cost_per_million_low=lo,
                               cost_per_million_high=hi, swing_usd=swing, swing_percent=100 * swing / base))
    out.sort(key=lambda s: (-round(s.swing_usd, 12), s.key))
    return out[:top]


# --- over time ---------------------------------------------------------------------------------

def cumulative_costs(result: TcoResult, months: int) -> list[tuple[int, float, float]]:
    """(month, self-hosted, cloud) cumulative USD for months 0..``months``: capex up front, then opex;
    the cloud bill from month 1."""
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ValueError(f"months must be a positive integer, got {months!r}")
    return [(m, result.capex_usd + result.opex_usd_per_month * m, result.cloud_usd_per_month * m)
            for m in range(months + 1)]
