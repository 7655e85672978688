"""Smoke checks against a fake SSH session that returns canned outputs (no network, no hosts)."""

from __future__ import annotations

import base64
import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from pyctl.inventory import Cluster, Gpu, Host, Inventory
from pyctl.smoke import checks as C
from pyctl.smoke.pool import CommandResult, CommandTimeout, ConnectError, SSHSettings
from pyctl.smoke.run import run_smoke

FIX = Path(__file__).resolve().parents[1] / "fixtures"


class FakeSession:
    """Answers the first canned reply whose key is a substring of the command; records every command."""

    def __init__(self, replies: dict[str, CommandResult | Exception]) -> None:
        self.replies = replies
        self.commands: list[str] = []

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.commands.append(command)
        for key, reply in self.replies.items():
            if key in command:
                if isinstance(reply, Exception):
                    raise reply
                return reply
        return CommandResult(0, "", "")


def ok(out: str) -> CommandResult:
    return CommandResult(0, out, "")


def host(name: str = "h1", role: str = "gpu-worker", *, rack: str = "r1", mtu: int = 9000, count: int = 8,
         mig: dict[str, int] | None = None, nvswitch: bool = True, address: str = "10.0.0.1") -> Host:
    gpu = Gpu("H100-80GB", count, nvswitch, mig) if role == "gpu-worker" else None
    return Host(name=name, site="dc9", rack=rack, role=role, cluster="c1", address=address,
                address_cidr=f"{address}/24", underlay_nic="eth0", underlay_mtu=mtu, platform=None, status="active",
                device_type="x", gpu=gpu)


def ctx(session: FakeSession, hosts: tuple[Host, ...] = (), **settings: object) -> C.Context:
    s = C.SmokeSettings(**settings)  # type: ignore[arg-type]
    return C.Context(session=session, settings=s,
                     cluster=C.ClusterValues("c1", hosts, underlay_mtu=9000, overlay_mtu=8950))


def gpu_rows(n: int, *, name: str = "NVIDIA H100 80GB HBM3", version: str = "550.127.08", pm: str = "Enabled",
             ecc: str = "0", mig: str = "Disabled") -> str:
    return "".join(f"{i}, {name}, GPU-{i:08d}, {version}, {pm}, {ecc}, {mig}\n" for i in range(n))


# --- host checks -----------------------------------------------------------------------------------

def test_nic_mtu_names_both_numbers() -> None:
    r = C.NicMtu()(ctx(FakeSession({"/sys/class/net/eth0/mtu": ok("1400\n")})), host())
    assert r.status == "fail"
    assert "1400" in r.detail
    assert "9000" in r.detail
    assert C.NicMtu()(ctx(FakeSession({"mtu": ok("9000\n")})), host()).status == "pass"


def test_nic_missing_is_a_failure() -> None:
    r = C.NicMtu()(ctx(FakeSession({"mtu": CommandResult(1, "", "No such file or directory")})), host())
    assert r.status == "fail"
    assert "no such interface" in r.detail


@pytest.mark.parametrize(("out", "status"), [
    ("yes\n--\nchrony\n--\nnone\n", "pass"),
    ("no\n--\n--\nnone\n", "fail"),
    ("no\n--\n--\npodman\n", "skip"),
])
def test_time_sync(out: str, status: str) -> None:
    assert C.TimeSync()(ctx(FakeSession({"timedatectl": ok(out)})), host()).status == status


def test_gpu_count_differs_from_netbox() -> None:
    r = C.GpuCount()(ctx(FakeSession({"nvidia-smi": ok(gpu_rows(7))})), host())
    assert r.status == "fail"
    assert "7 GPUs" in r.detail
    assert "NetBox says 8" in r.detail


def test_gpu_checks_pass_on_a_matching_board() -> None:
    session = FakeSession({"nvidia-smi --query-gpu": ok(gpu_rows(8))})
    c = ctx(session, gpu_driver_version="550.127.08-1")
    for check in (C.GpuCount(), C.GpuModel(), C.GpuDriver(), C.GpuPersistence(), C.GpuEcc(), C.GpuMig()):
        assert check(c, host()).status == "pass", check.name
    assert len(session.commands) == 1  # one nvidia-smi query shared by all GPU checks


