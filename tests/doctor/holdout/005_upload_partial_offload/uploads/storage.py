import json
import os
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", "/var/lib/media"))


def _write_blob(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


async def save_upload(owner: str, upload: UploadFile) -> Path:
    folder = MEDIA_ROOT / owner
    os.makedirs(folder, exist_ok=True)
    data = await upload.read()
    target = folder / upload.filename
    await run_in_threadpool(_write_blob, target, data)
    meta = {"name": upload.filename, "size": len(data), "type": upload.content_type}
    (folder / f"{upload.filename}.json").write_text(json.dumps(meta))
    return target
