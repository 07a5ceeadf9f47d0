"""Files a producer sends: through the media pipeline, then kept as pages of one document.

Processing and recording are apart so a file sent before the person said which document it
is can be kept (stored, listed in the state as "pending") and recorded once they choose.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.flows.engine import FlowContext, Reask
from bot.flows.types import FileIn, Reply
from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.media import MediaStore, ProcessedFile, process_upload
from ocop_core.models import Dossier
from ocop_core.services import dossiers, status

MAX_FILES_PER_MESSAGE = 10


@dataclass
class Batch:
    pages: list[dict[str, Any]] = field(default_factory=list)  # ready for record_document
    problems: list[str] = field(default_factory=list)  # one line per refused file

    @property
    def page_count(self) -> int:
        """Pages, not files: a PDF of two pages counts two."""
        return sum(int(p.get("pages") or 1) for p in self.pages)


async def process(fc: FlowContext, files: tuple[FileIn, ...], dossier: Dossier | None) -> Batch:
    """Every file through the media pipeline and into the store; one answer for an album."""
    if len(files) > MAX_FILES_PER_MESSAGE:
        raise Reask(N_("docs.too_many_files"), limit=MAX_FILES_PER_MESSAGE)
    results: list[ProcessedFile | DomainError] = []
    for f in files:
        try:
            results.append(
                await asyncio.to_thread(
                    process_upload, f.data, filename=f.filename, declared_mime=f.mime
                )
            )
        except DomainError as exc:
            results.append(exc)
    known: set[str] = set()
    if dossier is not None:
        known = {d.sha256 for d in await dossiers.current_documents(fc.s, dossier.id or 0)}
    known |= {str(p["sha256"]) for p in fc.data.get("pending") or []}
    batch = Batch()
    store = MediaStore(fc.core.media_dir)
    for number, result in enumerate(results, start=1):
        problem = _refusal(fc, result)
        if problem is not None:
            batch.problems.append(fc.t(N_("docs.file_refused"), n=number, reason=problem))
            continue
        assert isinstance(result, ProcessedFile)
        stored = await asyncio.to_thread(store.store_processed, result)
        if stored.sha256 in known:  # the same photo sent twice: keep one copy
            batch.problems.append(fc.t(N_("docs.duplicate"), n=number))
            continue
        known.add(stored.sha256)
        batch.pages.append(
            {
                "path": str(Path("media") / stored.path),
                "sha256": stored.sha256,
                "mime": stored.mime,
                "pages": stored.pages,
                "size_bytes": stored.size,
                "quality_flags": list(result.flags),
            }
        )
    return batch


def _refusal(fc: FlowContext, result: ProcessedFile | DomainError) -> str | None:
    if isinstance(result, DomainError):
        return fc.t(result.key, **result.params)
    if result.kind == "pdf" and not fc.caps.receive_pdf:
        return fc.t(N_("docs.photos_only"))
    if not result.acceptable:
        return " ".join(fc.t(h) for h in result.hints)
    return None


async def record(fc: FlowContext, dossier: Dossier, requirement: str, batch: Batch) -> None:
    if batch.pages:
        await dossiers.record_document(
            fc.s,
            fc.core,
            fc.actor,
            dossier,
            requirement=requirement,
            pages=batch.pages,
            replace=bool(fc.data.get("replace")),
        )
        fc.data["replace"] = False


async def report(fc: FlowContext, dossier: Dossier, requirement: str, batch: Batch) -> None:
    """What was received, what was refused and why, and what is still missing: one message."""
    summary = await status.summarise(fc.s, fc.core, dossier)
    done, total = summary.progress
    lines = []
    if batch.pages:
        name = fc.t(f"doc.{requirement}")
        lines.append(fc.t(N_("docs.received"), count=batch.page_count, name=name))
    lines += batch.problems
    lines.append(fc.t(N_("docs.progress"), done=done, total=total))
    if summary.missing:
        names = ", ".join(fc.t(r.label_key) for r in summary.missing[:6])
        lines.append(fc.t(N_("docs.still_missing"), names=names))
    else:
        lines.append(fc.t(N_("docs.all_there")))
    fc.replies.append(Reply("\n".join(lines)))
