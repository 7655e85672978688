"""GPU checks (role gpu-worker): nvidia-smi against NetBox, the pinned driver, Fabric Manager."""

from __future__ import annotations

import json
import re
import shlex

from pyctl.inventory import ROLE_GPU_WORKER, Host
from pyctl.smoke import nvidia
from pyctl.smoke.checks.base import Check, CheckResult, Context, Severity, failed, missing_tool, passed

# --- GPU checks (role gpu-worker) -------------------------------------------------------------------

_QUERY = "command -v nvidia-smi >/dev/null || exit 127; " + shlex.join(nvidia.QUERY_GPU_ARGS) + " 2>&1"
_MIG_LGI = "command -v nvidia-smi >/dev/null || exit 127; nvidia-smi mig -lgi 2>&1"
NO_NVIDIA_SMI = "nvidia-smi not found — run the gpu phase"
_GB = re.compile(r"(\d+)\s*GB", re.IGNORECASE)


class _GpuCheck(Check):
    remedy = "run the gpu phase (pyctl rollout <dc> --phase gpu); if it is done, compare the board with NetBox"

    def applies(self, host: Host) -> bool:
        return host.role == ROLE_GPU_WORKER and host.gpu is not None

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.cached(_QUERY)
        if missing_tool(res):
            return failed(NO_NVIDIA_SMI)
        try:
            gpus = nvidia.parse_query_gpu(res.stdout)
        except nvidia.DriverError as exc:
            return failed(f"nvidia-smi cannot talk to the driver: {exc} (a reboot after a driver or kernel "
                          "upgrade?)")
        if res.rc != 0:
            return failed(f"nvidia-smi exited {res.rc}: {res.stdout.strip()[:200]}")
        assert host.gpu is not None
        return self.judge(ctx, host, gpus)

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        raise NotImplementedError


class GpuCount(_GpuCheck):
    name = "gpu-count"
    remedy = "a GPU fell off the bus or NetBox is wrong: check `nvidia-smi -L`, dmesg (Xid) and the BMC; fix one"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        if len(gpus) != host.gpu.count:
            return failed(f"host has {len(gpus)} GPUs, NetBox says {host.gpu.count}", host=len(gpus),
                          netbox=host.gpu.count)
        return passed(f"{len(gpus)} GPUs = NetBox {host.gpu.count}")


def model_matches(netbox_model: str, smi_name: str) -> bool:
    """NetBox "H100-80GB" against nvidia-smi "NVIDIA H100 80GB HBM3" / "NVIDIA A100-SXM4-80GB" / "NVIDIA H200"."""
    family, _, memory = netbox_model.partition("-")
    tokens = re.split(r"[\s-]+", smi_name.upper())
    if family.upper() not in tokens:
        return False
    sizes = _GB.findall(smi_name)
    mem = _GB.findall(memory)
    return not sizes or not mem or sizes[0] == mem[0]


class GpuModel(_GpuCheck):
    name = "gpu-model"
    remedy = "the board is not the model NetBox records: correct NetBox or move the host to the right cluster"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        wrong = sorted({g.name for g in gpus if not model_matches(host.gpu.model, g.name)})
        if wrong:
            return failed(f"GPUs are {', '.join(wrong)}, NetBox says {host.gpu.model}")
        return passed(f"{', '.join(sorted({g.name for g in gpus})) or 'no GPUs'} = NetBox {host.gpu.model}")


class GpuDriver(_GpuCheck):
    name = "gpu-driver"
    remedy = "install the DC's pinned driver branch (gpu phase) and reboot; hold the packages"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        versions = sorted({g.driver_version for g in gpus})
        if len(versions) > 1:
            return failed(f"GPUs report different driver versions: {', '.join(versions)}")
        have = versions[0] if versions else "none"
        # The pin is a Debian package version ("550.127.08-1"); the driver reports the upstream part.
        want = ctx.settings.gpu_driver_version.split("-", 1)[0]
        if want and have != want:
            return failed(f"driver {have}, the DC pins {want}", host=have, pinned=want)
        return passed(f"driver {have}" + (f" = pinned {want}" if want else " (no pin configured)"))


class GpuPersistence(_GpuCheck):
    name = "gpu-persistence"
    severity: Severity = "warning"
    remedy = "enable and start nvidia-persistenced (--persistence-mode); the gpu phase does this"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        off = [str(g.index) for g in gpus if g.persistence_mode is False]
        if off:
            return failed(f"persistence mode off on GPU {', '.join(off)}")
        return passed(f"persistence mode on ({len(gpus)} GPUs)")


class GpuEcc(_GpuCheck):
    name = "gpu-ecc"
    remedy = ("uncorrected ECC errors: drain the host, reset the GPU (nvidia-smi -r); "
              "open a hardware case if they return")

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        bad = [f"GPU {g.index}: {g.ecc_uncorrected}" for g in gpus if g.ecc_uncorrected]
        if bad:
            return failed(f"uncorrected volatile ECC errors: {'; '.join(bad)}")
        return passed("no uncorrected ECC errors")


class GpuMig(_GpuCheck):
    name = "gpu-mig"
    remedy = "apply NetBox's MIG layout (gpu phase, nvidia-mig-parted apply) or correct mig_layout in NetBox"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        layout = host.gpu.mig_layout
        mode_wrong = [str(g.index) for g in gpus if g.mig_mode is not None and g.mig_mode != bool(layout)]
        if mode_wrong:
            return failed(f"MIG mode {'off' if layout else 'on'} on GPU {', '.join(mode_wrong)}; NetBox layout "
                          f"{json.dumps(dict(layout)) if layout else 'none (MIG off)'}")
        if not layout:
            return passed("MIG off, as NetBox says")
        res = ctx.cached(_MIG_LGI)
        findings = nvidia.mig_layout_findings(nvidia.parse_mig_gpu_instances(res.stdout), len(gpus), layout)
        if findings:
            return failed("; ".join(findings))
        return passed(f"MIG layout {json.dumps(dict(layout))} on {len(gpus)} GPUs")


class FabricManager(Check):
    name = "fabric-manager"
    remedy = "install nvidia-fabricmanager of exactly the driver's version and start it; without it CUDA fails (802)"

    def applies(self, host: Host) -> bool:
        return host.role == ROLE_GPU_WORKER and host.gpu is not None and host.gpu.nvswitch

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.run("systemctl is-active nvidia-fabricmanager")
        state = res.stdout.strip() or res.stderr.strip()
        if state != "active":
            return failed(f"nvidia-fabricmanager is {state or 'not installed'} on an NVSwitch board")
        return passed("nvidia-fabricmanager active")
