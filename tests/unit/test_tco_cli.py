"""`pyctl tco` through run(): a fake load_inventory of hand-made inventories, no NetBox."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pyctl.cli.tco import add_parser, handler, run
from pyctl.errors import InventoryError
from pyctl.inventory import Cluster, Gpu, Host, Inventory

REPO = Path(__file__).resolve().parents[2]


def _host(name: str, site: str, role: str, gpu: Gpu | None) -> Host:
    return Host(name=name, site=site, rack="r1", role=role, cluster=f"{site}-c", address="10.0.0.1",
                address_cidr="10.0.0.1/24", underlay_nic="ens1f0", underlay_mtu=9000, platform="debian-12",
                status="active", device_type="hgx", gpu=gpu)


def _inventory(site: str, model: str | None, servers: int, gpus: int = 8) -> Inventory:
    workers = tuple(_host(f"{site}-gpu{i}", site, "gpu-worker", Gpu(model, gpus, True, None))
                    for i in range(servers)) if model else ()
    mgmt = tuple(_host(f"{site}-cp{i}", site, "control-plane", None) for i in range(3))
    clusters = ((Cluster(f"{site}-c", "workload", workers),) if workers else ()) + (
        Cluster(f"{site}-m", "management", mgmt),)
    return Inventory(site=site, clusters=clusters)


# The demo data centers, as `pyctl dev netbox seed` makes them (GPU workers only matter here).
SITES = {
    "dc1": _inventory("dc1", "H100-80GB", 8),
    "dc2": _inventory("dc2", "H200-141GB", 8),
    "dc3": _inventory("dc3", "H100-80GB", 6),
    "lab": _inventory("lab", None, 0),
}


class FakeNetBox:
    def __init__(self, sites: dict[str, Inventory] | None = None, error: Exception | None = None) -> None:
        self.sites = SITES if sites is None else sites
        self.error = error
        self.read: list[str] = []

    def __call__(self, dc: str) -> Inventory:
        self.read.append(dc)
        if self.error:
            raise self.error
        return self.sites[dc]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pyctl")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return parser.parse_args(["tco", *argv])


@pytest.fixture(autouse=True)
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("PYCTL_RUNS_DIR", str(runs))
    return runs


def test_defaults_read_dc1_to_dc3_print_a_table_and_write_the_chart_into_a_run_dir(
        runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    netbox = FakeNetBox()
    assert run(parse(), netbox) == 0
    assert netbox.read == ["dc1", "dc2", "dc3"]
    out, err = capsys.readouterr()
    assert out.startswith("TCO of the GPU fleet in dc1, dc2, dc3: 1.5 B tokens/day")
    # 14 × 300,000 (H100) + 8 × 320,000 (H200) = 6,760,000
    assert "capex                  $6,760,000" in out
    assert "reading dc1 from NetBox" in err
    assert "176 GPUs in 22 servers of dc1, dc2, dc3" in err
    (run_dir,) = (runs_dir / "all").iterdir()
    assert run_dir.name.endswith("-tco")
    svg = ET.parse(run_dir / "cumulative.svg").getroot()
    ids = {p.get("id") for p in svg.iter("{http://www.w3.org/2000/svg}polyline")}
    assert ids == {"self-hosted", "cloud"}
    doc = json.loads((run_dir / "tco.json").read_text())
    assert doc["capex_usd"] == 6_760_000
    assert doc["months"] == 48  # the depreciation period
    assert doc["run_dir"] == str(run_dir)


def test_json_is_one_document_on_stdout(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("dc2", "--json", "--tokens-per-day", "3e9", "--months", "24"), FakeNetBox()) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["ok"] is True
    assert doc["dcs"] == ["dc2"]
    assert doc["volume"]["tokens_per_day"] == 3_000_000_000
    assert doc["months"] == 24
    assert Path(doc["svg"]).parent.parent == runs_dir / "dc2"
    assert len(doc["sensitivity"]) == 3
    assert {"key", "value", "unit", "source", "doc"} <= set(doc["assumptions"][0])
    assert "reading dc2 from NetBox" in err


def test_svg_flag_writes_there_and_makes_no_run_dir(tmp_path: Path, runs_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "cost.svg"
    assert run(parse("dc1", "dc3", "--svg", str(target), "--json"), FakeNetBox()) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["svg"] == str(target)
    assert "run_dir" not in doc
    ET.parse(target)
    assert not runs_dir.exists()


def test_the_documented_assumptions_file_gives_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("dc1", "--json", "--assumptions", str(REPO / "inventories" / "tco-assumptions.yml")),
               FakeNetBox()) == 0
    with_file = json.loads(capsys.readouterr().out)
    assert run(parse("dc1", "--json"), FakeNetBox()) == 0
    without = json.loads(capsys.readouterr().out)
    assert with_file["cost_per_million_tokens_usd"] == without["cost_per_million_tokens_usd"]


def test_assumptions_file_overrides_and_the_flag_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tco.yml"
    f.write_text("tokens_per_day: 1000000000\nhardware:\n  H100-80GB:\n    server_price_usd: 250000\n")
    assert run(parse("dc1", "--json", "--assumptions", str(f)), FakeNetBox()) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["capex_usd"] == 8 * 250_000
    assert doc["volume"]["tokens_per_day"] == 1_000_000_000
    assert run(parse("dc1", "--json", "--assumptions", str(f), "--tokens-per-day", "2_000_000_000"),
               FakeNetBox()) == 0
    assert json.loads(capsys.readouterr().out)["volume"]["tokens_per_day"] == 2_000_000_000


def test_bad_assumptions_exit_3_before_netbox_is_read(tmp_path: Path, runs_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tco.yml"
    f.write_text("utilisation: 1.5\npue: 0.5\n")
    netbox = FakeNetBox()
    assert run(parse("--assumptions", str(f)), netbox) == 3
    assert netbox.read == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"pyctl: error: bad TCO assumptions in {f}\n"
                   "  - pue: must be a number ≥ 1, got 0.5\n"
                   "  - utilisation: must be a number above 0 and at most 1, got 1.5\n")
    assert not runs_dir.exists()


def test_bad_assumptions_with_json_print_the_error_document(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tco.yml"
    f.write_text("electricity: 0.1\n")
    assert run(parse("--json", "--assumptions", str(f)), FakeNetBox()) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["exit_code"] == 3
    assert doc["error"] == f"bad TCO assumptions in {f}"
    assert doc["problems"][0].startswith("electricity: unknown assumption (known: depreciation_years, pue,")


@pytest.mark.parametrize(("content", "message"), [
    (None, "assumptions file not found: {f}"),
    ("- a\n- b\n", "{f}: expected a mapping of assumptions at the top level"),
    ("pue: [1\n", "{f}: not valid YAML"),
])
def test_unreadable_assumptions_files(tmp_path: Path, content: str | None, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tco.yml"
    if content is not None:
        f.write_text(content)
    assert run(parse("--assumptions", str(f)), FakeNetBox()) == 3
    assert capsys.readouterr().err.startswith("pyctl: error: " + message.format(f=f))


def test_an_empty_assumptions_file_is_the_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tco.yml"
    f.write_text("# nothing changed\n")
    assert run(parse("dc1", "--assumptions", str(f)), FakeNetBox()) == 0


def test_no_gpu_workers_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("lab"), FakeNetBox()) == 3
    assert capsys.readouterr().err.endswith("pyctl: error: no GPU workers in lab: nothing to cost\n")


def test_a_dc_without_gpu_workers_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("dc1", "lab"), FakeNetBox()) == 0
    assert "warning: lab has no GPU workers" in capsys.readouterr().err


def test_inventory_errors_keep_their_exit_code_and_problems(capsys: pytest.CaptureFixture[str]) -> None:
    error = InventoryError("the inventory of dc1 has 1 problem(s)", problems=["device x: has no primary IPv4 address"])
    assert run(parse("--json"), FakeNetBox(error=error)) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["problems"] == ["device x: has no primary IPv4 address"]
    assert "  - device x: has no primary IPv4 address" in captured.err


@pytest.mark.parametrize(("argv", "message"), [
    (["--tokens-per-day", "lots"], "not a number of tokens: 'lots'"),
    (["--tokens-per-day", "0"], "must be a positive whole number of tokens, got '0'"),
    (["--tokens-per-day", "1.5"], "must be a positive whole number of tokens, got '1.5'"),
    (["--months", "0"], "must be from 1 to 600 months, got '0'"),
])
def test_bad_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_help_names_the_defaults_and_the_sources(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    for part in ("default: dc1 dc2 dc3", "--assumptions FILE", "--tokens-per-day N", "--months N", "--svg FILE",
                 "--netbox-url URL", "--token-file PATH", "inventories/tco-assumptions.yml"):
        assert part in out


def test_handler_reads_each_dc_with_the_same_netbox_flags(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[str, str | None]] = []

    def load_inventory_args(args: argparse.Namespace) -> Inventory:  # as pyctl.cli.common.load_inventory(args)
        seen.append((args.dc, args.netbox_url))
        return SITES[args.dc]

    assert handler(load_inventory_args)(parse("dc1", "dc3", "--netbox-url", "http://nb", "--json")) == 0
    assert seen == [("dc1", "http://nb"), ("dc3", "http://nb")]
    assert json.loads(capsys.readouterr().out)["dcs"] == ["dc1", "dc3"]