def test_nvidia_smi_absent() -> None:
    r = C.GpuCount()(ctx(FakeSession({"nvidia-smi": CommandResult(127, "", "")})), host())
    assert (r.status, r.detail) == ("fail", "nvidia-smi not found — run the gpu phase")


def test_driver_mismatch_after_upgrade() -> None:
    text = (FIX / "nvidia-smi" / "version-mismatch.txt").read_text()
    r = C.GpuDriver()(ctx(FakeSession({"nvidia-smi": CommandResult(18, text, "")})), host())
    assert r.status == "fail"
    assert "driver" in r.detail


def test_gpu_model_driver_persistence_ecc_failures() -> None:
    c = ctx(FakeSession({"nvidia-smi": ok(gpu_rows(8, name="NVIDIA A100-SXM4-40GB", version="535.1", pm="Disabled",
                                                   ecc="3"))}), gpu_driver_version="550.127.08-1")
    h = host()
    assert "NetBox says H100-80GB" in C.GpuModel()(c, h).detail
    assert "535.1" in C.GpuDriver()(c, h).detail
    assert "550.127.08" in C.GpuDriver()(c, h).detail
    assert C.GpuPersistence()(c, h).status == "fail"
    assert "GPU 0: 3" in C.GpuEcc()(c, h).detail


def test_gpu_mig_layout_against_netbox() -> None:
    lgi = (FIX / "nvidia-smi" / "mig-lgi-a100.txt").read_text()
    query = (FIX / "nvidia-smi" / "query-gpu-h100-mig.csv").read_text()
    r = C.GpuMig()(ctx(FakeSession({"--query-gpu": ok(query), "mig -lgi": ok(lgi)})),
                   host(count=len(query.splitlines()) - 1, mig={"1g.10gb": 7}))
    assert r.status in ("pass", "fail")
    assert r.status == "fail" or "MIG layout" in r.detail
    off = C.GpuMig()(ctx(FakeSession({"--query-gpu": ok(gpu_rows(8, mig="Enabled"))})), host())
    assert off.status == "fail"
    assert "MIG mode on" in off.detail


def test_model_matches() -> None:
    assert C.model_matches("H100-80GB", "NVIDIA H100 80GB HBM3")
    assert C.model_matches("A100-80GB", "NVIDIA A100-SXM4-80GB")
    assert not C.model_matches("A100-80GB", "NVIDIA A100-PCIE-40GB")
    assert C.model_matches("H200-141GB", "NVIDIA H200")


def test_fabric_manager_only_on_nvswitch() -> None:
    assert not C.FabricManager().applies(host(nvswitch=False))
    assert not C.FabricManager().applies(host(role="etcd"))
    r = C.FabricManager()(ctx(FakeSession({"fabricmanager": CommandResult(3, "inactive\n", "")})), host())
    assert r.status == "fail"
    assert "inactive" in r.detail


ETCD_STATUS = json.dumps([{"Endpoint": "https://127.0.0.1:2379", "Status": {
    "header": {"cluster_id": 1, "member_id": 42, "revision": 5, "raft_term": 3},
    "version": "3.4.23", "dbSize": 1_900_000_000, "leader": 7, "raftIndex": 9, "raftTerm": 3}}])


def test_etcd_stopped_member_fails_health() -> None:
    down = CommandResult(1, "https://127.0.0.1:2379 is unhealthy: failed to commit proposal: context deadline "
                            "exceeded\nError: unhealthy cluster\n", "")
    c = ctx(FakeSession({"endpoint health": down, "endpoint status": CommandResult(1, "connection refused", "")}))
    r = C.EtcdHealth()(c, host(role="etcd"))
    assert r.status == "fail"
    assert "unhealthy" in r.detail
    assert C.EtcdLeader()(c, host(role="etcd")).status == "fail"


def test_etcd_uses_tls_paths_from_settings() -> None:
    session = FakeSession({"endpoint health": ok("https://127.0.0.1:2379 is healthy: took = 2ms\n")})
    c = ctx(session, etcd_ca="/x/ca.pem", etcd_cert="/x/c.pem", etcd_key="/x/k.pem")
    assert C.EtcdHealth()(c, host(role="etcd")).status == "pass"
    assert "--cacert=/x/ca.pem" in session.commands[0]
    assert "https://" in session.commands[0]


