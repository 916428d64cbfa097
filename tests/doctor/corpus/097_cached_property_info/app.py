"""PSE102 as info: file read inside a cached_property, reached by attribute access."""

import hashlib
import hmac
from functools import cached_property
from pathlib import Path

from fastapi import FastAPI

app = FastAPI()


class Settings:
    key_file = "/run/secrets/signing_key"

    @cached_property
    def signing_key(self) -> bytes:
        return Path(self.key_file).read_bytes().strip()


settings = Settings()


@app.get("/sign/{value}")
async def sign(value: str) -> dict:
    mac = hmac.new(settings.signing_key, value.encode(), hashlib.sha256)
    return {"value": value, "signature": mac.hexdigest()}
