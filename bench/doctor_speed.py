"""How fast ``poise doctor`` analyses a large FastAPI project, end to end.

It generates a synthetic FastAPI project of about ``--lines`` lines (100,000 by
default) into a temporary directory: one package with a models, repositories,
services and routers module per business domain (83 domains, 340 modules of about
300 lines at the default size), plus utilities, settings and the app. The code has
the usual shape: module and function docstrings, type hints, dataclasses and enums,
classes whose methods call each other through ``self`` and across modules through
imports (services use the repository of their domain and the services of other
domains), async and sync routes with ``Annotated[..., Depends(...)]`` dependencies,
``run_in_threadpool`` offloads and background tasks, and here and there a blocking
call (requests, time.sleep, file I/O, subprocess, pbkdf2) for the doctor to find. The
same seed gives the same project.

Then it times ``poise doctor DIR --format json --fail-on never`` as a subprocess
(wall time, interpreter start-up included), pinned to one CPU with ``taskset`` when
it exists, in three ways, ``--repeat`` times each:

- ``no cache``: with ``--no-cache``;
- ``cache fill``: with the disk cache, starting from an empty cache directory;
- ``warm cache``: with the cache that a previous run filled.

The cache lives in a temporary ``XDG_CACHE_HOME``, so the user's is never touched
and a run never starts warm by accident. For each it prints the median and best
seconds, lines per second (of the median) and the number of findings, which must be
the same in every run.

    .venv/bin/python bench/doctor_speed.py
    .venv/bin/python bench/doctor_speed.py --lines 20000 --repeat 1
    .venv/bin/python bench/doctor_speed.py --keep /tmp/bigapp --generate-only
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGE = "acme"
LINES_PER_MODULE = 300  # the average the generator aims at for domain modules
UTIL_MODULES = ("text", "money", "security", "paging", "clock", "codec")

NOUNS = (
    "order", "invoice", "customer", "product", "shipment", "payment", "refund", "cart",
    "coupon", "review", "warehouse", "supplier", "category", "inventory", "address",
    "subscription", "notification", "ticket", "employee", "report", "account", "catalog",
    "discount", "delivery", "store", "region", "currency", "campaign", "voucher", "parcel",
    "carrier", "quote", "contract", "budget", "asset", "vendor", "batch", "recipe",
)  # fmt: skip
VERBS = (
    "summarize", "reconcile", "validate", "archive", "refresh", "export", "score",
    "price", "schedule", "sync", "audit", "notify", "rank", "merge", "estimate", "review",
)  # fmt: skip
QUALIFIERS = (
    "totals", "history", "status", "batch", "details", "metrics", "links", "limits",
    "labels", "owners", "changes", "balance",
)  # fmt: skip
# Later laps through NOUNS prefix them: "partner_order", "legacy_invoice", ...
LAPS = ("", "partner", "legacy", "bulk", "regional", "internal", "archived", "external")
PARTS = (
    "Line", "Summary", "Snapshot", "Filter", "Page", "Event", "Change", "Link", "Quota",
    "Limit", "Label", "Metric", "Note", "Owner", "Window", "Period", "Rate", "Share",
)  # fmt: skip

# Repository method kinds, how often each is drawn and the verb of their names: most
# are plain Python, a few block (remote call, sleep, file, subprocess) or miss a timeout.
REPO_KINDS = {
    "get_cached": 4.0,
    "list": 3.0,
    "store": 3.0,
    "fetch_remote": 1.0,
    "retry": 0.4,
    "export_file": 0.4,
    "read_file": 0.4,
    "archive": 0.2,
    "post_no_timeout": 0.2,
}
REPO_VERBS = {
    "get_cached": "get",
    "list": "list",
    "store": "touch",
    "fetch_remote": "fetch",
    "retry": "wait_for",
    "export_file": "export",
    "read_file": "load",
    "archive": "pack",
    "post_no_timeout": "report",
}
ROUTE_KINDS = {"async": 5.0, "sync": 2.0, "offload": 1.0, "await": 1.5, "background": 0.7}


# -- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoMethod:
    name: str
    kind: str


@dataclass(frozen=True)
class ServiceMethod:
    name: str
    is_async: bool


@dataclass
class Domain:
    """One business domain: its four modules and what they define."""

    index: int
    name: str  # module name: "order", "partner_order"
    cls: str  # class prefix: "Order", "PartnerOrder"
    parts: list[str] = field(default_factory=list)
    repo_methods: list[RepoMethod] = field(default_factory=list)
    service_methods: list[ServiceMethod] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)  # route kinds
    deps: list[int] = field(default_factory=list)  # domains whose services it uses

    @property
    def plural(self) -> str:
        return self.name + "s"

    @property
    def sync_methods(self) -> list[ServiceMethod]:
        return [m for m in self.service_methods if not m.is_async]


def _draw(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _unique(names: Sequence[str]) -> list[str]:
    """``names``, with a number added to the second and later of equal ones."""
    seen: Counter[str] = Counter()
    out: list[str] = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _method_names(rng: random.Random, verbs: Sequence[str]) -> list[str]:
    return _unique([f"{verb}_{rng.choice(QUALIFIERS)}" for verb in verbs])


def domain_count(lines: int) -> int:
    return max(2, round(lines / (4 * LINES_PER_MODULE)))


def plan(count: int, budget: int, seed: int) -> list[Domain]:
    """``count`` domains whose modules are about ``budget`` lines each."""
    rng = random.Random(seed)
    domains: list[Domain] = []
    for index in range(count):
        noun, lap = NOUNS[index % len(NOUNS)], index // len(NOUNS)
        prefix = LAPS[lap % len(LAPS)] + (str(lap // len(LAPS)) if lap >= len(LAPS) else "")
        name = f"{prefix}_{noun}" if prefix else noun
        domain = Domain(index, name, name.title().replace("_", ""))
        # The block counts come from each module kind's header and block sizes (lines).
        n_parts = max(1, (budget - 50) // 20)
        domain.parts = [
            PARTS[i % len(PARTS)] + (str(i) if i >= len(PARTS) else "") for i in range(n_parts)
        ]
        kinds = [_draw(rng, REPO_KINDS) for _ in range(max(2, (budget - 25) // 9))]
        names = _method_names(rng, [REPO_VERBS[kind] for kind in kinds])
        domain.repo_methods = [RepoMethod(n, k) for n, k in zip(names, kinds, strict=True)]
        n_service = max(2, (budget - 40) // 11)
        names = _method_names(rng, [rng.choice(VERBS) for _ in range(n_service)])
        domain.service_methods = [ServiceMethod(n, rng.random() < 0.2) for n in names]
        domain.service_methods[0] = ServiceMethod(domain.service_methods[0].name, False)
        n_routes = max(1, (budget - 20) // 8)
        domain.routes = [_draw(rng, ROUTE_KINDS) for _ in range(n_routes)]
        if not any(m.is_async for m in domain.service_methods):
            domain.routes = ["async" if k == "await" else k for k in domain.routes]
        if index:
            domain.deps = sorted(rng.sample(range(index), min(index, rng.randint(1, 3))))
        domains.append(domain)
    return domains


# -- the code -------------------------------------------------------------------------


def models_module(d: Domain) -> str:
    out = [
        f'''"""Data shapes of the {d.name} domain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class {d.cls}Status(StrEnum):
    """Where a {d.name} is in its lifecycle."""

    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(slots=True)
