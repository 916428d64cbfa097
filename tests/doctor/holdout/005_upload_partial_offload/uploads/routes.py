from fastapi import APIRouter, UploadFile

from .storage import save_upload

router = APIRouter()


@router.post("/{owner}")
async def upload_file(owner: str, file: UploadFile) -> dict[str, str]:
    path = await save_upload(owner, file)
    return {"path": str(path)}
