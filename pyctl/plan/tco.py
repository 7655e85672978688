"""Total cost of ownership: the GPU fleet in NetBox against a cloud API, per million tokens.

Pure: no I/O. :func:`fleet_from_inventories` counts GPU servers and GPUs per model per data
center from :class:`~pyctl.inventory.Inventory` objects; :func:`load_assumptions` reads the
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

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from pyctl.errors import ConfigError
from pyctl.gpu import GPU_MODELS
from pyctl.inventory import ROLE_GPU_WORKER, Inventory

HOURS_PER_MONTH = 365.25 * 24 / 12  # 730.5
DAYS_PER_MONTH = 365.25 / 12  # 30.4375
SECONDS_PER_DAY = 86_400
SECONDS_PER_MONTH = DAYS_PER_MONTH * SECONDS_PER_DAY
MILLION = 1_000_000
DEFAULT_DELTA = 0.2
ASSUMPTION = "assumption"

# --- sources -----------------------------------------------------------------------------------

SRC_DGX_H100 = "NVIDIA DGX H100/H200 User Guide: system power 10.2 kW max (6 × 3.3 kW PSUs, 4+2)"
SRC_DGX_A100 = "NVIDIA DGX A100 User Guide: system power 6.5 kW max"
SRC_A100_PCIE = "NVIDIA A100 40GB PCIe Product Brief PB-10137-001: 250 W max TDP per card"
SRC_HF_PRICE = "Hugging Face hardware pages: H100 SXM MSRP $30k, H200 SXM MSRP $32k"
SRC_TRTLLM = ("TensorRT-LLM H200 launch blog (v0.5.0): one H200, FP8, 128/128 tokens: Llama-2-13B 11,819 "
              "and Llama-2-70B 3,014 output tokens/s; H200 up to 1.9× H100")
SRC_MLPERF_A100 = "MLPerf Inference v4.1 Llama 2 70B offline: 8× A100 32.1 vs 8× H100 84.2 samples/s (2.6×)"
SRC_PUE = "Uptime Institute Global Data Center Survey 2023: industry average PUE 1.58"
SRC_EIA = "U.S. EIA: average retail electricity price, industrial sector, 2023: 8.06 ¢/kWh"
SRC_OPENAI_MINI = "OpenAI API pricing: GPT-4o mini $0.15 input / $0.60 output per 1M tokens"
SRC_OPENAI_4O = "OpenAI API pricing: GPT-4o $2.50 input / $10.00 output per 1M tokens"
SRC_ISSUE = "pyctl issue 10: the daily volume leadership asks about (1.5 B tokens/day)"


# --- assumptions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerSpec:
    """The reference server of one GPU model: what it costs, draws and serves."""

    gpus_per_server: int  # GPUs on the board (8 on an HGX board, 4 in the PCIe servers)
    server_price_usd: float  # purchase price of one server, USD
    server_power_kw: float  # electrical draw of one server, kW (the maximum: a conservative estimate)
    tokens_per_s_small: float  # tokens (input + output) per second per GPU, small quantized models (≈8-13B)
    tokens_per_s_large: float  # tokens (input + output) per second per GPU, large models (≈70B, FP8)


SERVER_SPEC_FIELDS: dict[str, str] = {
    "gpus_per_server": "GPUs",
    "server_price_usd": "USD",
    "server_power_kw": "kW",
    "tokens_per_s_small": "tokens/s per GPU",
    "tokens_per_s_large": "tokens/s per GPU",
}

_HALF_TRTLLM = ("assumption: about half the TensorRT-LLM max-throughput figure, for latency targets and "
                "longer prompts (" + SRC_TRTLLM + ")")

DEFAULT_HARDWARE: dict[str, ServerSpec] = {
    "H100-80GB": ServerSpec(8, 300_000, 10.2, 3_000, 800),
    "H200-141GB": ServerSpec(8, 320_000, 10.2, 6_000, 1_500),
    "A100-80GB": ServerSpec(8, 170_000, 6.5, 1_150, 300),
    "A100-40GB": ServerSpec(4, 65_000, 2.0, 850, 200),
}

HARDWARE_SOURCES: dict[str, dict[str, str]] = {
    "H100-80GB": {
        "gpus_per_server": "NVIDIA HGX H100 8-GPU board (the seed's Supermicro SYS-821GE)",
        "server_price_usd": f"assumption: 8 × $30k GPUs + ~$60k chassis, CPUs, memory, NICs ({SRC_HF_PRICE})",
        "server_power_kw": SRC_DGX_H100,
        "tokens_per_s_small": f"assumption: H200 figure / 1.9, halved ({SRC_TRTLLM})",
        "tokens_per_s_large": f"assumption: H200 figure / 1.9, halved ({SRC_TRTLLM})",
    },
    "H200-141GB": {
        "gpus_per_server": "NVIDIA HGX H200 8-GPU board (the seed's Supermicro SYS-821GE)",
        "server_price_usd": f"assumption: 8 × $32k GPUs + ~$64k chassis, CPUs, memory, NICs ({SRC_HF_PRICE})",
        "server_power_kw": SRC_DGX_H100,
        "tokens_per_s_small": _HALF_TRTLLM,
        "tokens_per_s_large": _HALF_TRTLLM,
    },
    "A100-80GB": {
        "gpus_per_server": "NVIDIA HGX A100 8-GPU board (DGX A100)",
        "server_price_usd": "assumption: 8 × ~$15k GPUs + ~$50k chassis, CPUs, memory, NICs",
        "server_power_kw": SRC_DGX_A100,
        "tokens_per_s_small": f"assumption: the H100 figure / 2.6 ({SRC_MLPERF_A100})",
        "tokens_per_s_large": f"assumption: the H100 figure / 2.6 ({SRC_MLPERF_A100})",
    },
    "A100-40GB": {
        "gpus_per_server": "4 × A100 PCIe server (the seed's Dell PowerEdge R750xa)",
        "server_price_usd": "assumption: 4 × ~$10k PCIe cards + ~$25k 2U server",
        "server_power_kw": f"assumption: 4 × 250 W cards + ~1 kW CPUs, memory, fans ({SRC_A100_PCIE})",
        "tokens_per_s_small": "assumption: ~75% of an A100-80GB SXM (250 W PCIe card against 400 W SXM)",
        "tokens_per_s_large": "assumption: ~2/3 of an A100-80GB SXM (40 GB: more tensor parallelism for 70B)",
    },
}


def _a(default: Any, unit: str, source: str, doc: str) -> Any:
    return field(default=default, metadata={"unit": unit, "source": source, "doc": doc})


@dataclass(frozen=True)
class Assumptions:
    """What the cost model assumes. Every field: a default, a unit, and a public source or "assumption"."""

    depreciation_years: float = _a(
        4.0, "years", "assumption: GPU generations turn over in ~2 years; hyperscalers depreciate servers over 5-6",
        "straight-line depreciation period of the servers")
    pue: float = _a(1.58, "ratio (facility power / IT power)", SRC_PUE, "power usage effectiveness")
    electricity_usd_per_kwh: float = _a(0.0806, "USD/kWh", SRC_EIA, "price of electricity")
    rack_power_kw: float = _a(
        25.0, "kW", "assumption: an air-cooled high-density rack (two 10.2 kW HGX servers)",
        "usable power per rack; sets how many servers share a rack")
    colo_usd_per_rack_month: float = _a(
        2_000.0, "USD per rack per month", "assumption: space, cooling and remote hands; power metered apart",
        "colocation fee per rack")
    network_usd_per_server_month: float = _a(
        250.0, "USD per server per month", "assumption: switch ports, optics and transit, amortised per server",
        "network cost per GPU server")
    staff_fte: float = _a(2.0, "FTE", ASSUMPTION, "people who run the fleet (full-time equivalents)")
    staff_usd_per_fte_year: float = _a(
        200_000.0, "USD per FTE per year", "assumption: fully loaded cost of an infrastructure engineer",
        "cost of one FTE")
    utilisation: float = _a(
        0.6, "fraction of benchmark throughput", "assumption: batching gaps, latency headroom, restarts",
        "sustained share of the GPUs' benchmark tokens/s that real traffic gets")
    peak_factor: float = _a(2.0, "ratio (peak tokens/s / daily average)", "assumption: diurnal traffic",
                            "how far the busiest hour is above the daily average")
    tokens_per_day: int = _a(1_500_000_000, "tokens/day (input + output)", SRC_ISSUE, "daily token volume")
    input_token_share: float = _a(0.75, "fraction of tokens", "assumption: prompts (with context) outweigh answers",
                                  "share of the volume that is input (prompt) tokens")
    small_model_token_share: float = _a(
        0.7, "fraction of tokens", "assumption: most traffic goes to small quantized models",
        "share of the volume served by the small model class; the rest by the large class")
    cloud_small_input_usd_per_million: float = _a(0.15, "USD per 1M input tokens", SRC_OPENAI_MINI,
                                                  "cloud price, small model class, input")
    cloud_small_output_usd_per_million: float = _a(0.60, "USD per 1M output tokens", SRC_OPENAI_MINI,
                                                   "cloud price, small model class, output")
    cloud_large_input_usd_per_million: float = _a(2.50, "USD per 1M input tokens", SRC_OPENAI_4O,
                                                  "cloud price, large model class, input")
    cloud_large_output_usd_per_million: float = _a(10.00, "USD per 1M output tokens", SRC_OPENAI_4O,
                                                   "cloud price, large model class, output")
    hardware: Mapping[str, ServerSpec] = field(
        default_factory=lambda: dict(DEFAULT_HARDWARE),
        metadata={"unit": "per GPU model", "source": "see each value", "doc": "reference server per GPU model"})

    def describe(self) -> list[dict[str, Any]]:
        """Every assumption as {key, value, unit, source, doc}; hardware keys as hardware.<model>.<key>."""
        out: list[dict[str, Any]] = []
        for f in dataclasses.fields(self):
            if f.name == "hardware":
                continue
            out.append({"key": f.name, "value": getattr(self, f.name), "unit": f.metadata["unit"],
                        "source": f.metadata["source"], "doc": f.metadata["doc"]})
        for model in sorted(self.hardware):
            spec = self.hardware[model]
            default = DEFAULT_HARDWARE.get(model)
            for key, unit in SERVER_SPEC_FIELDS.items():
                value = getattr(spec, key)
                changed = default is None or getattr(default, key) != value
                source = "set in the assumptions file" if changed else HARDWARE_SOURCES[model][key]
                out.append({"key": f"hardware.{model}.{key}", "value": value, "unit": unit, "source": source,
                            "doc": ServerSpec.__doc__ or ""})
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "hardware"}
        out["hardware"] = {m: dataclasses.asdict(s) for m, s in sorted(self.hardware.items())}
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(Assumptions)}
# name -> (lower bound, lower bound allowed, upper bound or None)
_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "depreciation_years": (0.0, False, None),
    "pue": (1.0, True, None),
    "electricity_usd_per_kwh": (0.0, True, None),
    "rack_power_kw": (0.0, False, None),
    "colo_usd_per_rack_month": (0.0, True, None),
    "network_usd_per_server_month": (0.0, True, None),
    "staff_fte": (0.0, True, None),
    "staff_usd_per_fte_year": (0.0, True, None),
    "utilisation": (0.0, False, 1.0),
    "peak_factor": (1.0, True, None),
    "input_token_share": (0.0, True, 1.0),
    "small_model_token_share": (0.0, True, 1.0),
    "cloud_small_input_usd_per_million": (0.0, True, None),
    "cloud_small_output_usd_per_million": (0.0, True, None),
    "cloud_large_input_usd_per_million": (0.0, True, None),
    "cloud_large_output_usd_per_million": (0.0, True, None),
}
_SPEC_RANGES: dict[str, tuple[float, bool]] = {
    "server_price_usd": (0.0, True),
    "server_power_kw": (0.0, False),
    "tokens_per_s_small": (0.0, False),
    "tokens_per_s_large": (0.0, False),
}


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def _range_text(lo: float, lo_ok: bool, hi: float | None) -> str:
    if hi is not None:
        return f"a number from {lo:g} to {hi:g}" if lo_ok else f"a number above {lo:g} and at most {hi:g}"
    if lo == 0 and not lo_ok:
        return "a positive number"
    if lo == 0:
        return "a number ≥ 0"
    return f"a number ≥ {lo:g}"


def _check_number(key: str, v: Any, problems: list[str], *, lo: float, lo_ok: bool, hi: float | None) -> float | None:
    if not _is_number(v) or v < lo or (v == lo and not lo_ok) or (hi is not None and v > hi):
        problems.append(f"{key}: must be {_range_text(lo, lo_ok, hi)}, got {v!r}")
        return None
    return float(v)


def _check_positive_int(key: str, v: Any, problems: list[str]) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        problems.append(f"{key}: must be a positive integer, got {v!r}")
        return None
    return v


def _hardware(raw: Any, problems: list[str]) -> dict[str, ServerSpec]:
    out = dict(DEFAULT_HARDWARE)
    if not isinstance(raw, Mapping):
        problems.append(f"hardware: must map GPU models to server settings, got {raw!r}")
        return out
    for model in sorted(raw, key=str):
        where = f"hardware.{model}"
        sub = raw[model]
        if model not in GPU_MODELS:
            problems.append(f"{where}: unknown GPU model (known: {', '.join(sorted(GPU_MODELS))})")
            continue
        if not isinstance(sub, Mapping):
            problems.append(f"{where}: must be a mapping of {', '.join(SERVER_SPEC_FIELDS)}, got {sub!r}")
            continue
        changes: dict[str, Any] = {}
        for key in sorted(sub, key=str):
            v = sub[key]
            if key not in SERVER_SPEC_FIELDS:
                problems.append(f"{where}.{key}: unknown setting (known: {', '.join(SERVER_SPEC_FIELDS)})")
                continue
            value: float | int | None
            if key == "gpus_per_server":
                value = _check_positive_int(f"{where}.{key}", v, problems)
            else:
                lo, lo_ok = _SPEC_RANGES[key]
                value = _check_number(f"{where}.{key}", v, problems, lo=lo, lo_ok=lo_ok, hi=None)
            if value is not None:
                changes[key] = value
        out[model] = dataclasses.replace(out[model], **changes)
    return out


def load_assumptions(mapping: Mapping[str, Any] | None) -> Assumptions:
    """The assumptions in ``mapping`` (the YAML document); keys left out keep their defaults.

    Raises ConfigError naming every bad key (``problems``), each as ``<key>: <what is wrong>, got <value>``;
    an unknown key is an error, so a typo cannot fall back to a default silently.
    """
    if mapping is None:
        return Assumptions()
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"TCO assumptions must be a mapping, got {type(mapping).__name__}")
    problems: list[str] = []
    changes: dict[str, Any] = {}
    for key in sorted(mapping, key=str):
        v = mapping[key]
        if key not in _FIELDS:
            problems.append(f"{key}: unknown assumption (known: {', '.join(_FIELDS)})")
        elif key == "hardware":
            changes[key] = _hardware(v, problems)
        elif key == "tokens_per_day":
            n = _check_positive_int(key, v, problems)
            if n is not None:
                changes[key] = n
        else:
            lo, lo_ok, hi = _RANGES[key]
            f = _check_number(key, v, problems, lo=lo, lo_ok=lo_ok, hi=hi)
            if f is not None:
                changes[key] = f
    a = dataclasses.replace(Assumptions(), **changes)
    if not problems:
        for model in sorted(a.hardware):
            kw = a.hardware[model].server_power_kw
            if kw > a.rack_power_kw:
                problems.append(f"hardware.{model}.server_power_kw: a {kw:g} kW server does not fit a rack of "
                                f"rack_power_kw {a.rack_power_kw:g} kW")
    if problems:
        raise ConfigError("; ".join(problems), problems=problems)
    return a


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


# --- rendering ---------------------------------------------------------------------------------

def usd(v: float | None, digits: int = 0) -> str:
    if v is None or math.isinf(v):
        return "—"
    return f"${v:,.{digits}f}"


def tokens(n: float) -> str:
    """1.5e9 -> '1.5 B'."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g} {suffix}"
    return f"{n:.3g}"


