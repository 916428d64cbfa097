from fastapi import APIRouter
from fastapi.responses import Response

from . import weather
from .vcs import current_revision as rev

router = APIRouter()


@router.get("/weather/{city}")
async def weather_now(city: str) -> dict:
    return weather.current(city)


@router.get("/weather/{city}/radar.png")
async def weather_radar(city: str) -> Response:
    return Response(weather.radar_png(city), media_type="image/png")


@router.get("/version")
async def version() -> dict[str, str]:
    return {"rev": rev()}
