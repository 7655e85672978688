"""`pyctl bundle build|verify|diff`: a data center's desired state as one signed, air-gap-ready bundle.

The result goes to stdout (lines for people, one JSON document with ``--json``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pyctl.bundle import build as build_mod
from pyctl.bundle import diff as diff_mod
from pyctl.bundle import manifest, sign
from pyctl.cli import common
from pyctl.cli.common import add_site_flags, eprint
from pyctl.errors import ExitCode

EPILOG = """\
examples:
  pyctl bundle build lab --key ~/.ssh/id_ed25519
        NetBox snapshot, plan, group_vars, roles and every package and binary the hosts fetch, signed;
        written to bundles/lab/lab-<digest>/ and bundles/lab/lab-<digest>.tar
  pyctl bundle verify bundles/lab/lab-0123456789ab.tar --allowed-signers allowed_signers
        the signature first, then every file's hash; offline, nothing unpacked
  pyctl bundle diff OLD.tar NEW.tar        every difference: inputs, plan values, artifacts, files

allowed_signers: one line per key that may sign, as git's gpg.ssh.allowedSignersFile:
  ops@example.com namespaces="pyctl-bundle" ssh-ed25519 AAAA…

The hosts' package closure is resolved by apt in a container of the image named for their platform
(pyctl_bundle_resolver_images in inventories/<dc>/group_vars/all); only debian-12 can be resolved here.

exit codes: 0 ok (diff: the same), 2 the bundles differ, 3 a bundle fails its check (each a named error:
not a bundle, unsigned, wrong signer, bad signature, path escapes the bundle, missing file, extra file,
tampered file) or bad input
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bundle`` to the pyctl subcommands."""
    p = subparsers.add_parser(
        "bundle", help="a data center's desired state and every artifact it needs, as one signed bundle",
        description="Build, check and compare signed desired-state bundles: what the low side tested is what "
        "the high side runs.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="read NetBox, plan, resolve and fetch the closure, sign",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("dc", help="data center: the NetBox site slug, e.g. lab")
    b.add_argument("--key", required=True, metavar="PATH",
                   help="SSH key that signs the manifest (a private key, or a public key whose private key is in "
                   "the SSH agent)")
    b.add_argument("--out", metavar="DIR", help="where to write it (default: bundles/<dc>)")
    b.add_argument("--json", action="store_true", help="print the result as one JSON document")
    add_site_flags(b)
    v = sub.add_parser("verify", help="check a bundle's signature and every file, offline")
    v.add_argument("bundle", help="a bundle directory or tarball")
    v.add_argument("--allowed-signers", required=True, metavar="FILE", help="the keys that may sign (ssh-keygen(1))")
    v.add_argument("--json", action="store_true", help="print the result as one JSON document")
    d = sub.add_parser("diff", help="every difference between two bundles")
    d.add_argument("old", help="a bundle directory or tarball")
    d.add_argument("new", help="a bundle directory or tarball")
    d.add_argument("--allowed-signers", metavar="FILE", help="verify both first (recommended)")
    d.add_argument("--json", action="store_true", help="print the differences as one JSON document")


def run(args: argparse.Namespace) -> int:
    """Run ``pyctl bundle``; returns the exit code."""
    if args.action == "build":
        return _build(args)
    if args.action == "verify":
        verified = manifest.verify(Path(args.bundle), sign.verifier(Path(args.allowed_signers)))
        doc = _summary(verified.manifest) | {"ok": True, "bundle": args.bundle, "signer": verified.signer}
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            print(f"{args.bundle}: good: {doc['files']} files, {doc['bytes']} bytes, signed by {verified.signer}; "
                  f"{doc['dc']} at input digest {doc['input_digest']}")
        return ExitCode.OK
    if args.allowed_signers:
        check = sign.verifier(Path(args.allowed_signers))
        for path in (args.old, args.new):
            manifest.verify(Path(path), check)
    difference = diff_mod.compare(Path(args.old), Path(args.new))
    if args.json:
        print(json.dumps(difference.to_dict(), indent=2))
    else:
        print("\n".join(difference.lines()) if not difference.same else "the bundles are the same")
    return ExitCode.OK if difference.same else ExitCode.FAILED


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"dc": doc["dc"], "input_digest": doc["input_digest"]["value"], "platform": doc.get("platform"),
            "files": len(doc["files"]), "bytes": sum(int(f["size"]) for f in doc["files"])}


def _build(args: argparse.Namespace) -> int:
    built = build_mod.build(args.dc, common.site_flags(args), Path(args.key).expanduser(),
                            out=Path(args.out) if args.out else None, say=eprint)
    changes = built.changes
    doc = _summary(built.manifest) | {
        "ok": True, "directory": str(built.directory), "tarball": str(built.tarball), "tarball_bytes": built.size,
        "seconds": round(built.seconds, 1), "previous": built.previous.name if built.previous else None,
        "changes": changes.to_dict() if changes else None}
    if args.json:
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    print(f"bundle of {args.dc}: {built.tarball} ({built.size / 1e6:.1f} MB, {doc['files']} files, "
          f"input digest {doc['input_digest'][:12]}, built in {built.seconds:.1f} s)")
    if changes is None:
        print("changes: none to compare (the first bundle of this data center here)")
    elif changes.same:
        print(f"changes against {built.previous.name if built.previous else ''}: none")
    else:
        print(f"changes against {built.previous.name if built.previous else ''}:")
        print("\n".join(f"  {line}" for line in changes.lines()))
    return ExitCode.OK
