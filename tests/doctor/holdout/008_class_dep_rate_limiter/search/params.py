from fastapi import Query


class Pagination:
    def __init__(self, page: int = Query(1, ge=1), size: int = Query(20, le=100)) -> None:
        self.offset = (page - 1) * size
        self.limit = size
