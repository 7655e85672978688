"""Parsers of nvidia-smi output for the GPU smoke checks: pure functions from text to typed records.

Formats (nvidia-smi(1), R535–R560; NVIDIA MIG user guide): ``--query-gpu=... --format=csv`` with or
without ``noheader`` / ``nounits``; the banner of plain ``nvidia-smi``; ``/proc/driver/nvidia/version``;
``nvidia-smi -L``; ``nvidia-smi mig -lgi``. Fields a GPU does not support read ``[N/A]`` or
``[Not Supported]`` and parse to None. Output that is an NVML error (driver not loaded, version
mismatch after an upgrade without reboot) raises :class:`DriverError` with the tool's own message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The fields one smoke check reads per GPU, in this order (see QUERY_GPU_ARGS).
QUERY_FIELDS = (
    "index",
    "name",
    "uuid",
    "driver_version",
    "persistence_mode",
    "ecc.errors.uncorrected.volatile.total",
    "mig.mode.current",
)
QUERY_GPU_ARGS = ("nvidia-smi", f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader")

# What nvidia-smi prints for a value it cannot give (unsupported field, or the GPU cannot say).
UNAVAILABLE = frozenset({"[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]",
                         "[GPU requires reset]", "[Requested functionality has been deprecated]"})

_DRIVER_ERRORS = (
    "NVIDIA-SMI has failed",
    "Failed to initialize NVML",
    "No devices were found",
)
_HEADER_UNIT = re.compile(r"^(?P<field>[\w.]+)(?: \[(?P<unit>[^\]]+)\])?$")
_BANNER_VERSION = re.compile(r"Driver Version:\s*(?P<v>\d+\.\d+(?:\.\d+)?)")
_PROC_VERSION = re.compile(r"NVRM version:.*Kernel Module(?:\s+for\s+\S+)?\s+(?P<v>\d+\.\d+(?:\.\d+)?)")
_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?$")
_LIST_GPU = re.compile(r"^GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>[^)]+)\)$")
_LIST_MIG = re.compile(r"^\s+MIG (?P<profile>\S+)\s+Device\s+(?P<device>\d+): \(UUID: (?P<uuid>[^)]+)\)$")
_LGI_ROW = re.compile(
    r"^\|\s*(?P<gpu>\d+)\s+MIG (?P<profile>\S+)\s+(?P<profile_id>\d+)\s+(?P<instance>\d+)\s+"
    r"(?P<start>\d+):(?P<size>\d+)\s*\|$"
)


class NvidiaSmiError(ValueError):
    """nvidia-smi output that is not in the expected format."""


class DriverError(NvidiaSmiError):
    """nvidia-smi could not talk to the driver (not loaded, or a library/driver version mismatch)."""


@dataclass(frozen=True)
class GpuStatus:
    index: int
    name: str
    uuid: str
    driver_version: str
    persistence_mode: bool | None
    ecc_uncorrected: int | None  # volatile (since the last driver load) uncorrected ECC errors
    mig_mode: bool | None  # None: the GPU has no MIG


@dataclass(frozen=True)
class MigDevice:
    profile: str  # "1g.10gb"
    device: int
    uuid: str


@dataclass(frozen=True)
class GpuListing:
    index: int
    name: str
    uuid: str
    mig_devices: tuple[MigDevice, ...]


@dataclass(frozen=True)
class MigGpuInstance:
    gpu: int
    profile: str
    profile_id: int
    instance_id: int
    placement_start: int
    placement_size: int


def _raise_on_driver_error(text: str) -> None:
    stripped = text.strip()
    if stripped.startswith(_DRIVER_ERRORS):
        raise DriverError(stripped.splitlines()[0])


def _value(raw: str) -> str | None:
    raw = raw.strip()
    return None if raw in UNAVAILABLE else raw


def parse_csv(text: str, fields: Sequence[str] | None = None) -> list[dict[str, str | None]]:
    """Rows of ``--query-gpu=... --format=csv[,noheader][,nounits]`` as field -> value (None: unavailable).

    With a header, its field names are used (units such as ``[MiB]`` stripped from names and values);
    without one, ``fields`` must name the columns in the order they were queried.
    """
    _raise_on_driver_error(text)
    lines = [line for line in text.splitlines() if line.strip()]
    units: list[str | None]
    if lines and (fields is None or _is_header(lines[0], fields)):
        header = [_HEADER_UNIT.match(cell.strip()) for cell in lines[0].split(",")]
        if not all(header):
            raise NvidiaSmiError(f"not a --format=csv header: {lines[0]!r}")
        names = [m["field"] for m in header if m]
        units = [m["unit"] for m in header if m]
        lines = lines[1:]
    elif fields is not None:
        names = list(fields)
        units = [None] * len(names)
    else:
        raise NvidiaSmiError("output has no header; name the queried fields")
    rows: list[dict[str, str | None]] = []
    for line in lines:
        # Names never hold ", " (NVIDIA product names do not), so a plain split is exact.
        cells = [c.strip() for c in line.split(", ")]
        if len(cells) != len(names):
            raise NvidiaSmiError(f"expected {len(names)} values ({', '.join(names)}), got {len(cells)}: {line!r}")
        row: dict[str, str | None] = {}
        for name, unit, cell in zip(names, units, cells, strict=True):
            value = _value(cell)
            if value is not None and unit and unit != "%" and value.endswith(f" {unit}"):
                value = value.removesuffix(f" {unit}")
            elif value is not None and unit == "%" and value.endswith(" %"):
                value = value.removesuffix(" %")
            row[name] = value
        rows.append(row)
    return rows


def _is_header(line: str, fields: Sequence[str]) -> bool:
    match = _HEADER_UNIT.match(line.split(",", maxsplit=1)[0].strip())
    return match is not None and match["field"] == fields[0]


def parse_enabled(value: str | None) -> bool | None:
    """``Enabled`` / ``Disabled`` (persistence mode, MIG mode, ECC mode); None when unavailable."""
    if value is None:
        return None
    if value in ("Enabled", "On"):
        return True
    if value in ("Disabled", "Off"):
        return False
    raise NvidiaSmiError(f"expected Enabled or Disabled, got {value!r}")


def parse_count(value: str | None) -> int | None:
    """An error counter; None when the GPU does not count it (no ECC)."""
    if value is None:
        return None
    if not value.isdigit():
        raise NvidiaSmiError(f"expected a count, got {value!r}")
    return int(value)


def parse_query_gpu(text: str) -> list[GpuStatus]:
    """GPUs from ``nvidia-smi`` with :data:`QUERY_FIELDS` (header or not), in index order."""
    rows = parse_csv(text, QUERY_FIELDS)
    missing = [f for f in QUERY_FIELDS if rows and f not in rows[0]]
    if missing:
        raise NvidiaSmiError(f"query lacks the fields {', '.join(missing)}")
    gpus = []
    for row in rows:
        index, name, uuid, version = (row["index"], row["name"], row["uuid"], row["driver_version"])
        if index is None or not index.isdigit() or name is None or uuid is None or version is None:
            raise NvidiaSmiError(f"GPU row without index, name, UUID or driver version: {row}")
        gpus.append(GpuStatus(
            index=int(index), name=name, uuid=uuid, driver_version=version,
            persistence_mode=parse_enabled(row["persistence_mode"]),
            ecc_uncorrected=parse_count(row["ecc.errors.uncorrected.volatile.total"]),
            mig_mode=parse_enabled(row["mig.mode.current"]),
        ))
    return sorted(gpus, key=lambda g: g.index)


def parse_driver_version(text: str) -> str:
    """The driver version from the nvidia-smi banner, /proc/driver/nvidia/version, or
    ``--query-gpu=driver_version --format=csv,noheader`` (every GPU must report the same one)."""
    _raise_on_driver_error(text)
    if match := _BANNER_VERSION.search(text) or _PROC_VERSION.search(text):
        return match["v"]
    values = {line.strip() for line in text.splitlines() if line.strip() and line.strip() != "driver_version"}
    if len(values) == 1 and _VERSION.match(next(iter(values))):
        return values.pop()
    if len(values) > 1 and all(_VERSION.match(v) for v in values):
        raise NvidiaSmiError(f"GPUs report different driver versions: {', '.join(sorted(values))}")
    raise NvidiaSmiError(f"no driver version in {text.strip()[:80]!r}")


def parse_gpu_list(text: str) -> list[GpuListing]:
    """GPUs and their MIG devices from ``nvidia-smi -L``."""
    _raise_on_driver_error(text)
    gpus: list[GpuListing] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if gpu := _LIST_GPU.match(line):
            gpus.append(GpuListing(int(gpu["index"]), gpu["name"], gpu["uuid"], ()))
        elif (mig := _LIST_MIG.match(line)) and gpus:
            last = gpus[-1]
            device = MigDevice(mig["profile"], int(mig["device"]), mig["uuid"])
            gpus[-1] = GpuListing(last.index, last.name, last.uuid, (*last.mig_devices, device))
        else:
            raise NvidiaSmiError(f"not an nvidia-smi -L line: {line!r}")
    return gpus


def parse_mig_gpu_instances(text: str) -> list[MigGpuInstance]:
    """GPU instances from ``nvidia-smi mig -lgi``; [] when no GPU has MIG on or none has instances."""
    _raise_on_driver_error(text)
    stripped = text.strip()
    if stripped.startswith(("No MIG-enabled devices found", "No GPU instances found")):
        return []
    instances = []
    for line in stripped.splitlines():
        if match := _LGI_ROW.match(line.strip()):
            instances.append(MigGpuInstance(
                gpu=int(match["gpu"]), profile=match["profile"], profile_id=int(match["profile_id"]),
                instance_id=int(match["instance"]), placement_start=int(match["start"]),
                placement_size=int(match["size"]),
            ))
    if not instances and "GPU instances:" not in stripped:
        raise NvidiaSmiError(f"not nvidia-smi mig -lgi output: {stripped[:80]!r}")
    return sorted(instances, key=lambda i: (i.gpu, i.placement_start))


def mig_layouts(instances: Iterable[MigGpuInstance]) -> dict[int, dict[str, int]]:
    """Per GPU index, profile -> instances: the shape NetBox's ``mig_layout`` has, to compare with it."""
    per_gpu: dict[int, Counter[str]] = {}
    for inst in instances:
        per_gpu.setdefault(inst.gpu, Counter())[inst.profile] += 1
    return {gpu: dict(sorted(c.items())) for gpu, c in sorted(per_gpu.items())}


def mig_layout_findings(instances: Iterable[MigGpuInstance], gpu_count: int,
                        layout: Mapping[str, int] | None) -> list[str]:
    """How the GPU instances differ from the NetBox layout on each of ``gpu_count`` GPUs; [] when equal."""
    found = mig_layouts(instances)
    wanted = dict(sorted((layout or {}).items()))
    findings = []
    for gpu in range(gpu_count):
        have = found.get(gpu, {})
        if have != wanted:
            findings.append(f"GPU {gpu}: MIG instances {have or 'none'}, NetBox layout {wanted or 'none (MIG off)'}")
    findings.extend(f"GPU {gpu}: has MIG instances but the host has {gpu_count} GPUs" for gpu in found
                    if gpu >= gpu_count)
    return findings
