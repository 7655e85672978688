"""Drift: what changed on the hosts since the roles last ran, and what differs from NetBox.

:mod:`~pyctl.drift.collect` finds it, :mod:`~pyctl.drift.report` holds it, :mod:`~pyctl.drift.render` shows it,
:mod:`~pyctl.drift.reapply` fixes the role drift.
"""
