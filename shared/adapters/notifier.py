"""Notices out: e-mail through SES, mail through a daily print-batch CSV in S3 for the mail house.

The print batch of a day is ``{PRINT_BATCH_PREFIX}{yyyy-mm-dd}.csv`` in the files bucket, one row per
mailed notice. Every cell is neutralised against spreadsheet formula injection (a leading ``=``, ``+``,
``-``, ``@``, tab, carriage return, line feed or NUL - or ``=+-@`` after leading blanks - gets a ``'``
prefix): names and addresses come from the roster.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from shared import aws

PRINT_COLUMNS = (
    "member_id",
    "name",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "credential",
    "notice",
    "period",
    "amount_due",
    "invoice",
    "pay_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")
_BLANK = " \t\r\n\x00"


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not evaluate as a formula: OWASP's leading characters (plus line
    feed and NUL, ASVS 1.2.10), and a formula behind leading blanks (imports that trim spaces)."""
    text = "" if value is None else str(value)
    risky = text.startswith(_FORMULA_START) or text.lstrip(_BLANK).startswith(_FORMULA_START[:4])
    return f"'{text}" if risky else text


def print_batch_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PRINT_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in PRINT_COLUMNS])
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class Notifier(Protocol):
    def send_email(self, email: Email) -> str: ...

    def write_print_batch(self, day: date, rows: Sequence[dict[str, Any]]) -> str: ...


class SesPrintNotifier:
    """The deployed notifier: SES ``SendEmail`` and ``PutObject`` of the day's print batch."""

    def __init__(
        self,
        sender: str,
        bucket: str,
        *,
        prefix: str = "print-batches/",
        configuration_set: str = "",
        ses: Any = None,
        s3: Any = None,
    ) -> None:
        self.sender = sender
        self.bucket = bucket
        self.prefix = prefix
        self.configuration_set = configuration_set
        self._ses = ses
        self._s3 = s3

    def send_email(self, email: Email) -> str:
        args: dict[str, Any] = {
            "Source": self.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Message": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
            },
        }
        if self.configuration_set:
            args["ConfigurationSetName"] = self.configuration_set
        response = (self._ses or aws.client("ses")).send_email(**args)
        return str(response["MessageId"])

    def write_print_batch(self, day: date, rows: Sequence[dict[str, Any]]) -> str:
        key = f"{self.prefix}{day.isoformat()}.csv"
        (self._s3 or aws.client("s3")).put_object(
            Bucket=self.bucket, Key=key, Body=print_batch_csv(rows), ContentType="text/csv; charset=utf-8"
        )
        return key