def _pct(f: float) -> str:
    return f"{f * 100:g}%"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render_text(result: TcoResult) -> str:
    """The result as people read it: every number with the formula and inputs behind it."""
    r, a = result, result.assumptions
    lines = [f"TCO of the GPU fleet in {', '.join(r.fleet.dcs)}: {tokens(a.tokens_per_day)} tokens/day, "
             "self-hosted against the cloud API", "", "fleet (GPU workers in NetBox)"]
    rows: list[tuple[str, ...]] = [("dc", "gpu model", "servers", "gpus", "racks")]
    rows += [(e.dc, e.gpu_model, str(e.servers), str(e.gpus), str(r.racks[(e.dc, e.gpu_model)]))
             for e in r.fleet.entries]
    rows.append(("total", "", str(r.fleet.servers), str(r.fleet.gpus), str(sum(r.racks.values()))))
    lines += _table(rows)

    cpm, cpv = r.cost_per_million_usd, r.cost_per_million_at_volume_usd
    util = _pct(a.utilisation)
    staff = f"{a.staff_fte:g} FTE × {usd(a.staff_usd_per_fte_year)} / 12"
    lines += ["", "self-hosted"]
    lines += _table([
        ("capex", usd(r.capex_usd), f"{r.fleet.servers} servers × server price"),
        ("depreciation / month", usd(r.depreciation_usd_per_month), f"capex / ({a.depreciation_years:g} years × 12)"),
        ("power / month", usd(r.power_usd_per_month),
         f"{r.it_power_kw:g} kW × PUE {a.pue:g} × {HOURS_PER_MONTH:g} h × ${a.electricity_usd_per_kwh:g}/kWh"),
        ("colo / month", usd(r.colo_usd_per_month),
         f"{sum(r.racks.values())} racks × {usd(a.colo_usd_per_rack_month)} ({a.rack_power_kw:g} kW racks)"),
        ("network / month", usd(r.network_usd_per_month),
         f"{r.fleet.servers} servers × {usd(a.network_usd_per_server_month)}"),
        ("staff / month", usd(r.staff_usd_per_month), staff),
        ("opex / month", usd(r.opex_usd_per_month), "power + colo + network + staff"),
        ("total / month", usd(r.self_hosted_usd_per_month), "depreciation + opex"),
        ("capacity", f"{tokens(r.capacity_tokens_per_s)} tokens/s",
         f"at {util} utilisation = {tokens(r.capacity_tokens_per_month)} tokens/month"),
        ("cost per 1M tokens", usd(cpm, 3), "total / month over the capacity per month"),
        ("cost per 1M at volume", usd(cpv, 3),
         f"total / month over the {tokens(r.served_tokens_per_month)} tokens/month served"),
    ])
    small = _pct(a.small_model_token_share)
    large = _pct(round(1 - a.small_model_token_share, 10))
    lines += ["", "cloud API, same volume"]
    lines += _table([
        ("price per 1M tokens", usd(r.cloud_usd_per_million, 3),
         f"{small} small (${a.cloud_small_input_usd_per_million:g} in / ${a.cloud_small_output_usd_per_million:g} "
         f"out), {large} large (${a.cloud_large_input_usd_per_million:g} in / "
         f"${a.cloud_large_output_usd_per_million:g} out), {_pct(a.input_token_share)} input"),
        ("cost / month", usd(r.cloud_usd_per_month), f"{tokens(r.volume_tokens_per_month)} tokens/month"),
    ])
    be = r.break_even_months
    lines.append("")
    if be is None:
        lines.append(f"break-even: never — self-hosted opex {usd(r.opex_usd_per_month)}/month is not below the "
                     f"cloud's {usd(r.cloud_usd_per_month)}/month")
    else:
        lines.append(f"break-even: {be:.1f} months — capex {usd(r.capex_usd)} / (cloud "
                     f"{usd(r.cloud_usd_per_month)} − opex {usd(r.opex_usd_per_month)} per month)")

    fleet_gpus = r.fleet.gpus_by_model()
    lines += ["", f"GPUs needed for {tokens(a.tokens_per_day)} tokens/day: peak {tokens(r.peak_tokens_per_s)} "
              f"tokens/s (×{a.peak_factor:g}) at {util} utilisation; the fleet carries "
              f"{r.peak_coverage:.2f}× the peak"]
    rows = [("gpu model", "needed", "servers", "in fleet", "capex", "per 1M at volume", "break-even")]
    sized = {s.gpu_model: s for s in r.right_sized}
    for model, n in r.gpus_needed.items():
        s = sized.get(model)
        rows.append((model, str(n), str(s.servers) if s else "", str(fleet_gpus.get(model, 0)),
                     usd(s.capex_usd) if s else "", usd(s.cost_per_million_at_volume_usd, 3) if s else "",
                     (f"{s.break_even_months:.1f} months" if s.break_even_months is not None else "never")
                     if s else ""))
    lines += _table(rows)
    if r.sensitivity:
        lines += ["", "sensitivity of cost per 1M tokens (each assumption alone moved)"]
        rows = [("assumption", "low", "high", "cost low", "cost high", "swing")]
        rows += [(s.key, f"×{s.low_factor:.3g}", f"×{s.high_factor:.3g}", usd(s.cost_per_million_low, 3),
                  usd(s.cost_per_million_high, 3), f"{s.swing_percent:.0f}%") for s in r.sensitivity]
        lines += _table(rows)
    if r.warnings:
        lines += ["", "warnings"]
        lines += [f"  - {w}" for w in r.warnings]
    lines += ["", "every assumption with its unit and source: pyctl tco --json (key assumptions); defaults in "
              "inventories/tco-assumptions.yml"]
    return "\n".join(lines)


