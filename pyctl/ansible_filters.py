"""What pyctl's Ansible filter plugins share: a pyctl function becomes a Jinja2 filter whose bad
input is an AnsibleFilterError carrying the rule's own message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError


def as_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    def filt(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise AnsibleFilterError(f"{filt.__name__}: {exc}") from exc

    filt.__name__ = func.__name__
    filt.__doc__ = func.__doc__
    return filt
