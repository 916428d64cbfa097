from typing import Annotated

from fastapi import APIRouter, Depends

from search.limits import search_limiter
from search.params import Pagination

router = APIRouter(prefix="/search", tags=["search"], dependencies=[Depends(search_limiter)])


@router.get("")
async def search(q: str, page: Annotated[Pagination, Depends()]) -> dict:
    return {"q": q, "offset": page.offset, "limit": page.limit}


@router.get("/suggest")
async def suggest(prefix: str) -> list[str]:
    return [prefix + "a", prefix + "b"]
