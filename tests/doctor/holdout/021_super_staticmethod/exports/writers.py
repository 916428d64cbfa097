import csv
import hashlib
import io
from pathlib import Path


class BaseExporter:
    extension = "txt"

    def __init__(self, root: Path) -> None:
        self.root = root

    def render(self, rows: list[dict]) -> str:
        return "\n".join(str(r) for r in rows)

    def write(self, name: str, rows: list[dict]) -> Path:
        path = self.root / f"{name}.{self.extension}"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.render(rows))
        return path


class CsvExporter(BaseExporter):
    extension = "csv"

    def render(self, rows: list[dict]) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=sorted(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def write(self, name: str, rows: list[dict]) -> Path:
        path = super().write(name, rows)
        self.write_checksum(path)
        return path

    @staticmethod
    def checksum(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def write_checksum(self, path: Path) -> None:
        sidecar = Path(f"{path}.sha256")
        sidecar.write_text(self.checksum(path))
