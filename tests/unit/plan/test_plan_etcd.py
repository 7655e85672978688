"""etcd rules (RULES.md "etcd"; etcd docs v3.5: tuning, hardware, limits, FAQ)."""

from __future__ import annotations

import re

import pytest

from pyctl.plan.etcd import (
    GIB,
    etcd_quota,
    etcd_timing,
    events_etcd_needed,
    expected_objects,
    max_rtt,
    member_problems,
    ram_problems,
)


def _exactly(message: str) -> str:
    """A pattern for pytest.raises that matches the whole message, not a part of it."""
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize("count", [3, 5])
def test_three_or_five_members_are_fine(count):
    assert member_problems([f"e{i}" for i in range(count)]) == ([], [])


@pytest.mark.parametrize("count", [2, 4, 6])
def test_even_member_counts_are_violations(count):
    names = [f"e{i}" for i in range(count)]
    violations, _ = member_problems(names)
    assert violations == [f"{count} etcd members ({', '.join(names)}); an even count adds no fault tolerance — use 3 "
                          "or 5"]


def test_more_than_seven_members_is_a_violation():
    assert member_problems([f"e{i}" for i in range(9)])[0] == ["9 etcd members; etcd supports at most 7"]


def test_one_member_warns_about_fault_tolerance():
    assert member_problems(["e1"]) == ([], ["1 etcd member (e1): no fault tolerance; use 3 or 5"])


def test_no_members_is_a_violation():
    assert member_problems([]) == (["no etcd members (hosts with role etcd)"], [])


def test_lan_rtt_keeps_etcd_defaults():
    # Default heartbeat 100 ms, election 1000 ms; a sub-millisecond LAN gains nothing from going lower.
    t = etcd_timing(0.4)
    assert (t.heartbeat_ms, t.election_timeout_ms, t.violations) == (100, 1000, [])


def test_heartbeat_follows_a_long_rtt_and_election_is_ten_times_it():
    # Heartbeat ≈ RTT; election ≥ 10 x RTT.
    t = etcd_timing(250)
    assert (t.heartbeat_ms, t.election_timeout_ms) == (250, 2500)


def test_fractional_rtt_rounds_the_heartbeat_up():
    t = etcd_timing(180.2)
    assert (t.heartbeat_ms, t.election_timeout_ms) == (181, 1810)


def test_rtt_of_exactly_5000_ms_hits_the_50000_ms_cap():
    t = etcd_timing(5000)
    assert (t.heartbeat_ms, t.election_timeout_ms, t.violations) == (5000, 50000, [])


def test_rtt_above_5000_ms_needs_more_than_the_50000_ms_maximum():
    t = etcd_timing(5001)
    assert t.violations == ["max RTT 5001 ms needs an election timeout of at least 50,010 ms, above etcd's maximum "
                            "50,000 ms; the members are too far apart"]


def test_computed_election_is_capped_at_50000_when_the_floors_allow():
    # 10 x heartbeat 6000 = 60,000 > 50,000, but 10 x RTT (1,000) and 5 x heartbeat (30,000) fit under the cap.
    t = etcd_timing(100, heartbeat_ms=6000)
    assert (t.election_timeout_ms, t.violations) == (50000, [])
    assert t.election_reason == "capped at etcd's maximum 50,000 ms (floor 30,000 ms still met)"


def test_given_election_timeout_below_ten_rtts_is_a_violation():
    t = etcd_timing(100, heartbeat_ms=100, election_timeout_ms=900)
    assert t.violations == ["election timeout 900 ms is below 10 x the max RTT 100 ms"]


def test_given_election_timeout_below_five_heartbeats_is_a_violation():
    t = etcd_timing(10, heartbeat_ms=100, election_timeout_ms=400)
    assert t.violations == ["election timeout 400 ms is below 5 x the heartbeat interval 100 ms"]


def test_given_election_timeout_above_50000_is_a_violation():
    t = etcd_timing(10, heartbeat_ms=100, election_timeout_ms=60000)
    assert t.violations == ["election timeout 60,000 ms is above etcd's maximum 50,000 ms"]


def test_given_heartbeat_below_half_the_rtt_is_a_violation():
    t = etcd_timing(100, heartbeat_ms=40, election_timeout_ms=1000)
    assert t.violations == ["heartbeat interval 40 ms is below half the max RTT 100 ms between members"]


def test_kubespray_reference_timing_passes():
    # kubespray: heartbeat 250, election 5000.
    assert etcd_timing(2, heartbeat_ms=250, election_timeout_ms=5000).violations == []


def test_negative_rtt_is_refused():
    with pytest.raises(ValueError, match=_exactly("RTT must be a non-negative number of milliseconds, got -1")):
        etcd_timing(-1)


def test_max_rtt_takes_the_worst_pair_among_members_in_either_order():
    measured = {("e1", "e2"): 0.4, ("e3", "e2"): 1.2, ("e1", "w9"): 80.0}
    assert max_rtt(["e1", "e2", "e3"], measured, 1.0) == (1.2, True)


def test_max_rtt_falls_back_to_the_default_without_measurements():
    assert max_rtt(["e1", "e2", "e3"], {("x", "y"): 5.0}, 2.5) == (2.5, False)


def test_small_volume_keeps_the_2_gib_default_quota():
    q = etcd_quota(expected_objects(4, 110))
    assert (q.quota_bytes, q.warnings) == (2 * GIB, [])


def test_5000_node_volume_needs_more_than_8_gib_and_warns():
    # 5,000 nodes x 120 objects x 8 KiB x 2 = 9.16 GiB → 10 GiB, above the suggested 8 GiB maximum.
    q = etcd_quota(expected_objects(5000, 110))
    assert q.quota_bytes == 10 * GIB
    assert q.warnings == ["etcd quota 10 GiB is above the suggested maximum of 8 GiB (etcd warns at start); split "
                          "Events into their own etcd or shard the tenants"]


def test_8_gib_exactly_does_not_warn():
    assert etcd_quota(0, quota_gib=8).warnings == []


def test_given_quota_below_the_expected_volume_warns():
    q = etcd_quota(200_000, quota_gib=2)
    assert q.warnings == ["etcd quota 2 GiB is below the expected 3.05 GiB; etcd raises NOSPACE and turns read-only "
                          "when it fills"]


def test_member_ram_below_the_quota_is_a_violation():
    violations, _ = ram_problems(8, 10 * GIB)
    assert violations == ["etcd member RAM 8 GiB is below the backend quota 10 GiB (etcd hardware guide: RAM ≥ quota)"]


def test_member_ram_is_checked_only_when_known():
    assert ram_problems(None, 10 * GIB, 5000) == ([], [])


def test_member_ram_below_the_hardware_tier_warns():
    violations, warnings = ram_problems(32, 10 * GIB, 3000)
    assert violations == []
    assert warnings == ["etcd member RAM 32 GiB is below the hardware guide's 64 GB for ~3,000 Kubernetes nodes "
                        "(3,000 here)"]


def test_events_move_to_their_own_etcd_above_the_threshold():
    assert events_etcd_needed(1000, 1000) is False
    assert events_etcd_needed(1001, 1000) is True
