"""Ids: the one definition every layer reuses. Member ids (API paths and bodies, roster and CE CSV rows,
Stripe metadata, evidence keys in S3, audit and application ids that embed a member id) and activity
IRIs (xAPI activities, catalog entries).

A member id is the association's own id: an ASCII letter or digit, then up to 63 letters, digits,
``_`` or ``-`` (64 characters at most, safe in DynamoDB keys, S3 keys and URLs unescaped).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

MEMBER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"  # unanchored, to embed in a larger pattern
MEMBER_ID_ANCHORED = rf"^{MEMBER_ID_PATTERN}$"  # for pydantic and Powertools ``pattern=`` (whole value)
MEMBER_ID = re.compile(MEMBER_ID_PATTERN)  # use ``MEMBER_ID.fullmatch``: ``$`` would accept a final "\n"
MemberId = Annotated[str, StringConstraints(pattern=MEMBER_ID_ANCHORED)]
ACTIVITY_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # a self-reported activity's id (anchored, for pydantic)


def is_member_id(value: str) -> bool:
    return MEMBER_ID.fullmatch(value) is not None


# Activity ids are IRIs (xAPI activities, catalog entries). They end up in DynamoDB key attributes
# (``ACTIVITY#{iri}``, ListIndex sort keys of at most 1024 bytes, ``{iri}#{member id}``): longer ones
# are refused.
MAX_IRI_BYTES = 900
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def _iri(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_IRI_BYTES:
        raise ValueError(f"IRI longer than {MAX_IRI_BYTES} bytes")
    if not _IRI.fullmatch(value):
        raise ValueError("must be an absolute IRI")
    return value


Iri = Annotated[str, AfterValidator(_iri)]
