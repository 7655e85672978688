"""Loads a data-set spec into NetBox through its own ORM.

Runs with NetBox's interpreter (``$PYCTL_DEV_HOME/netbox-X/bin/python``), never imported by pyctl.
Reads one JSON spec on stdin, prints one JSON result line on stdout. Large sets are written with
``bulk_create`` (the REST API manages ~5 devices/s; this manages thousands).
"""
# ruff: noqa
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netbox.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402


def ensure_admin(spec):
    from users.models import Token, User

    user, _ = User.objects.get_or_create(username=spec["username"], defaults={"is_superuser": True})
    user.is_superuser = True
    user.set_password(spec.get("password") or os.urandom(16).hex())
    user.save()
    token = Token(user=user, version=2, write_enabled=True, description="pyctl dev test bed")
    token.save()
    from users.constants import TOKEN_PREFIX

    return f"{TOKEN_PREFIX}{token.key}.{token.token}"


def ensure_users(users):
    """Users with object permissions and a v2 token each (tests of what a token may read)."""
    from django.contrib.contenttypes.models import ContentType
    from users.constants import TOKEN_PREFIX
    from users.models import ObjectPermission, Token, User

    tokens = {}
    for spec in users:
        user, _ = User.objects.get_or_create(username=spec["username"])
        user.is_superuser = False
        user.set_password(os.urandom(16).hex())
        user.save()
        for i, perm in enumerate(spec.get("permissions", [])):
            obj = ObjectPermission.objects.create(name=f"{spec['username']}-{i}", actions=perm["actions"],
                                                  constraints=perm.get("constraints"))
            obj.object_types.set([ContentType.objects.get_by_natural_key(*t.split(".")) for t in perm["object_types"]])
            obj.users.add(user)
        token = Token(user=user, version=2, write_enabled=spec.get("write_enabled", False),
                      description="pyctl dev test bed")
        token.save()
        tokens[spec["username"]] = f"{TOKEN_PREFIX}{token.key}.{token.token}"
    return tokens


