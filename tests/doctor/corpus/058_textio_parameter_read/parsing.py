import csv
from typing import TextIO


def parse_contacts(stream: TextIO) -> list[dict[str, str]]:
    text = stream.read()
    return [row for row in csv.DictReader(text.splitlines()) if row.get("email")]