def _nice_step(span: float, ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _money_label(v: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"${v / size:g}{suffix}"
    return f"${v:g}"


def render_svg(cumulative: Sequence[tuple[int, float, float]], title: str = "Cumulative cost") -> str:
    """A self-contained SVG line chart of cumulative cost over time: self-hosted against the cloud API,
    with axes, their labels, a legend and (when they cross) the break-even month."""
    if not cumulative:
        raise ValueError("nothing to plot: no months")
    width, height = 760, 420
    left, right, top, bottom = 90, 30, 50, 60
    pw, ph = width - left - right, height - top - bottom
    last = max(m for m, _, _ in cumulative) or 1
    ymax = max(max(s, c) for _, s, c in cumulative) or 1.0
    ystep = _nice_step(ymax)
    ytop = math.ceil(ymax / ystep) * ystep
    xstep = 12 if last > 24 else 6 if last > 12 else 1
    if last > 120:
        xstep = int(_nice_step(last / 12)) * 12 or 12

    def x(m: float) -> float:
        return left + pw * m / last

    def y(v: float) -> float:
        return top + ph * (1 - v / ytop)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>']
    v = 0.0
    while v <= ytop + 1e-9:
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(_money_label(v))}</text>')
        v += ystep
    for m in range(0, last + 1, xstep):
        out.append(f'<line x1="{x(m):.1f}" y1="{top + ph}" x2="{x(m):.1f}" y2="{top + ph + 5}" stroke="black"/>')
        out.append(f'<text x="{x(m):.1f}" y="{top + ph + 20}" text-anchor="middle">{m}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 15}" text-anchor="middle">months</text>')
    out.append(f'<text x="20" y="{top + ph / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 20 {top + ph / 2:.1f})">cumulative cost (USD)</text>')
    crossing = next((m for m, s, c in cumulative if m > 0 and c >= s), None)
    if crossing is not None:
        out.append(f'<line id="break-even" x1="{x(crossing):.1f}" y1="{top}" x2="{x(crossing):.1f}" '
                   f'y2="{top + ph}" stroke="#555" stroke-dasharray="4 4"/>')
        out.append(f'<text x="{x(crossing) + 4:.1f}" y="{top + 14}" fill="#555">break-even: month {crossing}</text>')
    for sid, idx, colour, label in (("self-hosted", 1, "#1f77b4", "self-hosted"),
                                    ("cloud", 2, "#d62728", "cloud API")):
        points = " ".join(f"{x(row[0]):.1f},{y(row[idx]):.1f}" for row in cumulative)
        out.append(f'<polyline id="{sid}" fill="none" stroke="{colour}" stroke-width="2.5" points="{points}">'
                   f"<title>{escape(label)}</title></polyline>")
    lx, ly = left + 15, top + 12
    out.append(f'<g id="legend"><rect x="{lx - 8}" y="{ly - 14}" width="150" height="48" fill="white" '
               f'stroke="#ccc"/>')
    for i, (colour, label) in enumerate((("#1f77b4", "self-hosted"), ("#d62728", "cloud API"))):
        yy = ly + i * 20
        out.append(f'<line x1="{lx}" y1="{yy}" x2="{lx + 24}" y2="{yy}" stroke="{colour}" stroke-width="2.5"/>')
        out.append(f'<text x="{lx + 32}" y="{yy + 4}">{escape(label)}</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
