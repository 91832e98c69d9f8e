"""Progress of a bulk roster import: the report of each completed chunk, until the whole file is done.

| item | pk | sk | notes |
|---|---|---|---|
| chunk report | ``IMPORT#{result key}`` | ``PART#{file digest}#{chunk}`` | ``report``: the chunk's rows as JSON; deleted once the file's report is written |

Keyed on the file's content digest, so a changed file never reuses the chunks of an earlier one. A run
cut short (time, crash) finds the chunks already done and continues after them.
"""

from __future__ import annotations

import json
from typing import Any

from shared.store import keys
from shared.store.dynamo import TableAccess


def _key(result_key: str, digest: str, chunk: int) -> dict[str, Any]:
    return {keys.PK: {"S": f"IMPORT#{result_key}"}, keys.SK: {"S": f"PART#{digest}#{chunk}"}}


class ImportProgress(TableAccess):
    def done(self, result_key: str, digest: str, chunk: int) -> dict[str, Any] | None:
        """The chunk's report if it was completed, else None."""
        response = self.client.get_item(
            TableName=self.table_name, Key=_key(result_key, digest, chunk), ConsistentRead=True
        )
        item = response.get("Item")
        part: dict[str, Any] | None = json.loads(item["report"]["S"]) if item else None
        return part

    def record(self, result_key: str, digest: str, chunk: int, report: dict[str, Any]) -> None:
        item = {**_key(result_key, digest, chunk), "report": {"S": json.dumps(report, default=str)}}
        self.client.put_item(TableName=self.table_name, Item=item)

    def forget(self, result_key: str, digest: str, chunk: int) -> None:
        self.client.delete_item(TableName=self.table_name, Key=_key(result_key, digest, chunk))
