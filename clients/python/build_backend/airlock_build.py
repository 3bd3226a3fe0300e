"""A PEP 517 build backend for the Airlock SDK that needs only the standard library.

pip runs it in place of setuptools (pyproject.toml names it with backend-path), so
installing the SDK downloads nothing. It builds:

- a wheel holding src/airlock and the .dist-info metadata (PEP 427, PEP 376 RECORD);
- an editable wheel (PEP 660) holding a .pth file that puts src/ on sys.path;
- an sdist (the project's files under name-version/, with PKG-INFO).

The metadata comes from the [project] table of pyproject.toml: name, version,
description, requires-python and the README as the long description.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "airlock"
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the few string keys this file uses
        text = raw.decode("utf-8")
        table = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return dict(re.findall(r'^([a-z-]+)\s*=\s*"([^"]*)"', table, re.M))
    return tomllib.loads(raw.decode("utf-8"))["project"]


def _names():
    p = _project()
    dist = re.sub(r"[-_.]+", "_", p["name"]).lower()
    return p, dist, p["version"]


def _metadata():
    p, _, version = _names()
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + version]
    if p.get("description"):
        lines.append("Summary: " + p["description"])
    if p.get("requires-python"):
        lines.append("Requires-Python: " + p["requires-python"])
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _wheel_file():
    return "Wheel-Version: 1.0\nGenerator: airlock_build\nRoot-Is-Purelib: true\nTag: " + TAG + "\n"


def _package_files():
    src = os.path.join(ROOT, "src")
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(src, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, src).replace(os.sep, "/"), full))
    return out


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_wheel(wheel_directory, entries):
    """Write a wheel of entries [(archive name, bytes)] plus its dist-info; return its file name."""
    _, dist, version = _names()
    info = "%s-%s.dist-info" % (dist, version)
    entries = list(entries) + [
        (info + "/METADATA", _metadata().encode("utf-8")),
        (info + "/WHEEL", _wheel_file().encode()),
    ]
    record = "".join("%s,%s,%d\n" % (n, _digest(d), len(d)) for n, d in entries) + info + "/RECORD,,\n"
    entries.append((info + "/RECORD", record.encode()))
    filename = "%s-%s-%s.whl" % (dist, version, TAG)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = []
    for name, full in _package_files():
        with open(full, "rb") as f:
            entries.append((name, f.read()))
    return _write_wheel(wheel_directory, entries)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _, dist, _ = _names()
    pth = (os.path.join(ROOT, "src") + "\n").encode()
    return _write_wheel(wheel_directory, [(dist + ".pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    _, dist, version = _names()
    base = "%s-%s" % (dist, version)
    filename = base + ".tar.gz"
    paths = ["pyproject.toml", "README.md", "build_backend/airlock_build.py"]
    paths += ["src/" + n for n, _ in _package_files()]
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in paths:
            full = os.path.join(ROOT, rel)
            if os.path.exists(full):
                tar.add(full, arcname=base + "/" + rel, recursive=False)
        data = _metadata().encode("utf-8")
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    return filename
