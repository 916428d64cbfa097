import subprocess
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

STATIC = Path("/srv/static")


async def version(request: Request) -> JSONResponse:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return JSONResponse({"sha": sha})


async def serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    data = open(STATIC / name, "rb").read()
    return Response(data, media_type="application/octet-stream")


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


routes = [
    Route("/version", version, methods=["GET"]),
    Route("/healthz", health, methods=["GET"]),
    Mount("/assets", routes=[Route("/{name}", serve_asset, methods=["GET"])]),
]

app = Starlette(routes=routes)
