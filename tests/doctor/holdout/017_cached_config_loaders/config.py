import functools
import json
from functools import lru_cache
from pathlib import Path

CONFIG_PATH = Path("/etc/api/config.json")
FLAGS_PATH = Path("/etc/api/flags.json")


@lru_cache(maxsize=1)
def get_settings() -> dict:
    with open(CONFIG_PATH, encoding="utf-8") as f:
        raw = f.read()
    return json.loads(raw)


@functools.cache
def feature_flags() -> dict:
    return json.loads(FLAGS_PATH.read_text())


class TenantRegistry:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @functools.cached_property
    def tenants(self) -> list[str]:
        data = json.loads(self.path.read_bytes())
        return [t["name"] for t in data]