class {d.cls}Record:
    """One {d.name} as stored."""

    id: int
    name: str
    status: {d.cls}Status = {d.cls}Status.DRAFT
    version: int = 1
    amount: float = 0.0
    tags: list[str] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> {d.cls}Record:
        """Build a record from the records API's JSON."""
        return cls(
            id=int(str(data["id"])),
            name=str(data.get("name", "")),
            status={d.cls}Status(str(data.get("status", "draft"))),
            version=int(str(data.get("version", 1))),
            amount=float(str(data.get("amount", 0.0))),
        )

    def to_dict(self) -> dict[str, object]:
        """The record as JSON-ready data."""
        data = asdict(self)
        data["status"] = self.status.value
        data["updated_at"] = self.updated_at.isoformat()
        return data
'''
    ]
    for part in d.parts:
        out.append(f'''

@dataclass(frozen=True, slots=True)
class {d.cls}{part}:
    """A {part.lower()} of a {d.name}."""

    {d.name}_id: int
    label: str
    quantity: int = 0
    unit_price: float = 0.0
    note: str | None = None

    @property
    def total(self) -> float:
        """Quantity times unit price."""
        return self.quantity * self.unit_price

    def describe(self) -> str:
        """A one-line description for logs."""
        return f"{{self.label}} x{{self.quantity}} ({{self.total:.2f}})"