def test_etcd_leader_and_db_size() -> None:
    c = ctx(FakeSession({"endpoint status": ok(ETCD_STATUS)}))
    assert "member 7" in C.EtcdLeader()(c, host(role="etcd")).detail
    r = C.EtcdDbSize()(c, host(role="etcd"))
    assert r.status == "fail"
    assert "2 GiB" in r.detail


def test_etcd_disk_p99_from_metrics() -> None:
    text = (FIX / "etcd-metrics" / "etcd-3.4.23-fast-disk.txt").read_text()
    r = C.EtcdDisk()(ctx(FakeSession({"/metrics": ok(text + "\n200")})), host(role="etcd"))
    assert r.status == "pass"
    assert "WAL fsync p99" in r.detail
    slow = C.EtcdDisk()(ctx(FakeSession({"/metrics": ok(text + "\n200")}), etcd_wal_fsync_p99_max_ms=0.0001),
                        host(role="etcd"))
    assert slow.status == "fail"
    assert C.EtcdDisk.severity == "critical"  # it gates a rollout's etcd batch, it does not only warn


def tenant_ctx(session: FakeSession) -> C.Context:
    c = ctx(session)
    c.cluster = C.ClusterValues("mgmt", (), underlay_mtu=9000, tenants=(
        C.Tenant("inference-a", 6443, ("h1", "h2")), C.Tenant("inference-b", 6444, ("h2",))))
    return c


def test_readyz_asks_each_hosted_apiserver_of_the_host() -> None:
    session = FakeSession({"readyz": ok("ok\n200")})
    r = C.ApiserverReadyz()(tenant_ctx(session), host("h2", role="control-plane"))
    assert r.status == "pass"
    assert r.detail == "/readyz 200 ok: inference-a :6443, inference-b :6444"
    assert "https://127.0.0.1:6443/readyz" in session.commands[0]
    assert "--cacert /etc/kubernetes/inference-a/pki/ca.crt" in session.commands[0]
    assert "/etc/kubernetes/inference-b/pki/admin.key" in session.commands[1]
    # h1 runs only inference-a
    one = FakeSession({"readyz": ok("ok\n200")})
    assert C.ApiserverReadyz()(tenant_ctx(one), host("h1", role="control-plane")).status == "pass"
    assert len(one.commands) == 1


def test_readyz_fails_naming_the_tenant() -> None:
    r = C.ApiserverReadyz()(tenant_ctx(FakeSession({"readyz": ok("[-]etcd failed\n500")})),
                            host("h1", role="control-plane"))
    assert r.status == "fail"
    assert r.detail == "inference-a: GET https://127.0.0.1:6443/readyz: HTTP 500 [-]etcd failed"


def test_readyz_without_a_planned_tenant_does_not_apply_and_asks_nothing() -> None:
    session = FakeSession({})
    r = C.ApiserverReadyz()(ctx(session), host(role="control-plane"))
    assert (r.status, r.detail) == ("skip", "does not apply: no hosted control plane is planned on this host")
    assert session.commands == []


def test_timeout_is_an_error_verdict() -> None:
    r = C.NicMtu()(ctx(FakeSession({"mtu": CommandTimeout("command timed out after 1 s")})), host())
    assert r.status == "error"


# --- path MTU ---------------------------------------------------------------------------------------

def hosts(n: int, racks: int = 1) -> tuple[Host, ...]:
    return tuple(host(f"h{i:03d}", rack=f"r{i % racks}", address=f"10.0.{i // 250}.{i % 250 + 1}") for i in range(n))


def test_probe_peers_all_pairs_up_to_ten() -> None:
    hs = hosts(10)
    assert [p.name for p in C.probe_peers(hs, hs[0])] == [h.name for h in hs[1:]]


def test_probe_peers_above_the_limit_is_the_plans_ring_over_the_racks() -> None:
    from pyctl.plan import mtu

    hs = hosts(40, racks=4)
    peers = C.probe_peers(hs, hs[4], full_mesh_max=10)
    assert [p.name for p in peers] == mtu.probe_peers([h.name for h in hs], hs[4].name, 10,
                                                      racks={h.name: h.rack for h in hs})
    assert peers == C.probe_peers(hs, hs[4], full_mesh_max=10)  # deterministic: a failure reproduces
    assert len(peers) == 6  # offsets 1, 2, 4, 8, 16, 32 of 40
    assert peers[0].name == "h008"  # the next host of its rack: the top-of-rack path
    assert {p.rack for p in peers} - {hs[4].rack}  # and paths across racks
    inbound = sum(1 for h in hs for p in C.probe_peers(hs, h, full_mesh_max=10) if p.name == hs[4].name)
    assert inbound == len(peers)  # probed as often as it probes


