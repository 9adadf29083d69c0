"""What a rule found: a Finding per subject, with the rows and figures that triggered it as
evidence. Its own module so that rule modules beside rules.py (rules_orders.py,
rules_officials.py, rules_traffic.py), which rules.py imports to register in RULES, need not
import rules.py back (import-linter's acyclic contract)."""

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