def load_dataset(ds):
    """Write a data set (see pyctl.dev.seed) with bulk inserts; components come from the templates."""
    from django.contrib.contenttypes.models import ContentType
    from dcim.models import Device, DeviceRole, DeviceType, Interface, Manufacturer, Platform, Rack, Site
    from extras.models import CustomField, Tag, TaggedItem
    from ipam.models import IPAddress, Prefix, Role

    for cf in ds.get("custom_fields", []):
        obj, _ = CustomField.objects.get_or_create(
            name=cf["name"], defaults={"type": cf["type"], "description": cf.get("description", "")})
        obj.object_types.set([ContentType.objects.get_by_natural_key(*t.split(".")) for t in cf["object_types"]])
    tags = {}
    for t in ds.get("tags", []):
        tags[t["slug"]], _ = Tag.objects.get_or_create(slug=t["slug"], defaults={
            "name": t["name"], "color": t.get("color", "9e9e9e"), "description": t.get("description", "")})
    roles = {}
    for r in ds.get("roles", []):
        roles[r["slug"]], _ = DeviceRole.objects.get_or_create(slug=r["slug"], defaults={
            "name": r["name"], "color": r["color"]})
    prefix_roles = {}
    for slug in ds.get("prefix_roles", []):
        prefix_roles[slug], _ = Role.objects.get_or_create(slug=slug, defaults={"name": slug})
    platforms = {}
    for pf in ds.get("platforms", []):
        platforms[pf["slug"]], _ = Platform.objects.get_or_create(slug=pf["slug"], defaults={"name": pf["name"]})
    dtypes = {}
    for dt in ds.get("device_types", []):
        manufacturer, _ = Manufacturer.objects.get_or_create(
            slug=dt["manufacturer"].lower(), defaults={"name": dt["manufacturer"]})
        obj, created = DeviceType.objects.get_or_create(slug=dt["slug"], defaults={
            "manufacturer": manufacturer, "model": dt["model"], "u_height": dt["u_height"],
            "custom_field_data": {"gpu_capacity": dt["gpu_capacity"]} if "gpu_capacity" in dt else {}})
        if created:
            for nic in dt["interfaces"]:
                obj.interfacetemplates.create(name=nic["name"], type=nic["type"], mgmt_only=nic.get("mgmt_only", False))
        dtypes[dt["slug"]] = obj
    templates = {slug: list(dt.interfacetemplates.all()) for slug, dt in dtypes.items()}

    for slug in ds.get("replace_sites", []):
        # Re-registering a site (the lab) replaces its devices, their addresses and components.
        doomed = Device.objects.filter(site__slug=slug)
        IPAddress.objects.filter(interface__device__in=doomed).delete()
        doomed.delete()

    sites, racks = {}, {}
    for s in ds.get("sites", []):
        site, _ = Site.objects.get_or_create(slug=s["slug"], defaults={"name": s["slug"], "status": "active"})
        sites[s["slug"]] = site
        existing = {r.name: r for r in Rack.objects.filter(site=site)}
        new = [Rack(site=site, name=name, status="active", u_height=42) for name in s["racks"] if name not in existing]
        for rack in Rack.objects.bulk_create(new):
            existing[rack.name] = rack
        racks.update(existing)

    for p in ds.get("prefixes", []):
        prefix = Prefix(prefix=p["prefix"], status="active", role=prefix_roles.get(p.get("role")),
                        scope=sites[p["site"]])
        if p.get("cluster"):
            prefix.custom_field_data = {"cluster": p["cluster"]}
        prefix.save()

    devices = []
    for d in ds.get("devices", []):
        dt = dtypes[d["device_type"]]
        devices.append(Device(
            name=d["name"], site=sites[d["site"]], rack=racks[d["rack"]], role=roles[d["role"]], device_type=dt,
            platform=platforms.get(d.get("platform")), status=d.get("status", "active"), airflow=dt.airflow,
            custom_field_data=d.get("custom_fields", {})))
    devices = Device.objects.bulk_create(devices, batch_size=2000)

    interfaces = []
    for dev, d in zip(devices, ds.get("devices", []), strict=True):
        for template in templates[d["device_type"]]:
            nic = template.instantiate(device=dev)
            nic._site, nic._location, nic._rack = dev.site, dev.location, dev.rack
            nic.custom_field_data = {}
            if nic.name == d.get("pod_nic"):
                nic.mtu = d.get("mtu")
            interfaces.append(nic)
    interfaces = Interface.objects.bulk_create(interfaces, batch_size=5000)
    pod_nics = {}
    by_device = {}
    for nic in interfaces:
        by_device.setdefault(nic.device_id, {})[nic.name] = nic
    iface_ct = ContentType.objects.get_for_model(Interface)
    ips, tagged = [], []
    primary = {}
    for dev, d in zip(devices, ds.get("devices", []), strict=True):
        nic = by_device[dev.pk].get(d.get("pod_nic"))
        if nic is None:
            continue
        pod_nics[dev.pk] = nic
        tagged.append(TaggedItem(tag=tags["pod-traffic"], content_type=iface_ct, object_id=nic.pk))
        # The primary address sits on the pod NIC unless the device names another NIC for it ("primary_nic");
        # then the pod NIC carries its own address ("pod_address").
        primary_nic = by_device[dev.pk].get(d.get("primary_nic") or d.get("pod_nic"))
        if d.get("address"):
            primary[dev.pk] = len(ips)
            ips.append(IPAddress(address=d["address"], status="active", assigned_object_type=iface_ct,
                                 assigned_object_id=primary_nic.pk, custom_field_data={}))
        if d.get("pod_address"):
            ips.append(IPAddress(address=d["pod_address"], status="active", assigned_object_type=iface_ct,
                                 assigned_object_id=nic.pk, custom_field_data={}))
    TaggedItem.objects.bulk_create(tagged, batch_size=5000)
    ips = IPAddress.objects.bulk_create(ips, batch_size=5000)
    for dev in devices:
        if dev.pk in primary:
            dev.primary_ip4 = ips[primary[dev.pk]]
    Device.objects.bulk_update(devices, ["primary_ip4"], batch_size=2000)
    return {"devices": len(devices), "interfaces": len(interfaces), "ip_addresses": len(ips)}


def main():
    spec = json.load(sys.stdin)
    result = {}
    if "admin" in spec:
        result["token"] = ensure_admin(spec["admin"])
    if "users" in spec:
        result["tokens"] = ensure_users(spec["users"])
    if "dataset" in spec:
        with transaction.atomic():
            result.update(load_dataset(spec["dataset"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
