import os
from dataclasses import dataclass, field


@dataclass
class Settings:
    title: str = "reports"
    debug: bool = field(default_factory=lambda: os.getenv("DEBUG") == "1")
