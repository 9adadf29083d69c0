"""What a rule found: a Finding per subject, with the evidence. Its own module so that rule modules
beside rules.py (rules_orders.py) can make findings while rules.py imports them to register them in
RULES, without a cycle inside the package (import-linter's acyclic contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fieldcast.integrity.models import Severity, SubjectKind


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    subject_kind: SubjectKind
    subject_id: int
    evidence: dict[str, Any] = field(default_factory=dict)
