"""The base of every settings class: a frozen pydantic model whose fields come from environment
variables (the upper-case field names, matched case-insensitively), validated when it is built.

pydantic-settings' ``BaseSettings`` does this too, but importing it also imports its dotenv, CLI and
cloud (AWS, Azure, GCP) sources, none of which a Lambda reads: that import was about a tenth of a
function's cold start (README, "Cold start, step by step"). What is kept of it: names matched
case-insensitively, unknown variables ignored, defaults validated, and no JSON decoding of any field
(the JSON-object settings parse their text in their own validators, as ``NoDecode`` did).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict


class EnvSettings(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True, validate_default=True)

    def __init__(self, **values: Any) -> None:
        """Environment variables named after fields, overridden by explicit ``values``."""
        fields = type(self).model_fields
        environment = {name.lower(): value for name, value in os.environ.items() if name.lower() in fields}
        super().__init__(**(environment | values))
