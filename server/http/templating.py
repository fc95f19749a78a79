"""The Jinja2 environment: autoescaping, gettext, and the label tables as globals."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from server import audit_labels, i18n
from server.agreements.rules import DRAFT_STATUS_LABELS, OUTCOME_LABELS
from server.auth import roles
from server.auth.roles import ROLE_LABELS
from server.disputes import alerts, lifecycle, risk
from server.experts.kinds import KIND_LABELS
from server.followups import rules as followup_rules
from server.pii import mask_phone
from server.sessions.rules import INVITEE_ROLE_LABELS, SESSION_STATUS_LABELS, TRACK_LABELS

TEMPLATE_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "templates"


def make_environment(tz: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )

    def local_time(value: Any, fmt: str = "yyyy-MM-dd HH:mm") -> str:
        return i18n.format_local(value, tz, fmt)

    def options(table: dict[str, str]) -> list[tuple[str, str]]:
        return [(value, i18n.gettext(text)) for value, text in table.items()]

    def office_choices(offices: list[Any]) -> list[tuple[int, str]]:
        return [(o.id, o.name) for o in offices]

    env.filters["local"] = local_time
    env.globals["options"] = options
    env.globals["office_choices"] = office_choices
    env.filters["mask_phone"] = mask_phone
    env.globals.update(
        AUDIT_ACTION_LABELS=audit_labels.ACTION_LABELS,
        AUDIT_OBJECT_LABELS=audit_labels.OBJECT_LABELS,
        AUDIT_DETAIL_LABELS=audit_labels.DETAIL_LABELS,
        audit_detail=audit_labels.detail_items,
        SYSTEM_NOTES=lifecycle.SYSTEM_NOTES,
        STATUS_LABELS=lifecycle.STATUS_LABELS,
        CATEGORY_LABELS=lifecycle.CATEGORY_LABELS,
        RISK_LABELS=lifecycle.RISK_LABELS,
        ROUTE_LABELS=lifecycle.ROUTE_LABELS,
        TREND_LABELS=lifecycle.TREND_LABELS,
        SOURCE_LABELS=lifecycle.SOURCE_LABELS,
        PARTY_ROLE_LABELS=lifecycle.PARTY_ROLE_LABELS,
        ID_TYPE_LABELS=lifecycle.ID_TYPE_LABELS,
        ROLE_LABELS=ROLE_LABELS,
        TRACK_LABELS=TRACK_LABELS,
        SESSION_STATUS_LABELS=SESSION_STATUS_LABELS,
        INVITEE_ROLE_LABELS=INVITEE_ROLE_LABELS,
        EXPERT_KIND_LABELS=KIND_LABELS,
        DRAFT_STATUS_LABELS=DRAFT_STATUS_LABELS,
        OUTCOME_LABELS=OUTCOME_LABELS,
        roles=roles,
        FOLLOWUP_KIND_LABELS=followup_rules.KIND_LABELS,
        FOLLOWUP_STATUS_LABELS=followup_rules.TASK_STATUS_LABELS,
        FOLLOWUP_RESULT_LABELS=followup_rules.RESULT_LABELS,
        FOLLOWUP_OUTCOME_LABELS=followup_rules.OUTCOME_RESULT_LABELS,
        FOLLOWUP_METHOD_LABELS=followup_rules.METHOD_LABELS,
        FOLLOWUP_STEP_LABELS=followup_rules.NEXT_STEP_LABELS,
        FOLLOWUP_REFER_LABELS=followup_rules.REFER_TO_LABELS,
        FOLLOWUP_URGENCY_LABELS=followup_rules.URGENCY_LABELS,
        followup_step_label=followup_rules.step_label,
        ALERT_ROUTE_LABELS=alerts.ALERT_ROUTE_LABELS,
        RAISED_ON_LABELS=alerts.RAISED_ON_LABELS,
        RISK_REASON_LABELS=risk.REASON_LABELS,
        RISK_RULE_SUMMARY=risk.RULE_SUMMARY,
    )
    return env
