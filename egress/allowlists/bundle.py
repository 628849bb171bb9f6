"""``--all``: every format for every region, the published documents, a SHA256SUMS manifest and, with a
signing key, Ed25519 signatures; and the verification of such a tree.

Layout (paths relative to the tree's root)::

    <region>/<format file>           every format of :data:`.formats.FORMATS`
    <region>/ip_addresses.json       the region's published document at the same moment (+ .sig when signed)
    README.txt                       how to verify
    SHA256SUMS                       ``sha256sum`` format over every file above, sorted by path
    SHA256SUMS.sig                   Ed25519 signature of SHA256SUMS (when signed)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..document import render_published
from ..signing import SIGNATURE_SUFFIX, VerificationFailed, sign, verify
from .content import build
from .formats import FORMATS

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from ..plan import Plan
    from ..timeline import Announcement

MANIFEST = "SHA256SUMS"
DOCUMENT = "ip_addresses.json"
README = """\
smtp-egress allowlists: one folder per region, one file per format, and the region's published
document (ip_addresses.json, what GET /v1/info/ip_addresses serves) at the same moment.

Check that no file was altered or truncated (GNU coreutils):

    sha256sum -c SHA256SUMS

When SHA256SUMS.sig is present, check the signature with the platform's public key (obtained
from the platform, not from this folder), then the checksums:

    openssl pkeyutl -verify -pubin -inkey smtp-egress.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
    sha256sum -c SHA256SUMS

or both at once: egress allowlist --verify DIR --public-key smtp-egress.pub
Each <region>/ip_addresses.json.sig is the signature of that document alone, checked the same way.
"""
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_files(
    plan: Plan,
    anns: dict[str, Announcement],
    moment: dt.datetime,
    generated_at: dt.datetime,
    *,
    live_only: bool = False,
    aggregate: bool = True,
    key: Ed25519PrivateKey | None = None,
    simulated: bool = False,
) -> tuple[dict[str, bytes], list[str]]:
    """Every file of the tree (relative POSIX path -> bytes) and the limit warnings, each naming its file."""
    files: dict[str, bytes] = {"README.txt": README.encode()}
    warnings: list[str] = []
    for region in sorted(plan.regions):
        al = build(
            plan, region, anns, moment, generated_at, live_only=live_only, aggregate=aggregate, simulated=simulated
        )
        for fmt in FORMATS.values():
            out = fmt.render(al)
            files[f"{region}/{fmt.filename}"] = out.data
            warnings += [f"{region}/{fmt.filename}: {w}" for w in out.warnings]
        doc = render_published(plan, region, anns, moment, simulated=simulated)
        files[f"{region}/{DOCUMENT}"] = doc.json_bytes
        if key is not None:
            files[f"{region}/{DOCUMENT}{SIGNATURE_SUFFIX}"] = sign(key, doc.json_bytes)
    manifest = "".join(f"{sha256_hex(files[rel])}  {rel}\n" for rel in sorted(files)).encode()
    files[MANIFEST] = manifest
    if key is not None:
        files[MANIFEST + SIGNATURE_SUFFIX] = sign(key, manifest)
    return files, warnings


@dataclasses.dataclass
class VerifyReport:
    root: str
    files_checked: int = 0
    signature: str = "not checked (no public key given)"
    documents_signed: list[str] = dataclasses.field(default_factory=list)
    unlisted: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_manifest(text: str, source: str) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        rel = m.group(2) if m else ""
        parts = PurePosixPath(rel).parts
        if not m or rel.startswith("/") or ".." in parts or "\\" in rel:
            raise VerificationFailed(f"{source}:{number}: {line!r} is not a 'SHA256  relative/path' line")
        entries.append((m.group(1), rel))
    if not entries:
        raise VerificationFailed(f"{source} lists no files")
    return entries


def verify_tree(root: Path, public_key: Ed25519PublicKey | None = None) -> VerifyReport:
    """Check the manifest's signature (with ``public_key``), every listed checksum and each signed document."""
    report = VerifyReport(str(root))
    manifest_path = root / MANIFEST
    try:
        manifest = manifest_path.read_bytes()
    except OSError as exc:
        raise VerificationFailed(f"cannot read {str(manifest_path)!r}: {exc.strerror or exc}") from None
    if public_key is not None:
        sig_path = root / (MANIFEST + SIGNATURE_SUFFIX)
        if not sig_path.is_file():
            raise VerificationFailed(f"{str(sig_path)!r} is missing: the tree is not signed")
        verify(public_key, manifest, sig_path.read_bytes(), str(manifest_path))
        report.signature = "ok"
    entries = parse_manifest(manifest.decode("utf-8", "replace"), str(manifest_path))
    listed = {rel for _, rel in entries}
    for digest, rel in entries:
        path = root / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.problems.append(f"{rel}: cannot read it ({exc.strerror or exc})")
            continue
        report.files_checked += 1
        if sha256_hex(data) != digest:
            report.problems.append(f"{rel}: checksum mismatch (expected {digest}, found {sha256_hex(data)})")
        elif public_key is not None and rel.endswith("/" + DOCUMENT):
            sig_rel = rel + SIGNATURE_SUFFIX
            if sig_rel not in listed:
                report.problems.append(f"{rel}: no signature {sig_rel} in the manifest")
                continue
            try:
                verify(public_key, data, (root / sig_rel).read_bytes(), rel)
                report.documents_signed.append(rel)
            except (VerificationFailed, OSError) as exc:
                report.problems.append(str(exc))
    skip = {MANIFEST, MANIFEST + SIGNATURE_SUFFIX}
    report.unlisted = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in listed | skip
    )
    return report
