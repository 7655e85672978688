"""`pyctl mirror serve BUNDLE`: a checked bundle's packages and files as the data center's mirror.

The bundle is checked first (``pyctl bundle verify``); a tarball is then unpacked into a new directory
(``--root``, default a temporary one removed at exit) and checked again there. The server serves the
files the manifest lists under ``mirror/`` and nothing else, in the foreground until SIGTERM or Ctrl-C
(run it as a systemd service on the mirror host). Start-up lines go to stderr, then one line per request.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from pyctl.bundle import manifest, serve, sign
from pyctl.cli.common import eprint
from pyctl.errors import ConfigError, ExitCode

DEFAULT_PORT = 18088
MIRROR_DIR = "mirror"

EPILOG = f"""\
examples:
  pyctl mirror serve bundles/lab/lab-0123456789ab.tar --allowed-signers allowed_signers \\
      --bind 172.31.213.1 --bind 127.0.0.1
        serves http://172.31.213.1:{DEFAULT_PORT}/debian/…, /nvidia/…, /kubernetes/release/… as the bundle
        carries them: the URLs its group_vars name for the mirrors

exit codes: 0 stopped, 3 the bundle fails its check (named error) or the address cannot be bound
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mirror`` to the pyctl subcommands."""
    p = subparsers.add_parser(
        "mirror", help="serve a checked bundle as the data center's mirror (air-gapped high side)",
        description=__doc__.splitlines()[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = sub.add_parser("serve", help="check the bundle, then serve its mirror/ tree",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("bundle", help="a bundle directory or tarball")
    s.add_argument("--allowed-signers", required=True, metavar="FILE", help="the keys that may sign (ssh-keygen(1))")
    s.add_argument("--bind", action="append", default=[], metavar="ADDR",
                   help="an address to serve on (repeatable; never a wildcard; default 127.0.0.1)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default %(default)s)")
    s.add_argument("--root", metavar="DIR", help="unpack a tarball here (must not exist; kept after exit)")
    s.add_argument("--json", action="store_true", help="say what is served as one JSON line on stdout at start")


def run(args: argparse.Namespace) -> int:
    """Run ``pyctl mirror serve`` until stopped; returns the exit code."""
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    addresses = args.bind or ["127.0.0.1"]
    if wild := [a for a in addresses if a in serve.WILDCARDS]:
        raise ConfigError(f"--bind {wild[0]!r}: name each address to serve on, never a wildcard")
    check = sign.verifier(Path(args.allowed_signers))
    verified = manifest.verify(Path(args.bundle), check)
    temp = None
    if not verified.bundle.is_dir():
        if args.root:
            dest = Path(args.root)
        else:
            temp = Path(tempfile.mkdtemp(prefix="pyctl-mirror-"))
            dest = temp / "bundle"
        verified = manifest.unpack(verified, dest, check)
    prefix = f"{MIRROR_DIR}/"
    listed = {f["path"].removeprefix(prefix): f["sha256"] for f in verified.manifest["files"]
              if f["path"].startswith(prefix)}
    urls = [f"http://{a}:{args.port}/" for a in addresses]
    eprint(f"mirror: {verified.dc} bundle at input digest {verified.manifest['input_digest']['value'][:12]} "
           f"(signed by {verified.signer}): {len(listed)} files at {', '.join(urls)}")
    if args.json:
        print(json.dumps({"dc": verified.dc, "files": len(listed), "urls": urls, "root": str(verified.bundle)}),
              flush=True)
    try:
        serve.serve(verified.bundle / MIRROR_DIR, args.port, addresses, listed=listed)
    except serve.ServeError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    sys.stderr.write("mirror: stopped\n")
    return ExitCode.OK
