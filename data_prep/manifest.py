"""SHA-256 manifests of dataset folders (``sha256sum`` format), to compare copies.

``create`` hashes every file under a folder into ``MANIFEST.sha256`` (``<hex>  <relative path>``,
sorted, ``/`` separators, hidden files skipped), readable by ``sha256sum -c``. ``check`` compares a
copy against a manifest that you or a colleague made, listing changed, missing and extra files.
The kit ships no checksums of the third-party datasets (it has no copy to hash).

Example::

    python -m data_prep.manifest create ~/data/market_data
    python -m data_prep.manifest check  ~/data/market_data --manifest colleague.sha256
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from data_prep._common import fail

MANIFEST_NAME = "MANIFEST.sha256"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _walk(root: Path, skip: set[Path]) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            p = Path(dirpath) / fn
            if fn.startswith(".") or p.resolve() in skip:
                continue
            out.append(p.relative_to(root).as_posix())
    return sorted(out)


def create_manifest(root: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the manifest of ``root`` (default ``root/MANIFEST.sha256``); returns its path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"folder {root} does not exist")
    out = Path(out) if out else root / MANIFEST_NAME
    lines = [f"{sha256_file(root / rel)}  {rel}"
             for rel in _walk(root, {out.resolve()})]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, out)
    return out


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """``{relative path: hex}``; raises ValueError naming the line of a malformed entry."""
    entries: dict[str, str] = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"{path}, line {i}: expected '<64 hex digits>  <path>'")
        entries[m.group(2)] = m.group(1).lower()
    return entries


@dataclass
class ManifestCheck:
    """Differences between a folder and a manifest; ``ok`` ignores extra files."""

    checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing


def check_manifest(root: str | os.PathLike,
                   manifest: str | os.PathLike | None = None) -> ManifestCheck:
    """Compare ``root`` with ``manifest`` (default ``root/MANIFEST.sha256``)."""
    root = Path(root)
    manifest = Path(manifest) if manifest else root / MANIFEST_NAME
    if not root.is_dir():
        raise FileNotFoundError(f"folder {root} does not exist")
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {manifest} does not exist")
    entries = read_manifest(manifest)
    res = ManifestCheck()
    for rel, digest in sorted(entries.items()):
        p = root / rel
        if not p.is_file():
            res.missing.append(rel)
            continue
        res.checked += 1
        if sha256_file(p) != digest:
            res.mismatched.append(rel)
    res.extra = [r for r in _walk(root, {manifest.resolve()}) if r not in entries]
    return res


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.manifest",
                                description="Create or check a SHA-256 manifest of a folder.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="hash every file into MANIFEST.sha256")
    c.add_argument("root")
    c.add_argument("--out", default=None, help=f"manifest path (default: ROOT/{MANIFEST_NAME})")
    k = sub.add_parser("check", help="verify a folder against a manifest")
    k.add_argument("root")
    k.add_argument("--manifest", default=None,
                   help=f"manifest path (default: ROOT/{MANIFEST_NAME})")
    k.add_argument("--max-list", type=int, default=20, help="names listed per category")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "create":
            if args.out and not Path(args.out).parent.is_dir():
                fail(f"folder of --out {args.out} does not exist")
            out = create_manifest(args.root, args.out)
            n = sum(1 for _ in open(out, encoding="utf-8"))
            print(f"wrote {n} entries to {out}")
            return 0
        res = check_manifest(args.root, args.manifest)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    for label, items in (("CHANGED", res.mismatched), ("MISSING", res.missing),
                         ("extra (not in manifest)", res.extra)):
        for rel in items[:args.max_list]:
            print(f"{label}: {rel}")
        if len(items) > args.max_list:
            print(f"{label}: ... and {len(items) - args.max_list} more")
    print(f"{res.checked} file(s) checked: {len(res.mismatched)} changed, {len(res.missing)} "
          f"missing, {len(res.extra)} extra: " + ("OK" if res.ok else "FAILED"))
    return 0 if res.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