''')
    return "".join(out)


REPO_TEMPLATES = {
    "get_cached": '''
    def {m}(self, item_id: int) -> {C}Record | None:
        """The cached {n} ``item_id``, unless it is archived."""
        record = self._cache.get(item_id)
        if record is None:
            logger.debug("cache miss for {n} %s", item_id)
            return None
        if record.status is {C}Status.ARCHIVED:
            return None
        return record
''',
    "list": '''
    def {m}(self, limit: int = 50) -> list[{C}Record]:
        """The cached {n}s that are not archived, newest first."""
        records = [r for r in self._cache.values() if r.status is not {C}Status.ARCHIVED]
        records.sort(key=lambda r: r.updated_at, reverse=True)
        return records[:limit]
''',
    "store": '''
    def {m}(self, item_id: int) -> bool:
        """Bump the cached {n} ``item_id`` to a new version."""
        current = self._cache.get(item_id)
        if current is None:
            return False
        current.version += 1
        return True
''',
    "fetch_remote": '''
    def {m}(self, item_id: int) -> {C}Record:
        """Fetch {n} ``item_id`` from the records API and cache it."""
        url = f"{{self.base_url}}/{n}s/{{item_id}}"
        response = requests.get(url, timeout=self.timeout)
        response.raise_for_status()
        record = {C}Record.from_dict(response.json())
        self._cache[item_id] = record
        return record
''',
    "retry": '''
    def {m}(self, item_id: int, attempts: int = 3) -> bool:
        """Wait for {n} ``item_id`` to reach a version, with a short back-off."""
        for attempt in range(attempts):
            record = self._cache.get(item_id)
            if record is not None and record.version > attempt:
                return True
            time.sleep(0.05 * (attempt + 1))
        return False
''',
    "export_file": '''
    def {m}(self, item_id: int) -> Path:
        """Write {n} ``item_id`` to the export directory as JSON."""
        record = self._cache[item_id]
        path = self.export_dir / f"{{item_id}}.json"
        path.write_text(json.dumps(record.to_dict(), indent=2), encoding="utf-8")
        return path
''',
    "read_file": '''
    def {m}(self, item_id: int) -> dict[str, object]:
        """The last export of {n} ``item_id``."""
        path = self.export_dir / f"{{item_id}}.json"
        with open(path, encoding="utf-8") as handle:
            data: dict[str, object] = json.load(handle)
        return data
''',
    "archive": '''
    def {m}(self, item_id: int) -> str:
        """Pack the exports of {n} ``item_id`` with the system's tar."""
        target = self.export_dir / f"{{item_id}}.tar.gz"
        command = ["tar", "-czf", str(target), str(self.export_dir)]
        subprocess.run(command, check=True, timeout=60)
        return str(target)
''',
    "post_no_timeout": '''
    def {m}(self, item_id: int) -> int:
        """Tell the audit service that {n} ``item_id`` changed."""
        payload = {{"id": item_id, "kind": "{n}"}}
        response = requests.post(f"{{self.base_url}}/audit", json=payload)
        return response.status_code
