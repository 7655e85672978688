"""The TCO model: hand-computed cases (the arithmetic is in the comments), break-even never, sensitivity,
GPUs needed at the peak, exact errors for bad assumptions, the SVG chart, and the documented defaults."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyctl.errors import ConfigError, ExitCode
from pyctl.inventory import Cluster, Gpu, Host, Inventory
from pyctl.tco import (
    ASSUMPTION,
    DEFAULT_HARDWARE,
    SECONDS_PER_MONTH,
    Assumptions,
    Fleet,
    FleetEntry,
    compute_tco,
    cumulative_costs,
    fleet_from_inventories,
    gpus_needed,
    load_assumptions,
    render_svg,
    render_text,
    scaled,
    sensitivity,
)

REPO = Path(__file__).resolve().parents[2]
SVG_NS = {"s": "http://www.w3.org/2000/svg"}

# Round numbers, so that every result can be worked out by hand.
HAND: dict[str, Any] = {
    "hardware": {"H100-80GB": {"gpus_per_server": 8, "server_price_usd": 240_000, "server_power_kw": 10,
                               "tokens_per_s_small": 1000, "tokens_per_s_large": 250}},
    "depreciation_years": 4,  # 48 months
    "pue": 1.5,
    "electricity_usd_per_kwh": 0.1,
    "rack_power_kw": 20,  # two 10 kW servers per rack
    "colo_usd_per_rack_month": 1000,
    "network_usd_per_server_month": 100,
    "staff_fte": 1,
    "staff_usd_per_fte_year": 120_000,  # 10,000 per month
    "utilisation": 0.5,
    "peak_factor": 2,
    "tokens_per_day": 864_000_000,  # 10,000 tokens/s on average
    "input_token_share": 0.5,
    "small_model_token_share": 0.5,
    "cloud_small_input_usd_per_million": 1,
    "cloud_small_output_usd_per_million": 3,  # small: 0.5 × 1 + 0.5 × 3 = 2 $/M
    "cloud_large_input_usd_per_million": 5,
    "cloud_large_output_usd_per_million": 15,  # large: 0.5 × 5 + 0.5 × 15 = 10 $/M
}
FLEET = Fleet((FleetEntry("dc1", "H100-80GB", 3, 24),))  # 3 HGX servers, 24 GPUs

# The hand-worked numbers of HAND on FLEET:
CAPEX = 3 * 240_000  # 720,000
DEPRECIATION = CAPEX / 48  # 15,000
POWER = 3 * 10 * 1.5 * 730.5 * 0.1  # 45 kW at the meter × 730.5 h = 32,872.5 kWh × $0.1 = 3,287.25
COLO = 2 * 1000  # ⌈3 servers / 2 per rack⌉ = 2 racks
NETWORK = 3 * 100
STAFF = 1 * 120_000 / 12  # 10,000
OPEX = POWER + COLO + NETWORK + STAFF  # 15,587.25
MONTHLY = DEPRECIATION + OPEX  # 30,587.25
SECS_PER_TOKEN = 0.5 / 1000 + 0.5 / 250  # 0.0025 GPU-s per token: 400 tokens/s per GPU
CAPACITY = 24 * 400 * 0.5  # 4,800 tokens/s at 50% utilisation
CAPACITY_MONTH = CAPACITY * 30.4375 * 86_400  # 12,623,040,000 tokens per month
CLOUD_PER_MILLION = 0.5 * 2 + 0.5 * 10  # 6 $/M
VOLUME_MONTH = 864_000_000 * 30.4375  # 26,298,000,000 tokens per month
CLOUD_MONTH = VOLUME_MONTH / 1e6 * CLOUD_PER_MILLION  # 157,788
BREAK_EVEN = CAPEX / (CLOUD_MONTH - OPEX)  # 720,000 / 142,200.75 = 5.06 months


@pytest.fixture
def hand() -> Assumptions:
    return load_assumptions(HAND)


def test_hand_computed_case(hand: Assumptions) -> None:
    r = compute_tco(FLEET, hand)
    assert r.capex_usd == CAPEX == 720_000
    assert r.depreciation_usd_per_month == DEPRECIATION == 15_000
    assert r.power_usd_per_month == pytest.approx(POWER)
    assert r.power_usd_per_month == pytest.approx(3_287.25)
    assert r.racks == {("dc1", "H100-80GB"): 2}
    assert r.colo_usd_per_month == COLO
    assert r.network_usd_per_month == NETWORK
    assert r.staff_usd_per_month == pytest.approx(STAFF)
    assert r.opex_usd_per_month == pytest.approx(15_587.25)
    assert r.self_hosted_usd_per_month == pytest.approx(30_587.25)
    assert r.gpu_seconds_per_token == {"H100-80GB": pytest.approx(0.0025)}
    assert r.capacity_tokens_per_s == pytest.approx(4_800)
    assert r.capacity_tokens_per_month == pytest.approx(12_623_040_000)
    # 30,587.25 / 12,623.04 M tokens = $2.4231 per million
    assert r.cost_per_million_usd == pytest.approx(MONTHLY / (CAPACITY_MONTH / 1e6))
    assert r.cost_per_million_usd == pytest.approx(2.42313, abs=1e-5)
    assert r.cloud_usd_per_million == pytest.approx(6.0)
    assert r.volume_tokens_per_month == pytest.approx(26_298_000_000)
    assert r.cloud_usd_per_month == pytest.approx(157_788)
    assert r.break_even_months == pytest.approx(BREAK_EVEN)
    assert r.break_even_months == pytest.approx(5.0632, abs=1e-4)
    # The fleet (4,800 tokens/s) is below the volume (10,000 on average): it serves what it can, at capacity cost.
    assert r.served_tokens_per_month == pytest.approx(CAPACITY_MONTH)
    assert r.cost_per_million_at_volume_usd == pytest.approx(r.cost_per_million_usd)
    # Peak 20,000 tokens/s; 4,800 / 20,000 = 24%.
    assert r.peak_coverage == pytest.approx(0.24)
    assert r.warnings == ("the fleet carries 24% of the peak (4,800 of 20,000 tokens/s): the cloud comparison and "
                          "the break-even assume it serves the whole volume",)


def test_cost_at_volume_when_the_fleet_is_larger_than_the_volume(hand: Assumptions) -> None:
    # 86,400,000 tokens/day = 1,000 tokens/s; 2,629,800,000 tokens per month served (below the 12.6 B capacity).
    r = compute_tco(FLEET, dataclasses.replace(hand, tokens_per_day=86_400_000))
    assert r.served_tokens_per_month == pytest.approx(2_629_800_000)
    assert r.cost_per_million_at_volume_usd == pytest.approx(30_587.25 / 2_629.8)  # $11.63 per million
    assert r.cost_per_million_usd == pytest.approx(2.42313, abs=1e-5)  # capacity cost does not change
    assert r.warnings == ()


def test_break_even_never_when_the_cloud_costs_less_than_the_opex(hand: Assumptions) -> None:
    # 8,640,000 tokens/day: 262.98 M tokens per month × $6 = $1,577.88 of cloud, below the $15,587.25 opex.
    r = compute_tco(FLEET, dataclasses.replace(hand, tokens_per_day=8_640_000))
    assert r.cloud_usd_per_month == pytest.approx(1_577.88)
    assert r.break_even_months is None
    assert r.to_dict()["breaks_even"] is False
    assert "break-even: never — self-hosted opex $15,587/month is not below the cloud's $1,578/month" in render_text(r)
    # Equal costs never break even either (no saving to pay the capex back).
    from pyctl.tco.model import _break_even

    assert _break_even(100.0, 50.0, 50.0) is None
    assert _break_even(0.0, 60.0, 50.0) == 0.0


def test_gpus_needed_follow_the_peak_and_the_utilisation(hand: Assumptions) -> None:
    spec = hand.hardware["H100-80GB"]
    # 10,000 tokens/s × peak 2 × 0.0025 GPU-s per token / 0.5 utilisation = 100 GPUs.
    assert gpus_needed(hand, spec) == 100
    assert gpus_needed(dataclasses.replace(hand, peak_factor=1.0), spec) == 50
    assert gpus_needed(dataclasses.replace(hand, peak_factor=3.0), spec) == 150
    assert gpus_needed(dataclasses.replace(hand, utilisation=1.0), spec) == 50
    # 10,001 tokens/s: 100.01 GPUs → 101 (rounded up, never down).
    assert gpus_needed(dataclasses.replace(hand, tokens_per_day=864_086_400), spec) == 101
    r = compute_tco(FLEET, hand)
    assert r.gpus_needed == {"H100-80GB": 100}
    # Right-sized: 100 GPUs → ⌈100 / 8⌉ = 13 servers; capex 13 × 240,000 = 3,120,000.
    (sized,) = r.right_sized
    assert (sized.gpu_model, sized.gpus, sized.servers, sized.capex_usd) == ("H100-80GB", 100, 13, 3_120_000)
    # Opex: power 13 × 10 × 1.5 × 730.5 × 0.1 = 14,244.75; 7 racks × 1,000; 13 × 100; staff 10,000 = 32,544.75.
    assert sized.opex_usd_per_month == pytest.approx(32_544.75)
    assert sized.break_even_months == pytest.approx(3_120_000 / (157_788 - 32_544.75))


def test_sensitivity_ranks_the_three_assumptions_that_move_cost_most(hand: Assumptions) -> None:
    # Base $2.4231/M. Utilisation ×0.8/×1.2 scales capacity: 2.4231 / 0.8 − 2.4231 / 1.2 = 1.0096 (42%).
    # Large tokens/s 200/300: 0.0030 / 0.0021667 GPU-s per token → 2.9078 − 2.1001 = 0.8077 (33%).
    # Small-model share 0.4/0.6: 0.0028 / 0.0022 GPU-s per token → ×1.12 / ×0.88 = 0.5815 (24%).
    # Next: depreciation years 38.4/57.6 months: 18,750 − 12,500 = 6,250 / 12,623.04 = 0.4951 (20%).
    top = sensitivity(FLEET, hand)
    assert [s.key for s in top] == ["utilisation", "hardware.tokens_per_s_large", "small_model_token_share"]
    u = top[0]
    assert (u.low_factor, u.high_factor) == (0.8, 1.2)
    assert u.cost_per_million_low == pytest.approx(MONTHLY / (CAPACITY_MONTH * 0.8 / 1e6))
    assert u.cost_per_million_high == pytest.approx(MONTHLY / (CAPACITY_MONTH * 1.2 / 1e6))
    assert u.swing_usd == pytest.approx(1.0096, abs=1e-4)
    assert u.swing_percent == pytest.approx(100 * (1 / 0.8 - 1 / 1.2))
    assert top[1].swing_usd == pytest.approx(0.8077, abs=1e-4)
    assert top[2].swing_usd == pytest.approx(0.5815, abs=1e-4)
    assert compute_tco(FLEET, hand).sensitivity == tuple(top)


def test_sensitivity_on_chosen_fields_breaks_ties_by_name(hand: Assumptions) -> None:
    # Staff ±20%: ±2,000 → 4,000 / 12,623.04 = 0.3169. PUE and electricity ±20% both move power by
    # ±657.45: 1,314.9 / 12,623.04 = 0.1042 each; the tie goes to the name first in order.
    top = sensitivity(FLEET, hand, ["pue", "staff_fte", "electricity_usd_per_kwh"])
    assert [s.key for s in top] == ["staff_fte", "electricity_usd_per_kwh", "pue"]
    assert top[0].swing_usd == pytest.approx(4_000 / 12_623.04)
    assert top[1].swing_usd == pytest.approx(1_314.9 / 12_623.04)
    # Cloud prices do not move the self-hosted cost.
    (cloud,) = sensitivity(FLEET, hand, ["cloud_large_output_usd_per_million"], top=1)
    assert cloud.swing_usd == 0


def test_sensitivity_keeps_fractions_in_range(hand: Assumptions) -> None:
    a, applied = scaled(dataclasses.replace(hand, utilisation=0.9), "utilisation", 1.2)
    assert a.utilisation == 1.0
    assert applied == pytest.approx(1 / 0.9)
    a, applied = scaled(hand, "pue", 0.5)  # 0.75 would be below 1
    assert (a.pue, applied) == (1.0, pytest.approx(1 / 1.5))
    a, _ = scaled(hand, "hardware.server_price_usd", 1.2)
    assert all(a.hardware[m].server_price_usd == pytest.approx(hand.hardware[m].server_price_usd * 1.2)
               for m in hand.hardware)
    with pytest.raises(ValueError, match="unknown assumption 'nope'"):
        scaled(hand, "nope", 1.2)
    with pytest.raises(ValueError, match="delta must be between 0 and 1"):
        sensitivity(FLEET, hand, delta=1.5)


def test_cumulative_costs(hand: Assumptions) -> None:
    r = compute_tco(FLEET, hand)
    rows = cumulative_costs(r, 12)
    assert len(rows) == 13
    assert rows[0] == (0, 720_000, 0)
    month, own, cloud = rows[12]
    assert month == 12
    assert own == pytest.approx(720_000 + 12 * 15_587.25)  # 907,047
    assert cloud == pytest.approx(12 * 157_788)  # 1,893,456
    with pytest.raises(ValueError, match="months must be a positive integer"):
        cumulative_costs(r, 0)


def test_svg_is_well_formed_with_both_series_axes_and_legend(hand: Assumptions) -> None:
    r = compute_tco(FLEET, hand)
    svg = render_svg(cumulative_costs(r, 24), title="dc1 & co <test>")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    lines = {p.get("id"): p.get("points", "").split() for p in root.iterfind(".//s:polyline", SVG_NS)}
    assert set(lines) == {"self-hosted", "cloud"}
    assert len(lines["self-hosted"]) == len(lines["cloud"]) == 25
    texts = [t.text for t in root.iterfind(".//s:text", SVG_NS)]
    assert {"months", "cumulative cost (USD)", "self-hosted", "cloud API", "dc1 & co <test>"} <= set(texts)
    legend = root.find(".//s:g[@id='legend']", SVG_NS)
    assert legend is not None
    assert [t.text for t in legend.iterfind("s:text", SVG_NS)] == ["self-hosted", "cloud API"]
    # The cloud line starts at 0 (bottom), self-hosted at the capex (higher up: smaller y).
    y_own0 = float(lines["self-hosted"][0].split(",")[1])
    y_cloud0 = float(lines["cloud"][0].split(",")[1])
    assert y_own0 < y_cloud0
    # Break-even at 5.06 months: the first whole month the cloud has cost more is month 6.
    assert "break-even: month 6" in texts
    assert root.find(".//s:line[@id='break-even']", SVG_NS) is not None


def test_svg_without_break_even_has_no_marker(hand: Assumptions) -> None:
    r = compute_tco(FLEET, dataclasses.replace(hand, tokens_per_day=8_640_000))
    root = ET.fromstring(render_svg(cumulative_costs(r, 48)))
    assert root.find(".//s:line[@id='break-even']", SVG_NS) is None
    with pytest.raises(ValueError, match="nothing to plot"):
        render_svg([])


def test_to_dict_is_strict_json_and_names_every_source(hand: Assumptions) -> None:
    doc = json.loads(json.dumps(compute_tco(FLEET, hand).to_dict(), allow_nan=False))
    assert doc["capex_usd"] == 720_000
    assert doc["monthly_usd"]["opex"] == pytest.approx(15_587.25)
    assert doc["fleet"] == [{"dc": "dc1", "gpu_model": "H100-80GB", "servers": 3, "gpus": 24, "racks": 2}]
    assert doc["break_even_months"] == pytest.approx(BREAK_EVEN)
    assert [s["key"] for s in doc["sensitivity"]] == ["utilisation", "hardware.tokens_per_s_large",
                                                      "small_model_token_share"]
    by_key = {a["key"]: a for a in doc["assumptions"]}
    assert by_key["pue"]["unit"].startswith("ratio")
    assert by_key["hardware.H100-80GB.server_price_usd"]["source"] == "set in the assumptions file"
    assert by_key["hardware.H200-141GB.server_power_kw"]["source"].startswith("NVIDIA DGX H100/H200 User Guide")


def test_every_default_has_a_unit_and_a_source() -> None:
    rows = Assumptions().describe()
    assert len(rows) == 17 + 4 * 5
    for row in rows:
        assert row["unit"], row["key"]
        assert row["source"], row["key"]
    sources = {row["key"]: row["source"] for row in rows}
    # Public sources where one exists; the rest say they are assumptions.
    assert sources["pue"].startswith("Uptime Institute")
    assert sources["electricity_usd_per_kwh"].startswith("U.S. EIA")
    assert sources["cloud_large_output_usd_per_million"].startswith("OpenAI API pricing")
    assert sources["hardware.A100-80GB.server_power_kw"].startswith("NVIDIA DGX A100")
    assert sources["staff_fte"] == ASSUMPTION
    assert sources["hardware.H100-80GB.server_price_usd"].startswith(ASSUMPTION)


def test_the_documented_yaml_is_the_defaults_and_comments_every_key() -> None:
    path = REPO / "inventories" / "tco-assumptions.yml"
    assert load_assumptions(yaml.safe_load(path.read_text())) == Assumptions()
    keys = 0
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+):\s*(\S.*)?$", line)
        if not m or line.lstrip().startswith("#"):
            continue
        keys += 1
        value = m.group(2) or ""
        if m.group(1) in ("hardware", *DEFAULT_HARDWARE):  # mappings: documented in the comment above them
            continue
        assert "  # " in value or value.startswith("#"), f"no unit/source comment: {line}"
    assert keys == 17 + 1 + 4 + 4 * 5


def test_partial_hardware_keeps_the_other_defaults() -> None:
    a = load_assumptions({"hardware": {"H200-141GB": {"server_price_usd": 280_000}}})
    assert a.hardware["H200-141GB"] == dataclasses.replace(DEFAULT_HARDWARE["H200-141GB"], server_price_usd=280_000)
    assert a.hardware["H100-80GB"] == DEFAULT_HARDWARE["H100-80GB"]
    assert load_assumptions(None) == load_assumptions({}) == Assumptions()
    assert load_assumptions({"tokens_per_day": 5_000_000_000, "pue": 1}).pue == 1.0


KNOWN = ("depreciation_years, pue, electricity_usd_per_kwh, rack_power_kw, colo_usd_per_rack_month, "
         "network_usd_per_server_month, staff_fte, staff_usd_per_fte_year, utilisation, peak_factor, tokens_per_day, "
         "input_token_share, small_model_token_share, cloud_small_input_usd_per_million, "
         "cloud_small_output_usd_per_million, cloud_large_input_usd_per_million, cloud_large_output_usd_per_million, "
         "hardware")
SPEC_KEYS = "gpus_per_server, server_price_usd, server_power_kw, tokens_per_s_small, tokens_per_s_large"


@pytest.mark.parametrize(("raw", "problem"), [
    ({"utilisaton": 0.5}, f"utilisaton: unknown assumption (known: {KNOWN})"),
    ({"utilisation": 1.5}, "utilisation: must be a number above 0 and at most 1, got 1.5"),
    ({"utilisation": 0}, "utilisation: must be a number above 0 and at most 1, got 0"),
    ({"input_token_share": -0.1}, "input_token_share: must be a number from 0 to 1, got -0.1"),
    ({"pue": 0.9}, "pue: must be a number ≥ 1, got 0.9"),
    ({"peak_factor": "high"}, "peak_factor: must be a number ≥ 1, got 'high'"),
    ({"electricity_usd_per_kwh": -0.05}, "electricity_usd_per_kwh: must be a number ≥ 0, got -0.05"),
    ({"depreciation_years": 0}, "depreciation_years: must be a positive number, got 0"),
    ({"staff_fte": True}, "staff_fte: must be a number ≥ 0, got True"),
    ({"colo_usd_per_rack_month": float("nan")}, "colo_usd_per_rack_month: must be a number ≥ 0, got nan"),
    ({"tokens_per_day": 1.5e9}, "tokens_per_day: must be a positive integer, got 1500000000.0"),
    ({"tokens_per_day": 0}, "tokens_per_day: must be a positive integer, got 0"),
    ({"hardware": []}, "hardware: must map GPU models to server settings, got []"),
    ({"hardware": {"B200": {}}}, "hardware.B200: unknown GPU model (known: A100-40GB, A100-80GB, H100-80GB, "
                                 "H200-141GB)"),
    ({"hardware": {"H100-80GB": 5}}, f"hardware.H100-80GB: must be a mapping of {SPEC_KEYS}, got 5"),
    ({"hardware": {"H100-80GB": {"price": 1}}}, f"hardware.H100-80GB.price: unknown setting (known: {SPEC_KEYS})"),
    ({"hardware": {"H100-80GB": {"gpus_per_server": 0}}},
     "hardware.H100-80GB.gpus_per_server: must be a positive integer, got 0"),
    ({"hardware": {"A100-40GB": {"tokens_per_s_large": -5}}},
     "hardware.A100-40GB.tokens_per_s_large: must be a positive number, got -5"),
    ({"hardware": {"A100-40GB": {"server_power_kw": 30}}},
     "hardware.A100-40GB.server_power_kw: a 30 kW server does not fit a rack of rack_power_kw 25 kW"),
])
def test_bad_assumptions_are_named_exactly(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_assumptions(raw)
    assert exc.value.problems == [problem]
    assert exc.value.message == problem
    assert exc.value.exit_code == ExitCode.BAD_CONFIG


def test_every_bad_assumption_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as exc:
        load_assumptions({"pue": 0, "utilisation": 2, "hardware": {"H100-80GB": {"server_price_usd": -1}}})
    assert exc.value.problems == [
        "hardware.H100-80GB.server_price_usd: must be a number ≥ 0, got -1",
        "pue: must be a number ≥ 1, got 0",
        "utilisation: must be a number above 0 and at most 1, got 2",
    ]
    assert exc.value.message == "; ".join(exc.value.problems)
    with pytest.raises(ConfigError, match=r"^TCO assumptions must be a mapping, got list$"):
        load_assumptions([1])  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as exc:
        load_assumptions({"rack_power_kw": 8})
    assert exc.value.problems == [
        "hardware.H100-80GB.server_power_kw: a 10.2 kW server does not fit a rack of rack_power_kw 8 kW",
        "hardware.H200-141GB.server_power_kw: a 10.2 kW server does not fit a rack of rack_power_kw 8 kW",
    ]


# --- the fleet from hand-made inventories ------------------------------------------------------

def _host(name: str, site: str, role: str, gpu: Gpu | None, rack: str = "r1") -> Host:
    return Host(name=name, site=site, rack=rack, role=role, cluster=f"{site}-c", address="10.0.0.1",
                address_cidr="10.0.0.1/24", underlay_nic="ens1f0", underlay_mtu=9000, platform="debian-12",
                status="active", device_type="hgx", gpu=gpu)


def _inventory(site: str, workers: list[tuple[str, int]]) -> Inventory:
    hosts = tuple(_host(f"{site}-gpu{i}", site, "gpu-worker", Gpu(model, count, model != "A100-40GB", None))
                  for i, (model, count) in enumerate(workers))
    mgmt = tuple(_host(f"{site}-etcd{i}", site, "etcd", None) for i in range(3))
    return Inventory(site=site, clusters=(Cluster(f"{site}-c", "workload", hosts), Cluster(f"{site}-m", "management",
                                                                                             mgmt)))


def test_fleet_counts_gpu_workers_per_dc_and_model() -> None:
    fleet = fleet_from_inventories([
        _inventory("dc2", [("H200-141GB", 8)] * 3 + [("A100-40GB", 4)] * 2),
        _inventory("dc1", [("H100-80GB", 8)] * 2),
    ])
    assert fleet.entries == (
        FleetEntry("dc1", "H100-80GB", 2, 16),
        FleetEntry("dc2", "A100-40GB", 2, 8),
        FleetEntry("dc2", "H200-141GB", 3, 24),
    )
    assert (fleet.dcs, fleet.servers, fleet.gpus) == (("dc1", "dc2"), 7, 48)
    assert fleet.gpus_by_model() == {"A100-40GB": 8, "H100-80GB": 16, "H200-141GB": 24}


def test_defaults_on_a_mixed_fleet() -> None:
    # dc1: 2 × HGX H100; dc2: 1 × A100-40GB PCIe server (4 GPUs) and 1 with 2 GPUs (the model assumes 4).
    fleet = fleet_from_inventories([_inventory("dc1", [("H100-80GB", 8)] * 2),
                                    _inventory("dc2", [("A100-40GB", 4), ("A100-40GB", 2)])])
    r = compute_tco(fleet, Assumptions())
    # capex 2 × 300,000 + 2 × 65,000 = 730,000; IT power 2 × 10.2 + 2 × 2.0 = 24.4 kW.
    assert r.capex_usd == 730_000
    assert r.it_power_kw == pytest.approx(24.4)
    # Racks of 25 kW: 2 HGX H100 (10.2 kW) per rack → 1; 12 A100 PCIe servers (2 kW) per rack → 1.
    assert r.racks == {("dc1", "H100-80GB"): 1, ("dc2", "A100-40GB"): 1}
    assert r.power_usd_per_month == pytest.approx(24.4 * 1.58 * 730.5 * 0.0806)
    # Capacity: 16 GPUs / (0.7/3000 + 0.3/800) + 6 GPUs / (0.7/850 + 0.3/200), × 0.6.
    expected = (16 / (0.7 / 3000 + 0.3 / 800) + 6 / (0.7 / 850 + 0.3 / 200)) * 0.6
    assert r.capacity_tokens_per_s == pytest.approx(expected)
    # Cloud: 0.7 × (0.75 × 0.15 + 0.25 × 0.60) + 0.3 × (0.75 × 2.50 + 0.25 × 10.00) = 0.18375 + 1.3125 = 1.49625.
    assert r.cloud_usd_per_million == pytest.approx(1.49625)
    assert r.warnings[0] == ("dc2: 2 A100-40GB servers hold 6 GPUs, not 4 each as the server price and power assume")
    assert set(r.gpus_needed) == {"A100-40GB", "H100-80GB"}
    assert math.isfinite(r.cost_per_million_usd or math.inf)
    text = render_text(r)
    for part in ("dc1    H100-80GB  2        16    1", "capex                  $730,000",
                 "sensitivity of cost per 1M tokens", "warnings"):
        assert part in text


def test_an_empty_fleet_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no GPU workers in the fleet: nothing to cost"):
        compute_tco(Fleet(()), Assumptions())
    assert pytest.approx(CAPACITY * SECONDS_PER_MONTH) == CAPACITY_MONTH
