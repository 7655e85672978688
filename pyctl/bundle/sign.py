"""The manifest's signature: ``ssh-keygen -Y sign``, the SSHSIG format git signs commits with.

Why SSH signatures: every operator already holds an SSH key (often in an agent or on a hardware token),
OpenSSH is on every controller and air-gapped host (no GnuPG keyring to carry and trust), and the
allowed-signers file says in plain text which keys may sign (git's ``gpg.ssh.allowedSignersFile``).
The namespace ``pyctl-bundle`` binds a signature to this use: a signature made for a git commit or a
file under another namespace does not verify here. Ed25519 and RSA signatures are deterministic, so the
same manifest signed with the same key gives the same bytes (ECDSA's do not).

:func:`sign` signs with a private key file, or with a public key file whose private half is in the
SSH agent (``$SSH_AUTH_SOCK``). :func:`verifier` checks against an allowed-signers file
(``ssh-keygen(1)``, ALLOWED SIGNERS): first which principal the signing key belongs to
(``-Y find-principals``: none is a wrong signer), then the signature over the manifest's bytes (``-Y
verify``: a failure is a bad signature, the manifest changed after it was signed).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from pyctl.bundle.manifest import BAD_SIGNATURE, WRONG_SIGNER, BundleError, SignatureCheck
from pyctl.errors import ConfigError

NAMESPACE = "pyctl-bundle"
_TIMEOUT_S = 60


def _keygen(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["ssh-keygen", *args], input=data, capture_output=True, check=False,
                              timeout=_TIMEOUT_S)
    except FileNotFoundError as exc:
        raise ConfigError("ssh-keygen not found: install OpenSSH's client (Debian: openssh-client)") from exc


def sign(data: bytes, key: Path) -> bytes:
    """The SSHSIG signature of ``data`` with ``key`` (ConfigError naming what ssh-keygen said)."""
    if not key.is_file():
        raise ConfigError(f"--key {key}: no such file (a private key, or a public key whose private key is "
                          "in the SSH agent)")
    proc = _keygen(["-q", "-Y", "sign", "-n", NAMESPACE, "-f", str(key)], data)
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        detail = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise ConfigError(f"cannot sign with {key}: {detail}")
    return proc.stdout


def verifier(allowed_signers: Path) -> SignatureCheck:
    """A check of a manifest's signature against ``allowed_signers``; returns the signer's principal."""
    if not allowed_signers.is_file():
        raise ConfigError(f"--allowed-signers {allowed_signers}: no such file (lines of `PRINCIPAL "
                          f"namespaces=\"{NAMESPACE}\" KEYTYPE KEY`, ssh-keygen(1) ALLOWED SIGNERS)")

    def check(data: bytes, signature: bytes) -> str:
        with tempfile.NamedTemporaryFile(prefix="pyctl-bundle-", suffix=".sig") as sig:
            sig.write(signature)
            sig.flush()
            found = _keygen(["-Y", "find-principals", "-s", sig.name, "-f", str(allowed_signers)], b"")
            principals = found.stdout.decode(errors="replace").split()
            if found.returncode != 0 or not principals:
                detail = found.stderr.decode(errors="replace").strip()
                raise BundleError(WRONG_SIGNER, f"the manifest is signed by a key {allowed_signers} does not allow"
                                  + (f" ({detail})" if detail else ""))
            for principal in principals:
                proc = _keygen(["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE,
                                "-s", sig.name], data)
                if proc.returncode == 0:
                    return principal
            detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
            raise BundleError(BAD_SIGNATURE, f"the manifest does not match its signature by {principals[0]}: it "
                              f"changed after it was signed ({detail})")

    return check