''',
}


# What each repository method kind uses from the module's imports.
REPO_NEEDS = {
    "get_cached": {"Status"},
    "list": {"Status"},
    "fetch_remote": {"requests"},
    "post_no_timeout": {"requests"},
    "retry": {"time"},
    "export_file": {"json"},
    "read_file": {"json"},
    "archive": {"subprocess"},
}


def repository_module(d: Domain) -> str:
    needs = {need for m in d.repo_methods for need in REPO_NEEDS.get(m.kind, ())}
    stdlib = sorted(["logging", *(needs & {"json", "subprocess", "time"})])
    imports = [f"import {name}" for name in stdlib] + ["from pathlib import Path", ""]
    imports += ["import requests", ""] if "requests" in needs else []
    names = f"{d.cls}Record, {d.cls}Status" if "Status" in needs else f"{d.cls}Record"
    imports.append(f"from {PACKAGE}.models.{d.name} import {names}")
    out = [
        f'''"""Persistence of {d.plural}: a cache in front of the records API."""

from __future__ import annotations

{chr(10).join(imports)}
from {PACKAGE}.settings import SETTINGS

logger = logging.getLogger(__name__)


class {d.cls}Repository:
    """Reads and writes {d.plural}."""

    def __init__(
        self, base_url: str = SETTINGS.api_url, timeout: float = SETTINGS.timeout
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._cache: dict[int, {d.cls}Record] = {{}}
        self.export_dir = Path(SETTINGS.data_dir) / "{d.name}"
'''
    ]
    for method in d.repo_methods:
        out.append(REPO_TEMPLATES[method.kind].format(m=method.name, C=d.cls, n=d.name))
    return "".join(out)


def _repo_call(method: RepoMethod) -> str:
    args = "limit=10" if method.kind == "list" else "item_id"
    return f"self.repository.{method.name}({args})"


def service_module(d: Domain, domains: Sequence[Domain], rng: random.Random) -> str:
    deps = [domains[i] for i in d.deps]
    imports = [
        f"from {PACKAGE}.models.{d.name} import {d.cls}Record",
        f"from {PACKAGE}.repositories.{d.name} import {d.cls}Repository",
    ]
    imports += [f"from {PACKAGE}.services.{dep.name} import {dep.cls}Service" for dep in deps]
    utils = rng.sample(UTIL_MODULES, 2)
    used: set[str] = set()
    init = "".join(f"\n        self.{dep.name}_service = {dep.cls}Service()" for dep in deps)
    out = [
        f'''"""Business rules for {d.plural}: what the routes call."""

from __future__ import annotations

import logging
from dataclasses import dataclass

@@IMPORTS@@

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class {d.cls}Outcome:
    """What an operation on a {d.name} did."""

    item_id: int
    changed: bool
    detail: str = ""


class {d.cls}Service:
    """Operations on {d.plural}."""

    def __init__(self, repository: {d.cls}Repository | None = None) -> None:
        self.repository = repository or {d.cls}Repository(){init}

    def _describe(self, record: {d.cls}Record | None) -> str:
        """A short description of ``record`` for logs and results."""
        if record is None:
            return "missing"
        return f"{{record.name}} v{{record.version}} ({{record.status.value}})"
'''
    ]
    for method in d.service_methods:
        calls = rng.sample(d.repo_methods, min(len(d.repo_methods), rng.randint(1, 3)))
        body = [f'result["{c.name}"] = {_repo_call(c)}' for c in calls]
        if deps and rng.random() < 0.6:
            dep = rng.choice(deps)
            other = rng.choice(dep.sync_methods)
            body.append(f'result["{dep.name}"] = self.{dep.name}_service.{other.name}(item_id)')
        if rng.random() < 0.5:
            function = f"{rng.choice(utils)}_{rng.randint(0, 1)}"
            used.add(function)
            body.append(f'result["{function}"] = {function}(item_id)')
        lines = "\n".join(f"        {line}" for line in body)
        verb, _, qualifier = method.name.partition("_")
        prefix = "async def" if method.is_async else "def"
        out.append(f'''
    {prefix} {method.name}(self, item_id: int) -> dict[str, object]:
        """{verb.title()} the {qualifier.replace("_", " ")} of {d.name} ``item_id``."""
        result: dict[str, object] = {{"id": item_id, "operation": "{method.name}"}}
        record = self.repository._cache.get(item_id)
        result["description"] = self._describe(record)
{lines}
        logger.info("{method.name} %s", item_id)
        return result
''')
    for module in sorted({function.rpartition("_")[0] for function in used}):
        names = ", ".join(sorted(f for f in used if f.rpartition("_")[0] == module))
        imports.append(f"from {PACKAGE}.utils.{module} import {names}")
    out[0] = out[0].replace("@@IMPORTS@@", "\n".join(sorted(imports)))
    return "".join(out)


ROUTE_TEMPLATES = {
    "async": '''

@router.get("/{{item_id}}/{slug}")
async def {fn}(item_id: int, service: ServiceDep) -> dict[str, object]:
    """{doc}"""
    result = service.{m}(item_id)
    if result.get("description") == "missing":
        raise HTTPException(status_code=404, detail="{n} not found")
    return result
''',
    "sync": '''

@router.put("/{{item_id}}/{slug}")
def {fn}(item_id: int, service: ServiceDep) -> dict[str, object]:
    """{doc}"""
    return service.{m}(item_id)
''',
    "offload": '''

@router.post("/{{item_id}}/{slug}")
async def {fn}(item_id: int, service: ServiceDep) -> dict[str, object]:
    """{doc} In a worker thread."""
    return await run_in_threadpool(service.{m}, item_id)
''',
    "await": '''

@router.get("/{{item_id}}/{slug}/live")
async def {fn}(item_id: int, service: ServiceDep) -> dict[str, object]:
    """{doc}"""
    return await service.{am}(item_id)
''',
    "background": '''

@router.delete("/{{item_id}}/{slug}", status_code=202)
async def {fn}(
    item_id: int, service: ServiceDep, background_tasks: BackgroundTasks
) -> dict[str, object]:
    """{doc} After the response."""
    background_tasks.add_task(service.{m}, item_id)
    return {{"id": item_id, "accepted": True}}
''',
}


def router_module(d: Domain, rng: random.Random) -> str:
    names = ["APIRouter", "Depends"]
    names += ["BackgroundTasks"] if "background" in d.routes else []
    names += ["HTTPException"] if "async" in d.routes or "await" in d.routes else []
    imports = [f"from fastapi import {', '.join(sorted(names))}"]
    if "offload" in d.routes:
        imports.append("from fastapi.concurrency import run_in_threadpool")
    out = [
        f'''"""HTTP routes for {d.plural}."""

from typing import Annotated

{chr(10).join(imports)}

from {PACKAGE}.services.{d.name} import {d.cls}Service

router = APIRouter(prefix="/{d.plural}", tags=["{d.plural}"])


def get_service() -> {d.cls}Service:
    """The {d.name} service for one request."""
    return {d.cls}Service()


ServiceDep = Annotated[{d.cls}Service, Depends(get_service)]
'''
    ]
    async_methods = [m for m in d.service_methods if m.is_async]
    for number, kind in enumerate(d.routes):
        method = rng.choice(async_methods if kind == "await" else d.sync_methods)
        verb, _, qualifier = method.name.partition("_")
        doc = f"{verb.title()} the {qualifier.replace('_', ' ')} of one {d.name}."
        slug = f"{method.name.replace('_', '-')}-{number}"
        out.append(
            ROUTE_TEMPLATES[kind].format(
                fn=f"{method.name}_{number}",
                m=method.name,
                am=method.name,
                slug=slug,
                doc=doc,
                n=d.name,
            )
        )
    return "".join(out)


def util_module(name: str, budget: int) -> str:
    count = max(2, (budget - 10) // 12)
    imports = ["import hashlib"] if name == "security" else []
    imports += ["import math", "from functools import lru_cache"] if count > 2 else []
    out = [
        f'''"""Small {name} helpers shared by the services."""

from __future__ import annotations

{chr(10).join(imports)}
'''
    ]
    for k in range(count):
        if name == "security" and k % 4 == 0:
            out.append(f'''

def {name}_{k}(value: int) -> str:
    """A slow, salted fingerprint of ``value`` (pbkdf2)."""
    digest = hashlib.pbkdf2_hmac("sha256", str(value).encode(), b"acme-salt", 100_000)
    return digest.hex()
''')
        elif k % 3 == 2:
            out.append(f'''

@lru_cache(maxsize=1024)
def {name}_{k}(value: int) -> float:
    """A cached score for ``value``."""
    return round(math.log1p(abs(value)) * {k + 1}, 3)
''')
        else:
            out.append(f'''

def {name}_{k}(value: int) -> str:
    """``value`` formatted for {name} output."""
    if value < 0:
        return f"-{{{name}_{k}(-value)}}"
    text = f"{{value:,}}".replace(",", " ")
    return text.rjust({8 + k % 5})
''')
    return "".join(out)


def main_module(domains: Sequence[Domain]) -> str:
    imports = "\n".join(f"    {name}," for name in sorted(d.name for d in domains))
    includes = "\n".join(f'app.include_router({d.name}.router, prefix="/v1")' for d in domains)
    return f'''"""The application: every router under /v1, a shared HTTP client in the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from {PACKAGE}.routers import (
{imports}
)
from {PACKAGE}.settings import SETTINGS


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the shared client on start-up, close it on shutdown."""
    client = httpx.AsyncClient(base_url=SETTINGS.api_url, timeout=SETTINGS.timeout)
    async with client:
        app.state.http = client
        yield


app = FastAPI(title="Acme", lifespan=lifespan)
{includes}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {{"status": "ok"}}
'''


SETTINGS_MODULE = '''"""Configuration, read once at import."""

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the records API and the data directory are."""

    api_url: str = os.environ.get("ACME_API_URL", "http://records.internal")
    timeout: float = float(os.environ.get("ACME_TIMEOUT", "5"))
    data_dir: str = os.environ.get("ACME_DATA_DIR", "/var/lib/acme")


SETTINGS = Settings()
'''


def render(count: int, budget: int, seed: int) -> dict[str, str]:
    """The project's files (relative path -> text): ``count`` domains, modules of
    about ``budget`` lines."""
    domains = plan(count, budget, seed)
    rng = random.Random(seed + 1)
    files = {f"{PACKAGE}/__init__.py": '"""Acme shop: a synthetic FastAPI project."""\n'}
    for sub in ("models", "repositories", "services", "routers", "utils"):
        files[f"{PACKAGE}/{sub}/__init__.py"] = f'"""The {sub} of every domain."""\n'
    files[f"{PACKAGE}/settings.py"] = SETTINGS_MODULE
    files[f"{PACKAGE}/main.py"] = main_module(domains)
    for name in UTIL_MODULES:
        files[f"{PACKAGE}/utils/{name}.py"] = util_module(name, budget)
    for d in domains:
        files[f"{PACKAGE}/models/{d.name}.py"] = models_module(d)
        files[f"{PACKAGE}/repositories/{d.name}.py"] = repository_module(d)
        files[f"{PACKAGE}/services/{d.name}.py"] = service_module(d, domains, rng)
        files[f"{PACKAGE}/routers/{d.name}.py"] = router_module(d, rng)
    return files


def count_lines(files: dict[str, str]) -> int:
    return sum(text.count("\n") for text in files.values())


def generate(lines: int, seed: int) -> dict[str, str]:
    """A project of about ``lines`` lines: the module budget is rescaled until the total
    is within 3% (or stops improving)."""
    count = domain_count(lines)
    budget = max(60, lines // (4 * count + len(UTIL_MODULES)))
    files = render(count, budget, seed)
    for _ in range(5):
        total = count_lines(files)
        if abs(total - lines) <= 0.03 * lines:
            break
        better = max(60, round(budget * lines / total))
        if better == budget:
            break
        budget = better
        files = render(count, budget, seed)
    return files


def write(files: dict[str, str], root: Path) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def check_syntax(files: dict[str, str]) -> None:
    for relative, text in files.items():
        try:
            ast.parse(text, filename=relative)
        except SyntaxError as exc:
            raise SystemExit(f"generated invalid Python: {exc}") from exc


# -- timing ---------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    seconds: list[float] = field(default_factory=list)
    findings: list[int] = field(default_factory=list)
    rules: Counter[str] = field(default_factory=Counter)

    def to_dict(self, lines: int) -> dict[str, Any]:
        median = statistics.median(self.seconds)
        return {
            "seconds": [round(s, 3) for s in self.seconds],
            "median_s": round(median, 3),
            "best_s": round(min(self.seconds), 3),
            "lines_per_s": round(lines / median),
            "findings": self.findings,
        }


def doctor(
    command: Sequence[str], project: Path, *, cache_home: Path, no_cache: bool
) -> tuple[float, dict[str, Any]]:
    """One ``poise doctor`` run: wall seconds and its JSON report."""
    argv = [*command, "doctor", str(project), "--format", "json", "--fail-on", "never"]
    if no_cache:
        argv.append("--no-cache")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"poise doctor exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return seconds, report


def measure(command: Sequence[str], project: Path, scratch: Path, repeat: int) -> list[Timing]:
    """The three ways of running, ``repeat`` times each."""
    no_cache, fill, warm = Timing("no cache"), Timing("cache fill"), Timing("warm cache")
    for round_ in range(repeat):
        runs = [
            (no_cache, scratch / f"unused-{round_}", True),
            (fill, scratch / f"cache-{round_}", False),  # a new, empty cache
            (warm, scratch / f"cache-{round_}", False),  # the one the fill just wrote
        ]
        for timing, cache_home, off in runs:
            seconds, report = doctor(command, project, cache_home=cache_home, no_cache=off)
            timing.seconds.append(seconds)
            timing.findings.append(len(report["findings"]))
            timing.rules = Counter(f["rule"] for f in report["findings"])
    return [no_cache, fill, warm]


def poise_command(given: str | None) -> list[str]:
    """How to start poise: ``--poise``, else the ``poise`` beside this interpreter."""
    if given:
        return given.split()
    beside = Path(sys.executable).with_name("poise")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("poise")
    if found is None:
        raise SystemExit("poise not found: install it (make) or pass --poise COMMAND")
    return [found]


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="project size to aim at")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind")
    parser.add_argument("--keep", type=Path, help="generate into this (new or empty) directory")
    parser.add_argument("--generate-only", action="store_true", help="do not run poise")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin poise to")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--poise", help="command that starts poise (default: the venv's)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be positive")
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty")

    started = time.perf_counter()
    files = generate(args.lines, args.seed)
    check_syntax(files)
    lines = count_lines(files)
    with tempfile.TemporaryDirectory(prefix="poise-doctor-speed-") as tmp:
        project = args.keep.resolve() if args.keep else Path(tmp, "project")
        write(files, project)
        print(
            f"project: {lines:,} lines in {len(files)} files ({PACKAGE}/) at {project}, "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        if args.generate_only:
            return 0

        command = poise_command(args.poise)
        taskset = None if args.no_pin else shutil.which("taskset")
        if taskset:
            command = [taskset, "-c", str(args.cpu), *command]
        pinned = f"pinned to CPU {args.cpu}" if taskset else "not pinned"
        print(f"poise doctor {package_version('poise')}, {pinned}, {args.repeat} run(s) each")
        timings = measure(command, project, Path(tmp, "scratch"), args.repeat)

    for t in timings:
        median = statistics.median(t.seconds)
        print(
            f"  {t.label:<11} {median:7.2f} s (best {min(t.seconds):.2f})"
            f"  {lines / median:>9,.0f} lines/s  findings {t.findings[-1]}"
        )
    rules = ", ".join(f"{rule} x{n}" for rule, n in sorted(timings[0].rules.items()))
    print(f"findings by rule: {rules or 'none'}")
    counts = {n for t in timings for n in t.findings}
    if len(counts) > 1:
        print(f"WARNING: the runs disagree on the number of findings: {sorted(counts)}")

    if args.json:
        result = {
            "lines": lines,
            "files": len(files),
            "seed": args.seed,
            "poise": package_version("poise"),
            "pinned_cpu": args.cpu if taskset else None,
            "runs": {t.label: t.to_dict(lines) for t in timings},
            "findings_by_rule": dict(sorted(timings[0].rules.items())),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if len(counts) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
