"""Claim checks over HTTP: POST /api/v1/claims/check. Public and read-only; nothing is stored."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from fieldcast.catalog.claims import TEXT_MAX_CHARS, check_claims
from fieldcast.web.problems import Problem

router = APIRouter(
    prefix="/api/v1",
    tags=["claims"],
    responses={code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (400, 413, 422)},
)


class ClaimCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not stripped: the offsets in the answer index into exactly this string. Empty is allowed.
    text: str = Field(max_length=TEXT_MAX_CHARS)


class ClaimHitOut(BaseModel):
    start: int = Field(description="Offset of the first character (Python str index, code points).")
    end: int = Field(
        description="Offset after the last character: text[start:end] == term, the words that carry the claim."
    )
    term: str
    rule: str = Field(
        description="absolute_term | state_endorsement | medical_claim | health_food_efficacy | medicine_comparison"
    )
    article: str = Field(description="Chinese legal citation, e.g. 《广告法》第九条第三项.")
    suggestion: str = Field(description="Rewrite hint, in the language of the matched term.")


class ClaimCheckOut(BaseModel):
    hits: list[ClaimHitOut]


@router.post("/claims/check", response_model=ClaimCheckOut)
async def api_check_claims(data: ClaimCheckIn) -> ClaimCheckOut:
    """Check any text against the Advertising Law; an empty `hits` list means nothing was found."""
    # Segmentation is CPU work (tens of ms for the longest text, ~1 s for the first call while the
    # dictionary loads): keep it off the event loop.
    hits = await run_in_threadpool(check_claims, data.text)
    return ClaimCheckOut(hits=[ClaimHitOut(**asdict(hit)) for hit in hits])
