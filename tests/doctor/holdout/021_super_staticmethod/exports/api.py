from pathlib import Path

from fastapi import APIRouter

from .writers import CsvExporter

router = APIRouter()
EXPORT_ROOT = Path("/srv/exports")


@router.post("/{name}")
async def export_rows(name: str, rows: list[dict]) -> dict[str, str]:
    exporter = CsvExporter(EXPORT_ROOT)
    path = exporter.write(name, rows)
    return {"path": str(path)}


@router.get("/{name}/checksum")
async def export_checksum(name: str) -> dict[str, str]:
    return {"sha256": CsvExporter.checksum(EXPORT_ROOT / f"{name}.csv")}
