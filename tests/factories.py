"""Test data builders shared by the service, flow and channel tests."""

from __future__ import annotations

import hashlib
from typing import Any

from ocop_core.authz import Actor
from ocop_core.models import Dossier, ProducerKind
from ocop_core.rules import requirements_for
from ocop_core.services import dossiers
from ocop_core.services.dossiers import ProducerInput, RegistrationInput

# Current (post-2025) communes of Lai Châu (province 12) and one of Hà Nội (01).
LAI_CHAU = "12"
BINH_LU = "03390"
TAN_PHONG = "03408"
HOAN_KIEM = "00070"


# The rest of Mẫu 01, as the producer's one sitting leaves it (submitting needs it).
MAU01_DETAILS = {
    "description": "Mật ong hoa bạc hà.",
    "local_share": "over_75",
    "workers": 12,
    "idea_origin": "tradition",
    "identity": "Nghề nuôi ong của người Giáy",
    "market": "province",
    "support": "packaging",
}


def registration(
    commune: str = BINH_LU, criteria_set: int = 4, name: str = "Mật ong bạc hà", **kw: Any
) -> RegistrationInput:
    return RegistrationInput(
        producer=ProducerInput(
            kind=ProducerKind.COOPERATIVE,
            name=kw.pop("producer_name", "HTX Ong mật Bình Lư"),
            commune_code=commune,
            representative="Lò Văn A",
            phone="0912345678",
        ),
        product_name=name,
        criteria_set=criteria_set,
        details=kw.pop("details", dict(MAU01_DETAILS)),
        **kw,
    )


def page(seed: str) -> dict[str, Any]:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return {
        "path": f"media/{digest[:2]}/{digest}.jpg",
        "sha256": digest,
        "mime": "image/jpeg",
        "pages": 1,
        "size_bytes": 1000,
        "quality_flags": [],
    }


async def attach_all(
    s: Any, core: Any, actor: Actor, dossier: Dossier, *, skip: frozenset[str] = frozenset()
) -> None:
    """Upload one page for every blocking requirement (except ``skip``)."""
    for req in requirements_for(dossier.criteria_set, dossier.attempt):
        if req.blocking and req.code not in skip:
            await dossiers.record_document(
                s,
                core.ctx,
                actor,
                dossier,
                requirement=req.code,
                pages=[page(f"{dossier.receipt_code}-{req.code}")],
            )
