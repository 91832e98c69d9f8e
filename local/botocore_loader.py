"""One botocore data loader per process, shared by every boto3 session (tests and the local stack).

botocore parses its service-model JSON (megabytes per service) once per ``Loader``, and every new
session gets a new loader. moto's ``mock_aws()`` drops boto3's default session each time it starts,
and the handlers' client cache is reset between tests and stacks, so every test used to parse the
same files again: about 0.2 s per client, most of the suite's set-up time. The files do not change
while a process runs, so one loader per data path serves every session.

botocore has no switch for this (its ``instance_cache`` is per loader), hence the small wrapper.
Local and test use only: a deployed Lambda creates one session per container anyway.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.loaders import Loader, create_loader

_ORIGINAL = create_loader


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Loader:
    return _ORIGINAL(search_path_string)


def share_botocore_loader() -> None:
    """Make every botocore session in this process use one loader per data path (idempotent)."""
    session_module: Any = botocore.session
    session_module.create_loader = _shared_loader