def test_path_mtu_reports_the_dropped_pair() -> None:
    hs = hosts(3)
    results = [{"i": 0, "kind": "underlay", "peer": "h001", "address": hs[1].address, "size": 9000, "ok": True},
               {"i": 1, "kind": "underlay", "peer": "h002", "address": hs[2].address, "size": 9000, "ok": False,
                "why": "lost", "small_ok": True}]
    session = FakeSession({"python3": ok(json.dumps(results))})
    c = ctx(session, hs)
    c.facts = {h.name: C.HostFacts() for h in hs}
    r = C.PathMtu()(c, hs[0])
    assert r.status == "fail"
    assert "9000-byte DF packet to h002" in r.detail
    assert "below" in r.detail
    assert "-c" in session.commands[0]


def test_path_mtu_probes_the_overlay_with_the_planned_size() -> None:
    hs = hosts(2)
    session = FakeSession({"python3": ok("[]")})
    c = ctx(session, hs)
    c.facts = {h.name: C.HostFacts("vxlan.calico", f"10.9.0.{i}", 8950) for i, h in enumerate(hs)}
    C.PathMtu()(c, hs[0])
    import base64
    import shlex
    spec = json.loads(base64.b64decode(shlex.split(session.commands[0])[-1]))
    assert {(p["kind"], p["size"], p["address"]) for p in spec["paths"]} == {
        ("underlay", 9000, hs[1].address), ("overlay vxlan.calico", 8950, "10.9.0.1")}


def test_overlay_facts() -> None:
    out = json.dumps([{"ifname": "vxlan.calico", "mtu": 8950, "addr_info": [{"family": "inet", "local": "10.1.2.3"}]}])
    assert C.parse_overlay_facts(out) == C.HostFacts("vxlan.calico", "10.1.2.3", 8950)
    assert C.parse_overlay_facts("[]") == C.HostFacts()


def test_select_checks() -> None:
    assert [c.name for c in C.select_checks(["nic-mtu"])] == ["ssh", "nic-mtu"]
    with pytest.raises(ValueError, match="unknown check"):
        C.select_checks(["nope"])


# --- the runner over fake sessions --------------------------------------------------------------------

def _inventory(hs: tuple[Host, ...]) -> Inventory:
    return Inventory(site="dc9", clusters=(Cluster("c1", "workload", hs),))


def test_runner_unreachable_host_exit_4_and_wrong_key_exit_2(tmp_path: Path) -> None:
    hs = hosts(3)
    ssh = SSHSettings("root", tmp_path / "k", tmp_path / "kh")
    sessions = {h.address: FakeSession({"mtu": ok("9000"), "python3": ok("[]"), "ip -json": ok("[]")}) for h in hs}

    def connector(address: str, _: SSHSettings) -> FakeSession:
        if address == hs[2].address:
            raise ConnectError("unreachable", f"{address}:22 unreachable: timed out", "power?")
        return sessions[address]

    sel = C.select_checks(["nic-mtu", "path-mtu"])
    rep = run_smoke(_inventory(hs), None, C.SmokeSettings(), ssh=ssh, checks=sel, connector=connector)
    assert rep.unreachable == ["h002"]
    assert int(rep.exit_code()) == 4
    assert all(hs[2].address not in c for s in sessions.values() for c in s.commands)  # dead peer not probed

    def bad_key(address: str, _: SSHSettings) -> FakeSession:
        if address == hs[1].address:
            raise ConnectError("host-key", "host key CHANGED", "find out why")
        return sessions[address]

    rep = run_smoke(_inventory(hs), None, C.SmokeSettings(), ssh=ssh, checks=sel, connector=bad_key)
    assert int(rep.exit_code()) == 2
    assert rep.failures()[0][1].detail == "host key CHANGED"
    # one connection per host: the connector is called once per host
    calls: list[str] = []

    def counting(address: str, _: SSHSettings) -> FakeSession:
        calls.append(address)
        return sessions.get(address, sessions[hs[0].address])

    run_smoke(_inventory(hs), None, C.SmokeSettings(), ssh=ssh, checks=C.ALL_CHECKS, connector=counting)
    assert sorted(calls) == sorted(h.address for h in hs)


