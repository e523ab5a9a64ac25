"""Versioned model folders: files + metadata.json with checksums and library versions.

A folder is written next to its final place and renamed into it, so a crash mid-save
never leaves a half-written model where the site would load it.

Two layouts load alike, because every loader reads ``models/<name>``:

- flat: ``models/<name>/`` is the model (the committed transformer, ``make models``);
- versioned: ``models/<name>`` is a symlink to ``models/.versions/<name>/<version>/``.
  A new version is written into its own fresh folder and published by replacing the
  symlink with ``os.replace``, one atomic rename: a reader sees the old version or the new
  one, never a mix. Older versions stay (``KEEP_VERSIONS``) for a rollback by hand.

A save is versioned inside ``versioned_saves()`` (``python -m ml train --with-reviews``,
``--new-version``) and whenever the target already is a symlink. Turning a flat folder
into a version moves it under ``.versions`` first; in the instant between that rename and
the symlink's, ``models/<name>`` is absent: a running site keeps the model it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.errors import ArtifactError, TrainingBusy
from ml.paths import display_path

ARTIFACT_FORMAT = 1
METADATA_FILE = "metadata.json"
VERSIONS_DIR = ".versions"
KEEP_VERSIONS = 3  # besides the current one
_VERSIONED: ContextVar[bool] = ContextVar("versioned_saves", default=False)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@contextmanager
def versioned_saves() -> Iterator[None]:
    """Every artifact saved inside is published as a new version (see the module's notes)."""
    token = _VERSIONED.set(True)
    try:
        yield
    finally:
        _VERSIONED.reset(token)


@contextmanager
def training_lock(folder: Path) -> Iterator[None]:
    """Hold the models folder of ``folder`` for one training at a time (``TrainingBusy``
    otherwise, at once). The lock is the operating system's: it goes with the process, so a
    killed training leaves nothing to clean up."""
    import fcntl

    path = Path(folder).parent / ".train.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process"
            raise TrainingBusy(
                f"another training is writing to {display_path(path.parent)} ({holder}); "
                "run this again once it has finished"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}, since {utc_now()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_artifact(folder: Path, writers: Mapping[str, Callable[[Path], object]], metadata: dict) -> Path:
    """Write each file with its writer, add checksums to ``metadata``, then swap into place."""
    folder = Path(folder)
    versioned = _VERSIONED.get() or folder.is_symlink()
    home = versions_home(folder) if versioned else folder.parent
    home.mkdir(parents=True, exist_ok=True)
    version = None
    if versioned:
        _adopt_flat(folder, home)
        # Stored answers name the version that made them: two versions never share a name
        # (the caller's metadata learns the name too).
        version = _free_name(home, str(metadata.get("model_version") or folder.name), stamp=True)
        metadata["model_version"] = version.name
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp", dir=home))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server running as another user
    try:
        for name, write in writers.items():
            write(staging / name)
        metadata = dict(metadata, artifact_format=ARTIFACT_FORMAT)
        metadata["files"] = _checksums(staging, writers)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        if version is not None:
            os.replace(staging, version)
            publish_version(folder, version)
            return folder
        old = None
        if folder.exists():
            old = folder.with_name(folder.name + ".tmp-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def versions_home(folder: Path) -> Path:
    """Where the versions of the model served from ``folder`` live."""
    return Path(folder).parent / VERSIONS_DIR / Path(folder).name


def _free_name(home: Path, wanted: str, stamp: bool = False) -> Path:
    """``wanted`` as a folder name; with ``stamp``, plus the time of day (its date is in
    the recorded version already), so that a name is not given twice even after pruning."""
    base = re.sub(r"[^\w.-]+", "-", wanted).strip(".-") or "version"
    if stamp:
        base = f"{base}-{datetime.now(UTC):%H%M%S}"
    candidate, number = home / base, 1
    while candidate.exists():
        number += 1
        candidate = home / f"{base}.{number}"
    return candidate


def _adopt_flat(folder: Path, home: Path) -> None:
    """A flat model folder becomes the first version (under its own version name)."""
    if folder.exists() and not folder.is_symlink():
        first = _free_name(home, _recorded_version(folder))
        os.replace(folder, first)
        _link(folder, first)


def publish_version(folder: Path, version: Path) -> None:
    """Point ``folder`` at ``version`` (a complete model folder) with one atomic rename."""
    folder, home = Path(folder), Path(version).parent
    _adopt_flat(folder, home)
    _link(folder, version)
    _prune(home, keep=Path(version).name)


def _link(folder: Path, version: Path) -> None:
    link = folder.with_name(folder.name + ".tmp-link")
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(version, folder.parent), link)
    os.replace(link, folder)


def _recorded_version(folder: Path) -> str:
    try:
        return str(json.loads((folder / METADATA_FILE).read_text()).get("model_version") or "flat")
    except (OSError, ValueError):
        return "flat"


def _prune(home: Path, keep: str) -> None:
    """Delete all but the newest ``KEEP_VERSIONS`` older versions; staging folders
    (``*.tmp*``) may belong to a save in progress and are left alone."""
    older = [path for path in home.iterdir() if path.is_dir() and ".tmp" not in path.name and path.name != keep]
    older.sort(key=lambda path: path.stat().st_mtime_ns, reverse=True)
    for path in older[KEEP_VERSIONS:]:
        shutil.rmtree(path, ignore_errors=True)


def _checksums(folder: Path, names) -> dict[str, str]:
    """sha256 of each written file; a writer that made a folder has each file inside it listed."""
    found = {}
    for name in names:
        path = folder / name
        inside = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in inside:
            found[file.relative_to(folder).as_posix()] = file_sha256(file)
    return found


def load_metadata(folder: Path, rebuild_hint: str = "") -> dict:
    folder = Path(folder)
    hint = f" Rebuild it with: {rebuild_hint}" if rebuild_hint else ""
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ArtifactError(f"No model at {folder} ({METADATA_FILE} is missing).{hint}")
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path} is corrupt ({error}).{hint}") from error
    if metadata.get("artifact_format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{folder} has artifact format {metadata.get('artifact_format')!r}; "
            f"this code reads format {ARTIFACT_FORMAT}.{hint}"
        )
    return metadata


def verify_artifact(folder: Path, metadata: dict, required_versions: dict[str, str], rebuild_hint: str = "") -> None:
    """Fail clearly on a missing/corrupt file or a library version other than the builder's."""
    folder = Path(folder)
    hint = f" Rebuild it with: {rebuild_hint}" if rebuild_hint else ""
    built_with = metadata.get("library_versions", {})
    for name, installed in required_versions.items():
        if built_with.get(name) != installed:
            raise ArtifactError(
                f"{folder} was built with {name} {built_with.get(name, 'unknown')}, "
                f"but {name} {installed} is installed; its files cannot be trusted to load.{hint}"
            )
    for name, expected in metadata.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing.{hint}")
        if file_sha256(path) != expected:
            raise ArtifactError(f"{path} is corrupt (checksum mismatch).{hint}")


def open_artifact(folder: Path, model: str, rebuild_hint: str, required_versions: dict[str, str]) -> dict[str, Any]:
    """The metadata of ``model``'s artifact in ``folder``, once its kind, files and library
    versions are checked: what every model's ``load`` does before reading its own files."""
    metadata = load_metadata(folder, rebuild_hint)
    if metadata.get("model") != model:
        raise ArtifactError(f"{folder} holds a {metadata.get('model')!r} model, not a {model}")
    verify_artifact(folder, metadata, required_versions, rebuild_hint)
    return metadata


def unreadable(folder: Path, error: Exception, rebuild_hint: str) -> ArtifactError:
    """Any failure of a model's own loader means the same thing to a user."""
    return ArtifactError(f"{display_path(folder)} could not be loaded ({error}). Rebuild it with: {rebuild_hint}")


def restored_params(
    metadata: dict[str, Any], ranges: tuple[str, ...] = ("word_ngrams", "char_ngrams")
) -> dict[str, Any]:
    """A model's recorded parameters, with the n-gram ranges JSON turned into lists back as tuples."""
    params = dict(metadata.get("params", {}))
    for name in ranges:
        if params.get(name) is not None:
            params[name] = tuple(params[name])
    return params


def restored_labels(metadata: dict[str, Any], folder: Path) -> tuple[list[str], Any]:
    """A model's labels and per-tag thresholds, checked to agree in size."""
    import numpy as np

    labels = list(metadata["labels"])
    thresholds = np.asarray(metadata["thresholds"]["per_tag"], dtype=np.float64)
    if len(thresholds) != len(labels):
        raise ArtifactError(f"{folder} is inconsistent: labels and thresholds disagree in size")
    return labels, thresholds
