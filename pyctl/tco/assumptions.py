"""TCO assumptions: every price, power figure and throughput the model uses, each with its unit and source;
:func:`load_assumptions` checks a user's YAML of them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyctl.errors import ConfigError
from pyctl.gpu import GPU_MODELS

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
