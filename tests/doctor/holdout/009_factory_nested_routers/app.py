from fastapi import FastAPI

from api import api_router
from settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title=settings.title, docs_url="/docs" if settings.debug else None)
    app.include_router(api_router)
    return app


app = create_app()
