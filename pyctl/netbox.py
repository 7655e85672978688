"""The one module that talks to NetBox.

Reads one site's devices, their pod-traffic NIC (with its bond members, VLAN parent and addresses),
their primary addresses and every prefix with GraphQL (REST would need one request per page of
34,800 interfaces for a 3,000-device site: ~60 s against ~3 s here), and the site, its custom field
definitions and the counts that prove the read complete with REST.

Never a partial read: NetBox caps every page at its ``MAX_PAGE_SIZE`` (default 1000, REST and
GraphQL alike; ``netbox/graphql/pagination.py``), so every list is read page by page until NetBox
returns an empty page, REST lists follow ``next``, and each list is checked against a count NetBox
keeps apart from it. A short read is an error naming what was short, never a smaller inventory.

Connection failures, timeouts and 5xx answers are retried with exponential backoff for at least
``retry_s`` (a NetBox restart takes 10-30 s); a refused token or a missing permission is not
(retrying cannot fix it). The token is held in memory only and never printed.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pynetbox
import requests

from pyctl.errors import ConfigError, NetBoxError
from pyctl.inventory import (
    LAG_TYPE,
    POD_TRAFFIC_TAG,
    DeviceRecord,
    InterfaceRecord,
    PrefixRecord,
    SiteRecords,
)

DEFAULT_TIMEOUT_S = 30.0
# A NetBox restart takes 10-30 s (gunicorn workers, migrations check): keep trying at least this long.
DEFAULT_RETRY_S = 60.0
# NetBox's default MAX_PAGE_SIZE. A server set lower caps each page further; the readers never take a
# page shorter than this as the last one (only an empty page ends a list).
PAGE_SIZE = 1000

# What each read needs: NetBox's view permission for it (README, "NetBox permissions").
PERM = {
    "site": "dcim.view_site", "device": "dcim.view_device", "interface": "dcim.view_interface",
    "prefix": "ipam.view_prefix", "ipaddress": "ipam.view_ipaddress", "customfield": "extras.view_customfield",
    "devicerole": "dcim.view_devicerole", "devicetype": "dcim.view_devicetype", "rack": "dcim.view_rack",
    "platform": "dcim.view_platform", "vrf": "ipam.view_vrf", "region": "dcim.view_region",
    "sitegroup": "dcim.view_sitegroup", "location": "dcim.view_location",
}
# GraphQL answers a token without view permission with empty lists (and nested objects with null), not
# an error: before trusting a GraphQL answer, each object type it reads is asked for over REST, which
# answers 403. (app, REST path, permission key)
_PROBES = (
    ("the IP addresses", "/api/ipam/ip-addresses/", "ipaddress"),
    ("the device roles", "/api/dcim/device-roles/", "devicerole"),
    ("the device types", "/api/dcim/device-types/", "devicetype"),
    ("the racks", "/api/dcim/racks/", "rack"),
    ("the platforms", "/api/dcim/platforms/", "platform"),
    ("the VRFs", "/api/ipam/vrfs/", "vrf"),
)

_NIC_FIELDS = "name mtu type"
_DEVICES = """
query Devices($site: String!, $start: Int!, $limit: Int!) {
  device_list(filters: {site: {slug: {exact: $site}}}, pagination: {start: $start, limit: $limit}) {
    id name status
    role { slug }
    device_type { slug custom_fields }
    rack { name }
    platform { slug }
    primary_ip4 { address }
    primary_ip6 { address }
    custom_fields
  }
}"""

# A bond's members and a VLAN interface's parent are read apart, and only when a pod-traffic interface
# is a bond or has a parent: each nested list costs NetBox about as much as the list itself (3,000 NICs:
# 0.6 s bare, +0.8 s per nested list), and most sites have neither.
_POD_NICS = f"""
query PodNics($site: String!, $tag: String!, $start: Int!, $limit: Int!) {{
  interface_list(filters: {{device: {{site: {{slug: {{exact: $site}}}}}}, tags: {{slug: {{exact: $tag}}}}}},
                 pagination: {{start: $start, limit: $limit}}) {{
    id {_NIC_FIELDS}
    device {{ id }}
    ip_addresses {{ address }}
    parent {{ id }}
  }}
}}"""

_BOND_MEMBERS = f"""
query BondMembers($site: String!, $start: Int!, $limit: Int!) {{
  interface_list(filters: {{device: {{site: {{slug: {{exact: $site}}}}}}, lag: {{type: {{exact: TYPE_LAG}}}}}},
                 pagination: {{start: $start, limit: $limit}}) {{
    id {_NIC_FIELDS}
    lag {{ id }}
  }}
}}"""

_PARENTS = f"""
query Parents($ids: [ID!]!, $start: Int!, $limit: Int!) {{
  interface_list(filters: {{id: {{in_list: $ids}}}}, pagination: {{start: $start, limit: $limit}}) {{
    id {_NIC_FIELDS}
    member_interfaces {{ {_NIC_FIELDS} }}
  }}
}}"""

_PREFIXES = """
query Prefixes($start: Int!, $limit: Int!) {
  prefix_list(pagination: {start: $start, limit: $limit}) {
    id prefix status
    role { slug }
    vrf { name }
    scope {
      __typename
      ... on SiteType { slug }
      ... on LocationType { slug site { slug } }
      ... on RegionType { id slug }
      ... on SiteGroupType { id slug }
    }
    custom_fields
  }
}"""

_REGIONS = """
query Regions($start: Int!, $limit: Int!) {
  region_list(pagination: {start: $start, limit: $limit}) { id slug parent { id } }
}"""

_SITE_GROUPS = """
query SiteGroups($start: Int!, $limit: Int!) {
  site_group_list(pagination: {start: $start, limit: $limit}) { id slug parent { id } }
}"""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry_s: float = DEFAULT_RETRY_S

    def __repr__(self) -> str:  # never show the token
        return (f"Settings(url={self.url!r}, token=<hidden>, timeout_s={self.timeout_s}, "
                f"retry_s={self.retry_s})")


def _seconds(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g} seconds, got {raw!r}")
    return value


def settings_from_env(url: str | None = None, token_file: str | None = None,
                      env: Mapping[str, str] | None = None) -> Settings:
    """NetBox URL and token from flags, else ``NETBOX_URL`` and ``NETBOX_TOKEN`` / ``NETBOX_TOKEN_FILE``;
    ``PYCTL_NETBOX_TIMEOUT`` (seconds per request) and ``PYCTL_NETBOX_RETRY_S`` (how long to keep
    retrying an unreachable or failing NetBox)."""
    env = os.environ if env is None else env
    url = url or env.get("NETBOX_URL")
    if not url:
        raise ConfigError("no NetBox URL: set NETBOX_URL or pass --netbox-url")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"NetBox URL must start with http:// or https://, got {url!r}")
    token = env.get("NETBOX_TOKEN", "") if not token_file else ""
    path = token_file or env.get("NETBOX_TOKEN_FILE")
    if not token and path:
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the NetBox token file {path}: {exc.strerror}") from exc
    if not token:
        raise ConfigError("no NetBox token: set NETBOX_TOKEN or NETBOX_TOKEN_FILE, or pass --token-file")
    timeout = _seconds(env, "PYCTL_NETBOX_TIMEOUT", DEFAULT_TIMEOUT_S, minimum=0.1)
    retry = _seconds(env, "PYCTL_NETBOX_RETRY_S", DEFAULT_RETRY_S, minimum=0)
    return Settings(url=url.rstrip("/"), token=token, timeout_s=timeout, retry_s=retry)


class TokenMayNotRead(NetBoxError):
    """NetBox answered 403 for want of a view permission (not a refused token)."""


def _detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


class NetBox:
    """A read-only NetBox client for what the inventory needs."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        # pynetbox's API object owns the HTTP session (keep-alive, TLS settings); GraphQL and the
        # few REST reads go through it with our retry policy.
        self.api = pynetbox.api(settings.url, token=settings.token)
        self._session: requests.Session = self.api.http_session
        self._auth = self._auth_header(settings.token)

    @staticmethod
    def _auth_header(token: str) -> str:
        # NetBox 4.5+ v2 tokens are "nbt_<key>.<secret>" and go with Bearer; v1 tokens with Token.
        return f"Bearer {token}" if token.startswith("nbt_") else f"Token {token}"

    # --- transport with retries --------------------------------------------------------------

    def _request(self, what: str, method: str, path: str, *, perm: str | None = None, **kwargs: Any) -> Any:
        url = f"{self.settings.url}{path}"
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._session.request(method, url, headers=headers, timeout=self.settings.timeout_s, **kwargs)
            except requests.Timeout:
                last = f"no answer within {self.settings.timeout_s:g} s"
            except requests.ConnectionError:
                last = "connection refused or dropped"
            else:
                if resp.status_code in (401, 403):
                    raise self._refused(resp, what, perm)
                if resp.status_code >= 500:
                    last = f"server error {resp.status_code}"
                elif resp.status_code >= 400:
                    raise NetBoxError(f"NetBox rejected the request for {what}: HTTP {resp.status_code}: "
                                      f"{resp.text[:300]}")
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        last = "an answer that is not JSON"
            elapsed = self._clock() - started
            if elapsed >= self.settings.retry_s:
                raise NetBoxError(f"NetBox at {self.settings.url} unreachable while reading {what}: {last} "
                                  f"(tried {attempt} times over {elapsed:.0f} s)")
            # Exponential backoff, the last wait cut so that one more try lands at retry_s.
            self._sleep(min(0.5 * 2 ** (attempt - 1), 8.0, max(self.settings.retry_s - elapsed, 0.05)))

    def _refused(self, resp: requests.Response, what: str, perm: str | None) -> NetBoxError:
        detail = _detail(resp)
        if "permission" in detail.lower():
            need = f"the view permission {PERM[perm]}" if perm else "a view permission"
            return TokenMayNotRead(f"the NetBox token may not read {what}: NetBox answered {resp.status_code} "
                               f"({detail}); its user needs {need} (README, \"NetBox permissions\")")
        return NetBoxError(f"NetBox at {self.settings.url} refused the token ({resp.status_code}) "
                           f"while reading {what}: check NETBOX_TOKEN / the token file")

    def _graphql(self, what: str, query: str, variables: dict[str, Any], key: str, *, perm: str,
                 expected: int | None) -> list[dict[str, Any]]:
        """Every row of a GraphQL list, page by page, until ``expected`` rows or an empty page.

        Cursor pagination (NetBox 4.3+: ``start`` = the lowest primary key of the page, ordered by
        it): each page is an index range scan; offset pagination re-filters every row before the
        offset on every page (30,000 devices took 17x the time of 3,000 instead of 10x). NetBox caps
        ``limit`` at MAX_PAGE_SIZE without saying so, so a short page is not the end: only an empty
        page or the count NetBox keeps apart (``expected``) is. Fewer rows than ``expected`` is an
        error: GraphQL answers a token without permission with fewer rows, not with an error.
        ``expected=None``: no count to hold it against; the list ends at the first empty page.
        """
        rows: list[dict[str, Any]] = []
        start = 0
        while expected is None or len(rows) < expected:
            body = self._request(what, "POST", "/graphql/", perm=perm,
                                 json={"query": query, "variables": {**variables, "start": start,
                                                                     "limit": PAGE_SIZE}})
            if body.get("errors"):
                msgs = "; ".join(str(e.get("message")) for e in body["errors"])
                raise NetBoxError(f"NetBox GraphQL error while reading {what}: {msgs}")
            page = (body.get("data") or {}).get(key)
            if page is None:
                raise NetBoxError(f"NetBox GraphQL answered no {key} while reading {what}")
            if not page:
                break
            ids = [int(r["id"]) for r in page]
            if ids[0] < start or any(b <= a for a, b in itertools.pairwise(ids)):
                raise NetBoxError(f"NetBox paged {what} out of primary-key order (ids {ids[0]}..{ids[-1]} after "
                                  f"start {start}): the read cannot be proven complete")
            rows.extend(page)
            start = ids[-1] + 1
        if expected is not None and len(rows) != expected:
            raise NetBoxError(f"NetBox returned {len(rows)} of the {expected} {what}: the token may not view "
                              f"them all ({PERM[perm]} constrained), or they changed during the read; "
                              "nothing was used (run again)")
        return rows

    def _rest_list(self, what: str, path: str, params: list[tuple[str, str]], perm: str) -> list[dict[str, Any]]:
        """Every result of a REST list, following ``next`` (its query, on our own base URL: a reverse
        proxy may name another host), checked against ``count``."""
        rows: list[dict[str, Any]] = []
        query = [*params, ("limit", str(PAGE_SIZE))]
        count = 0
        for _ in range(100_000):
            body = self._request(what, "GET", path, params=query, perm=perm)
            count = int(body.get("count", 0))
            rows.extend(body.get("results") or [])
            nxt = body.get("next")
            if not nxt:
                break
            query = parse_qsl(urlsplit(nxt).query)
        if len(rows) != count:
            raise NetBoxError(f"NetBox returned {len(rows)} of the {count} entries of {what} it counts; "
                              "nothing was used (run again)")
        return rows

    def _count(self, what: str, path: str, params: list[tuple[str, str]], perm: str) -> int:
        """How many objects a REST list holds (and a 403, named, for a token that may not view them)."""
        body = self._request(what, "GET", path, params=[*params, ("brief", "1"), ("limit", "1")], perm=perm)
        return int(body.get("count", 0))

    # --- reads -------------------------------------------------------------------------------

    def sites(self) -> list[str]:
        return sorted(s["slug"] for s in self._rest_list("the site list", "/api/dcim/sites/", [("brief", "1")], "site"))

    def site(self, slug: str) -> dict[str, Any]:
        """The site ``slug`` (with its ``device_count``, its region and its group); NetBoxError if none."""
        rows = self._rest_list(f"site {slug}", "/api/dcim/sites/", [("slug", slug)], "site")
        if not rows:
            known = self.sites()
            raise NetBoxError(f"site {slug!r} does not exist in NetBox (sites: {', '.join(known) or 'none'})")
        return rows[0]

    def custom_fields(self) -> dict[str, frozenset[str]]:
        """Custom field names defined on dcim.device and dcim.devicetype, by object type."""
        rows = self._rest_list("the custom fields", "/api/extras/custom-fields/",
                               [("object_type", "dcim.device"), ("object_type", "dcim.devicetype")], "customfield")
        by_type: dict[str, set[str]] = {"dcim.device": set(), "dcim.devicetype": set()}
        for cf in rows:
            for object_type in cf.get("object_types") or []:
                by_type.setdefault(str(object_type), set()).add(str(cf["name"]))
        return {k: frozenset(v) for k, v in by_type.items()}

    def _tree(self, what: str, query: str, key: str, path: str, perm: str) -> dict[int, int | None]:
        expected = self._count(what, path, [], perm)
        rows = self._graphql(what, query, {}, key, perm=perm, expected=expected)
        return {int(r["id"]): int(r["parent"]["id"]) if r.get("parent") else None for r in rows}

    def site_records(self, site: str) -> SiteRecords:
        """Everything the inventory of ``site`` is built from, read completely; NetBoxError if the site
        does not exist, a read came back short, or the token may not view what is read."""
        info = self.site(site)
        # The site's device_count counts every device of the site whatever the token may view
        # (dcim.api.serializers_.sites: RelatedObjectCountField, an unrestricted subquery).
        expected_devices = int(info.get("device_count") or 0)
        nic_filter = [("site", site), ("tag", POD_TRAFFIC_TAG)]
        # The small REST reads side by side (each is mostly a request's fixed cost), then the three
        # lists side by side: on 2 cores that took 3,000 devices from 3.6 s to 2.7 s here.
        with ThreadPoolExecutor(max_workers=3) as pool:
            cfs_f = pool.submit(self.custom_fields)
            nic_count_f = pool.submit(self._count, f"the {POD_TRAFFIC_TAG} interfaces of site {site}",
                                      "/api/dcim/interfaces/", nic_filter, "interface")
            prefix_count_f = pool.submit(self._count, "the prefixes", "/api/ipam/prefixes/", [], "prefix")
            probes = [pool.submit(self._count, what, path, [], perm) for what, path, perm in _PROBES]
            _raise_all([cfs_f, *probes])
            cfs = cfs_f.result()
            devices_f = pool.submit(self._graphql, f"devices of site {site}", _DEVICES, {"site": site},
                                    "device_list", perm="device", expected=expected_devices)
            nics_f = pool.submit(self._graphql, f"{POD_TRAFFIC_TAG} interfaces of site {site}", _POD_NICS,
                                 {"site": site, "tag": POD_TRAFFIC_TAG}, "interface_list", perm="interface",
                                 expected=nic_count_f.result())
            prefixes_f = pool.submit(self._graphql, "prefixes", _PREFIXES, {}, "prefix_list", perm="prefix",
                                     expected=prefix_count_f.result())
            devices, nics, prefixes = devices_f.result(), nics_f.result(), prefixes_f.result()
        self._nic_topology(site, nics)
        scopes = {(p.get("scope") or {}).get("__typename") for p in prefixes}
        regions: set[int] = set()
        groups: set[int] = set()
        if "RegionType" in scopes and info.get("region"):
            regions = _ancestors(int(info["region"]["id"]),
                                 self._tree("regions", _REGIONS, "region_list", "/api/dcim/regions/", "region"))
        if "SiteGroupType" in scopes and info.get("group"):
            groups = _ancestors(int(info["group"]["id"]), self._tree(
                "site groups", _SITE_GROUPS, "site_group_list", "/api/dcim/site-groups/", "sitegroup"))
        return records_from_graphql(site, devices, nics, prefixes, cfs["dcim.device"],
                                    device_type_custom_fields=cfs["dcim.devicetype"],
                                    site_regions=regions, site_groups=groups)

    def _nic_topology(self, site: str, nics: list[dict[str, Any]]) -> None:
        """Fill in ``member_interfaces`` (bonds) and the ``parent`` (VLAN interfaces) of the pod NICs, as
        the nested GraphQL shape :func:`records_from_graphql` reads, with one read each when needed."""
        if any(str(n.get("type") or "").lower() == LAG_TYPE for n in nics):
            members = self._graphql(f"bond members of site {site}", _BOND_MEMBERS, {"site": site},
                                    "interface_list", perm="interface", expected=None)
            by_lag: dict[int, list[dict[str, Any]]] = {}
            for m in members:
                by_lag.setdefault(int(m["lag"]["id"]), []).append(m)
            for n in nics:
                n["member_interfaces"] = by_lag.get(int(n["id"]), [])
        ids = sorted({int(n["parent"]["id"]) for n in nics if n.get("parent")})
        if ids:
            rows = {int(r["id"]): r for chunk in range(0, len(ids), PAGE_SIZE) for r in self._graphql(
                f"parents of the {POD_TRAFFIC_TAG} interfaces of site {site}", _PARENTS,
                {"ids": [str(i) for i in ids[chunk:chunk + PAGE_SIZE]]}, "interface_list", perm="interface",
                expected=len(ids[chunk:chunk + PAGE_SIZE]))}
            for n in nics:
                if n.get("parent"):
                    n["parent"] = rows[int(n["parent"]["id"])]


