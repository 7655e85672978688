"""etcd /metrics histograms → p99, and the disk latency gate (pyctl.etcd_metrics, filter pyctl_etcd)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pyctl import etcd_metrics as em
from tests.load import load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "etcd-metrics"
# /metrics of Debian's etcd 3.4.23 on a lab host after ~300 puts (the slow, shared disk of this machine).
LAB = (FIXTURES / "etcd-3.4.23-lab-single.txt").read_text()
FAST = (FIXTURES / "etcd-3.4.23-fast-disk.txt").read_text()


def test_parses_the_cumulative_buckets_of_a_real_member() -> None:
    hist = em.parse_histogram(LAB, em.WAL_FSYNC)
    assert hist is not None
    assert hist.buckets[0] == (0.001, 200)
    assert hist.buckets[-1] == (math.inf, 306)
    assert hist.count == 306
    assert len(hist.buckets) == 15


def test_p99_interpolates_inside_the_bucket_the_rank_falls_in() -> None:
    # rank 0.99 x 306 = 302.94 falls in (0.016, 0.032] holding observations 302..305:
    # 0.016 + 0.016 x (302.94 - 301) / 4
    hist = em.parse_histogram(LAB, em.WAL_FSYNC)
    assert hist is not None
    assert em.histogram_quantile(0.99, hist.buckets) == pytest.approx(0.02376)


def test_rank_in_first_bucket_interpolates_from_zero() -> None:
    assert em.histogram_quantile(0.5, ((0.001, 10), (math.inf, 10))) == pytest.approx(0.0005)


def test_rank_in_inf_bucket_gives_the_highest_finite_bound() -> None:
    assert em.histogram_quantile(0.99, ((0.001, 1), (8.192, 1), (math.inf, 100))) == 8.192


def test_histogram_without_observations_has_no_quantile() -> None:
    assert em.histogram_quantile(0.99, ((0.001, 0), (math.inf, 0))) is None


def test_series_with_other_labels_are_added_up() -> None:
    text = "\n".join([
        'x_bucket{a="1",le="0.01"} 1', 'x_bucket{a="1",le="+Inf"} 1',
        'x_bucket{a="2",le="0.01"} 0', 'x_bucket{a="2",le="+Inf"} 1', "x_count 2",
    ])
    hist = em.parse_histogram(text, "x")
    assert hist is not None
    assert hist.buckets == ((0.01, 1), (math.inf, 2))


def test_missing_histogram_is_none_and_inf_bucket_is_required() -> None:
    assert em.parse_histogram("other_metric 1\n", em.WAL_FSYNC) is None
    with pytest.raises(ValueError, match=r"\+Inf"):
        em.parse_histogram('x_bucket{le="0.1"} 1\n', "x")
    with pytest.raises(ValueError, match="quantile"):
        em.histogram_quantile(1.5, ((math.inf, 1),))


def test_slow_lab_disk_fails_both_limits() -> None:
    report = em.disk_latency(LAB)
    assert report["ok"] is False
    assert report["wal_fsync"] == {"metric": em.WAL_FSYNC, "p99_ms": 23.76, "limit_ms": 10.0, "observations": 306,
                                   "ok": False}
    # rank 85.14 in (0.064, 0.128] holding the 86th observation: 64 ms + 64 ms x 0.14
    assert report["backend_commit"]["p99_ms"] == pytest.approx(72.96)
    assert report["backend_commit"]["ok"] is False


def test_fast_disk_passes_10_ms_fsync_and_25_ms_commit() -> None:
    report = em.disk_latency(FAST)
    assert report["ok"] is True
    assert report["wal_fsync"]["p99_ms"] < 10
    assert report["backend_commit"]["p99_ms"] < 25


def test_limits_are_parameters() -> None:
    assert em.disk_latency(LAB, wal_fsync_max_ms=30, backend_commit_max_ms=100)["ok"] is True


def test_metrics_without_disk_histograms_are_refused() -> None:
    with pytest.raises(ValueError, match="etcd_disk_wal_fsync_duration_seconds"):
        em.disk_latency("process_open_fds 12\n")


def test_filter_plugin_exposes_the_same_functions() -> None:
    path = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "pyctl_etcd.py"
    module = load_file(path, "pyctl_etcd_filter")
    filters = module.FilterModule().filters()
    assert filters["pyctl_etcd_disk_latency"](LAB, 10, 25) == em.disk_latency(LAB)
    assert filters["pyctl_etcd_histogram_quantile"](LAB, em.WAL_FSYNC, 0.99) == pytest.approx(0.02376)
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="no etcd_disk"):
        filters["pyctl_etcd_disk_latency"]("nothing 1\n")


# --- the limits' one home ---------------------------------------------------------------------------------

def test_the_etcd_roles_copy_of_the_disk_limits_agrees_with_pyctl_and_gates_by_default() -> None:
    import yaml

    from pyctl.paths import REPO

    defaults = yaml.safe_load((REPO / "roles" / "etcd" / "defaults" / "main.yml").read_text())
    assert defaults["etcd_perf_wal_fsync_p99_max_ms"] == em.WAL_FSYNC_P99_MAX_MS
    assert defaults["etcd_perf_backend_commit_p99_max_ms"] == em.BACKEND_COMMIT_P99_MAX_MS
    assert defaults["etcd_perf_gate_enforce"] is True  # over a limit fails the run, it does not only report


def test_the_etcd_scenario_takes_the_lab_limits_from_the_one_lab_only_file() -> None:
    import yaml

    from pyctl.paths import REPO

    play = yaml.safe_load((REPO / "roles" / "etcd" / "molecule" / "default" / "converge.yml").read_text())[0]
    [path] = play["vars_files"]
    lab_only = (REPO / "roles/etcd/molecule/default" / path.replace("{{ playbook_dir }}/", "")).resolve()
    assert lab_only == REPO / "inventories" / "lab" / "group_vars" / "all" / "etcd_disk_lab_only.yml"
    assert set(yaml.safe_load(lab_only.read_text())) == {"etcd_perf_wal_fsync_p99_max_ms",
                                                         "etcd_perf_backend_commit_p99_max_ms"}


def test_the_smoke_check_takes_the_limits_from_etcd_metrics() -> None:
    from pyctl.smoke.checks import SmokeSettings

    s = SmokeSettings()
    assert (s.etcd_wal_fsync_p99_max_ms, s.etcd_backend_commit_p99_max_ms) == (
        em.WAL_FSYNC_P99_MAX_MS, em.BACKEND_COMMIT_P99_MAX_MS)


def test_a_site_widens_the_limits_once_for_the_role_and_the_smoke_check() -> None:
    from pyctl import config
    from pyctl.smoke.run import smoke_settings

    role_vars = config.load_role_vars("lab")
    s = smoke_settings("lab")
    assert (s.etcd_wal_fsync_p99_max_ms, s.etcd_backend_commit_p99_max_ms) == (
        role_vars["etcd_perf_wal_fsync_p99_max_ms"], role_vars["etcd_perf_backend_commit_p99_max_ms"])
    assert s.etcd_wal_fsync_p99_max_ms > em.WAL_FSYNC_P99_MAX_MS  # the lab's disk is not etcd-grade
    dc2 = smoke_settings("dc2")
    assert (dc2.etcd_wal_fsync_p99_max_ms, dc2.etcd_backend_commit_p99_max_ms) == (
        em.WAL_FSYNC_P99_MAX_MS, em.BACKEND_COMMIT_P99_MAX_MS)


def test_pyctl_smoke_still_overrides_the_role_vars(tmp_path) -> None:
    from pyctl.smoke.run import smoke_settings

    base = tmp_path / "inventories" / "x" / "group_vars" / "all"
    base.mkdir(parents=True)
    (base / "a.yml").write_text("etcd_perf_wal_fsync_p99_max_ms: 50\ngpu_driver_version: '550'\n")
    (base / "b.yml").write_text("pyctl_smoke:\n  etcd_wal_fsync_p99_max_ms: 40\n")
    s = smoke_settings("x", tmp_path)
    assert s.etcd_wal_fsync_p99_max_ms == 40
    assert s.gpu_driver_version == "550"
