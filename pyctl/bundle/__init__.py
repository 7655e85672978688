"""Desired-state bundles: everything that decides a data center's hosts, in one signed file.

A bundle (``pyctl bundle build DC``) is a directory, and the same as one tarball (``<dir>.tar``):

- ``MANIFEST.json``: every other file's path, sha256, size and mode, keyed by the input digest
  (:mod:`pyctl.digest`); ``MANIFEST.json.sig``: its SSH signature (:mod:`pyctl.bundle.sign`);
- ``inputs/``: the NetBox records (``netbox-records.json``), the inventory as the roles get it
  (``inventory.json``), the plan (``plan.json``), the site's ``group_vars/``;
- ``project/``: the roles, playbooks and plugins and ``ansible.cfg`` the digest's ``roles`` part covers;
- ``artifacts.json``: the bill of materials and its closure (each file served, where it came from);
- ``mirror/``: what ``pyctl mirror serve`` publishes, under the URL paths the roles' mirror variables name
  (the Debian packages with the archive's own signed index, the NVIDIA repository, the binaries).

:mod:`~pyctl.bundle.manifest` writes and verifies the files and the tarball (pure but for the file
system), :mod:`~pyctl.bundle.sign` signs and checks the manifest, :mod:`~pyctl.bundle.closure` resolves
the packages on a host of the target distribution, :mod:`~pyctl.bundle.build` puts a bundle together
and :mod:`~pyctl.bundle.diff` compares two.
"""