def _raise_all(futures: list[Future[Any]]) -> None:
    """Wait for every read; a token that may not read several of them is told every permission it
    lacks at once. Any other failure is raised as it is (the first, in the order given)."""
    errors = [f.exception() for f in futures]
    found = [e for e in errors if e is not None]
    if not found:
        return
    denied = [e for e in found if isinstance(e, TokenMayNotRead)]
    if len(denied) > 1 and len(denied) == len(found):
        raise NetBoxError(f"the NetBox token may not read {len(denied)} kinds of object pyctl reads; its user needs "
                          'view permission on each (README, "NetBox permissions")',
                          problems=[e.message for e in denied])
    raise found[0]


def _ancestors(node: int, parents: Mapping[int, int | None]) -> set[int]:
    """``node`` and every parent above it (regions and site groups nest)."""
    seen: set[int] = set()
    current: int | None = node
    while current is not None and current not in seen:
        seen.add(current)
        current = parents.get(current)
    return seen


def _nic(raw: Mapping[str, Any]) -> InterfaceRecord:
    parent = raw.get("parent")
    return InterfaceRecord(
        name=str(raw.get("name") or ""), mtu=raw.get("mtu"), type=str(raw.get("type") or "").lower(),
        addresses=tuple(sorted(str(a["address"]) for a in raw.get("ip_addresses") or [])),
        members=tuple(sorted((_nic(m) for m in raw.get("member_interfaces") or []), key=lambda i: i.name)),
        parent=_nic(parent) if parent else None,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _prefix_scope(scope: Mapping[str, Any] | None, site: str, site_regions: set[int],
                  site_groups: set[int]) -> tuple[str | None, str | None]:
    """(the site the prefix belongs to as pyctl reads it, a label of its scope when not a plain site):
    this site for a prefix scoped to it, to one of its locations, or to a region or site group above it."""
    if not scope:
        return None, None
    kind = scope.get("__typename")
    if kind == "SiteType":
        return str(scope.get("slug")), None
    if kind == "LocationType":
        owner = str((scope.get("site") or {}).get("slug"))
        return owner, f"location {scope.get('slug')} of {owner}"
    if kind == "RegionType":
        label = f"region {scope.get('slug')}"
        return (site if int(scope["id"]) in site_regions else f"region:{scope.get('slug')}"), label
    if kind == "SiteGroupType":
        label = f"site group {scope.get('slug')}"
        return (site if int(scope["id"]) in site_groups else f"site-group:{scope.get('slug')}"), label
    return f"scope:{kind}", f"scope {kind}"


def records_from_graphql(site: str, devices: list[dict[str, Any]], nics: list[dict[str, Any]],
                         prefixes: list[dict[str, Any]], custom_fields: frozenset[str], *,
                         device_type_custom_fields: frozenset[str] = frozenset(),
                         site_regions: set[int] | None = None, site_groups: set[int] | None = None) -> SiteRecords:
    by_device: dict[int, list[InterfaceRecord]] = {}
    for nic in nics:
        by_device.setdefault(int(nic["device"]["id"]), []).append(_nic(nic))
    device_records = tuple(
        DeviceRecord(
            id=int(d["id"]),
            name=str(d.get("name") or ""),
            role=(d.get("role") or {}).get("slug", ""),
            device_type=(d.get("device_type") or {}).get("slug", ""),
            gpu_capacity=_int_or_none(((d.get("device_type") or {}).get("custom_fields") or {}).get("gpu_capacity")),
            rack=(d.get("rack") or {}).get("name"),
            platform=(d.get("platform") or {}).get("slug"),
            status=str(d.get("status", "")).lower(),
            primary_ip4=(d.get("primary_ip4") or {}).get("address"),
            primary_ip6=(d.get("primary_ip6") or {}).get("address"),
            custom_fields=d.get("custom_fields") or {},
            pod_interfaces=tuple(sorted(by_device.get(int(d["id"]), []), key=lambda i: i.name)),
        )
        for d in devices
    )
    prefix_records = []
    for p in prefixes:
        owner, scope = _prefix_scope(p.get("scope"), site, site_regions or set(), site_groups or set())
        prefix_records.append(PrefixRecord(
            prefix=p["prefix"], role=(p.get("role") or {}).get("slug"), vrf=(p.get("vrf") or {}).get("name"),
            cluster=(p.get("custom_fields") or {}).get("cluster"), status=str(p.get("status", "")).lower(),
            site=owner, scope=scope,
        ))
    return SiteRecords(site=site, devices=device_records, prefixes=tuple(prefix_records),
                       device_custom_fields=custom_fields, device_type_custom_fields=device_type_custom_fields)
