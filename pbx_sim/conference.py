"""(filled in later)"""

from __future__ import annotations

from typing import Any

AMI_ACTIONS: dict[str, tuple[Any, str]] = {}
