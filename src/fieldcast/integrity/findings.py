"""What a rule found: the rule, how grave, about what, and the rows and figures behind it (the
rules: rules.py and rules_traffic.py; rules.py re-exports it)."""

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