def member_list(*names: str) -> str:
    return json.dumps({"header": {"member_id": 1}, "members": [
        {"ID": 0x10 + i, "name": n, "peerURLs": [f"https://10.0.0.{i}:2380"]} for i, n in enumerate(names)]})


def etcd_ctx(session: FakeSession) -> C.Context:
    c = ctx(session)
    c.cluster = C.ClusterValues("mgmt", (host("e1", role="etcd"), host("e2", role="etcd"), host("e3", role="etcd"),
                                         host("cp1", role="control-plane")), underlay_mtu=9000)
    return c


def test_etcd_members_match_netbox() -> None:
    session = FakeSession({"member list": ok(member_list("e3", "e1", "e2"))})
    r = C.EtcdMembers()(etcd_ctx(session), host("e1", role="etcd"))
    assert (r.status, r.detail) == ("pass", "3 members, as NetBox lists them")


def test_etcd_members_name_the_missing_and_the_unknown_member() -> None:
    r = C.EtcdMembers()(etcd_ctx(FakeSession({"member list": ok(member_list("e1", "e2", "old-4"))})),
                        host("e1", role="etcd"))
    assert r.status == "fail"
    assert r.detail == "NetBox lists e3, not a member; member old-4 is not in NetBox"


def test_an_etcd_member_netbox_marks_offline_is_expected_as_a_member_and_named_down() -> None:
    c = etcd_ctx(FakeSession({"member list": ok(member_list("e1", "e2", "e3"))}))
    c.cluster = C.ClusterValues("mgmt", (host("e1", role="etcd"), host("e2", role="etcd")), underlay_mtu=9000,
                                down_etcd=("e3",))
    r = C.EtcdMembers()(c, host("e1", role="etcd"))
    assert (r.status, r.detail) == ("pass", "3 members, as NetBox lists them; e3 down in NetBox (still members: 3 "
                                            "count for quorum)")
    # Removed from etcd for good but still marked offline in NetBox: named, as any missing member.
    c.session = FakeSession({"member list": ok(member_list("e1", "e2"))})
    c._cache.clear()
    assert C.EtcdMembers()(c, host("e1", role="etcd")).detail == "NetBox lists e3, not a member"


def test_path_mtu_probes_the_peers_pod_address_not_its_primary_ip() -> None:
    me = dataclasses.replace(host("w1", address="10.0.0.1"), pod_address="10.1.0.1")
    peer = dataclasses.replace(host("w2", address="10.0.0.2"), pod_address="10.1.0.2")
    sent: list[str] = []

    class Recording(FakeSession):
        def run(self, command: str, timeout: float | None = None) -> Any:
            sent.append(command)
            spec = json.loads(base64.b64decode(shlex.split(command)[-1]))
            return ok(json.dumps([dict(p, ok=True, why="") for p in spec["paths"]]))

    c = ctx(Recording({}))
    c.cluster = C.ClusterValues("c1", (me, peer), underlay_mtu=9000)
    c.facts = {"w1": C.HostFacts(), "w2": C.HostFacts()}
    r = C.PathMtu()(c, me)
    assert r.status == "pass"
    assert [p["address"] for p in r.data["paths"]] == ["10.1.0.2"]


def test_a_gate_checks_only_its_hosts_and_probes_the_other_hosts_of_their_cluster(tmp_path: Path) -> None:
    # A rollout's health gate after a batch of one: that host is checked; its cluster's other hosts are
    # connected to for their overlay facts only (the peers its paths are probed to), and not reported.
    hs = hosts(3)
    ssh = SSHSettings("root", tmp_path / "k", tmp_path / "kh")
    sessions = {h.address: FakeSession({"mtu": ok("9000"), "python3": ok("[]"), "ip -json": ok("[]")}) for h in hs}
    sel = C.select_checks(["nic-mtu", "path-mtu"])
    rep = run_smoke(_inventory(hs), None, C.SmokeSettings(), ssh=ssh, checks=sel,
                    connector=lambda address, _: sessions[address], only={"h001"})
    assert [h.name for h in rep.hosts] == ["h001"]
    assert [o.check for o in rep.hosts[0].outcomes] == ["ssh", "nic-mtu", "path-mtu"]
    probe = next(c for c in sessions[hs[1].address].commands if "python3 -c" in c)
    import base64
    import shlex
    spec = json.loads(base64.b64decode(shlex.split(probe)[-1]))
    assert sorted(p["peer"] for p in spec["paths"]) == ["h000", "h002"]
    for other in (hs[0], hs[2]):  # read for facts, never checked
        assert all("python3 -c" not in c and "/mtu" not in c for c in sessions[other.address].commands)
        assert any("ip -json" in c for c in sessions[other.address].commands)

    # Without a pair check, the other hosts are not even connected to.
    calls: list[str] = []

    def counting(address: str, _: SSHSettings) -> FakeSession:
        calls.append(address)
        return sessions[address]

    run_smoke(_inventory(hs), None, C.SmokeSettings(), ssh=ssh, checks=C.select_checks(["nic-mtu"]),
              connector=counting, only={"h001"})
    assert calls == [hs[1].address]


# --- certificates -------------------------------------------------------------------------------------

NOW = 1_800_000_000.0  # 2027-01-15


def cert_reply(**days: float) -> CommandResult:
    certs = [{"path": f"/etc/etcd/pki/{name}.crt", "not_after": NOW + d * 86400} for name, d in days.items()]
    return ok(json.dumps({"now": NOW, "certs": certs, "errors": []}))


def test_cert_expiry_names_each_certificate_expiring_within_the_warning_days() -> None:
    session = FakeSession({"python3": cert_reply(ca=3650, peer=12, client=-2)})
    r = C.CertExpiry()(ctx(session), host(role="etcd"))
    assert r.status == "fail"
    assert r.detail == ("/etc/etcd/pki/client.crt expired 2027-01-13 (2 days ago); /etc/etcd/pki/peer.crt expires "
                        "2027-01-27 (in 12 days): within 30 days")
    assert "/etc/etcd/pki" in session.commands[0]  # the directory of the etcd CA the settings name
    assert C.CertExpiry.severity == "warning"


def test_cert_expiry_passes_naming_the_first_to_expire_and_honours_the_setting() -> None:
    r = C.CertExpiry()(ctx(FakeSession({"python3": cert_reply(ca=3650, peer=200, server=90)})), host(role="etcd"))
    assert r.status == "pass"
    assert r.detail == "3 certificates; the first to expire: /etc/etcd/pki/server.crt on 2027-04-15 (in 90 days)"
    wider = C.CertExpiry()(ctx(FakeSession({"python3": cert_reply(server=90)}), cert_warn_days=100),
                           host(role="etcd"))
    assert wider.status == "fail"


def test_cert_expiry_reads_each_hosted_control_planes_pki_and_skips_a_host_without_one() -> None:
    session = FakeSession({"python3": ok(json.dumps({"now": NOW, "certs": [], "errors": []}))})
    r = C.CertExpiry()(tenant_ctx(session), host(role="control-plane"))
    assert r.status == "skip"
    assert r.detail.startswith("does not apply: no certificates in /etc/kubernetes/")
    empty = FakeSession({})
    none = C.CertExpiry()(ctx(empty), host(role="control-plane"))
    assert (none.status, none.detail) == ("skip", "does not apply: no hosted control plane is planned on this host")
    assert empty.commands == []
    assert not C.CertExpiry().applies(host(role="gpu-worker"))


def test_cert_expiry_script_reads_real_certificates(tmp_path: Path) -> None:
    # The script the check runs on the host, run here on a certificate made with the cryptography package.
    import datetime as dt
    import subprocess
    import sys

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd-ca test")])
    not_after = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    (tmp_path / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "bad.crt").write_text("not a certificate\n")
    from pyctl.smoke.checks.pki import CERT_SCRIPT

    out = json.loads(subprocess.run([sys.executable, "-c", CERT_SCRIPT, str(tmp_path)], capture_output=True,
                                    text=True, check=True).stdout)
    assert out["certs"] == [{"path": str(tmp_path / "ca.crt"), "not_after": not_after.timestamp()}]
    assert [e.split(":")[0] for e in out["errors"]] == [str(tmp_path / "bad.crt")]
