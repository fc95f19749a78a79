"""What the audit trail's codes mean, in words a station's staff read.

The trail stores stable codes (``dispute.transition``, object type ``dispute``),
so that filters and exports keep working whatever the language; the audit page
shows these labels beside them. A code with no label here (a new action not yet
named) is shown as it is, never hidden.
"""

from __future__ import annotations

import json

from server.disputes.alerts import GRADED_BY_LABELS, RAISED_ON_LABELS
from server.disputes.lifecycle import RISK_LABELS, ROUTE_LABELS, STATUS_LABELS
from server.errors import N_
from server.followups.rules import KIND_LABELS as FOLLOWUP_KIND_LABELS
from server.followups.rules import RESULT_LABELS
from server.sessions.rules import TRACK_LABELS
from server.workday_overrides.schemas import KIND_LABELS

ACTION_LABELS: dict[str, str] = {
    "agreement.bundle": N_("Case bundle exported"),
    "agreement.correction_start": N_("Correction of an agreement started"),
    "agreement.download": N_("Agreement PDF downloaded"),
    "agreement.draft_save": N_("Agreement draft saved"),
    "agreement.draft_start": N_("Agreement draft started"),
    "agreement.freeze": N_("Agreement text frozen for signing"),
    "agreement.link_reissue": N_("Signing link reissued"),
    # No longer recorded (the free-text minutes are retired); kept for the old trail.
    "agreement.minutes_save": N_("Mediation minutes saved"),
    "agreement.refuse": N_("Signing refused"),
    "agreement.seal": N_("Agreement sealed"),
    "agreement.sign": N_("Agreement signed"),
    "agreement.unfreeze": N_("Agreement text reopened for changes"),
    "auth.login": N_("Logged in"),
    "auth.login_failed": N_("Failed login"),
    "auth.logout": N_("Logged out"),
    "auth.password_changed": N_("Password changed"),
    "dispute.register": N_("Dispute registered"),
    "dispute.assess_risk": N_("First risk assessment at registration (初判)"),
    "risk_alert.raise": N_("Risk alert raised (预警)"),
    "risk_alert.acknowledge": N_("Risk alert acknowledged (签收)"),
    "dispute.transition": N_("Dispute status changed"),
    "minutes.add": N_("Minutes entry added"),
    "minutes.delete": N_("Minutes entry deleted"),
    "minutes.edit": N_("Minutes entry edited"),
    "spot_check.draw": N_("Spot-check sample drawn"),
    "spot_check.record": N_("Spot check recorded"),
    "dispute.reopen": N_("Dispute reopened"),
    "dispute.criminal": N_("Dispute marked as turned criminal (民转刑)"),
    "dispute.triage": N_("Dispute triaged"),
    "expert.activate": N_("Expert reactivated"),
    "expert.create": N_("Expert added"),
    "expert.deactivate": N_("Expert deactivated"),
    "expert.delete": N_("Expert deleted"),
    "expert.export": N_("Expert pool exported"),
    "expert.import": N_("Experts imported"),
    "expert.update": N_("Expert changed"),
    "availability.add": N_("Expert availability declared"),
    "availability.delete": N_("Expert availability entry deleted"),
    "relation.add": N_("Expert's declared relation recorded"),
    "relation.delete": N_("Expert's declared relation deleted"),
    "rota.add": N_("Duty rota slots added"),
    "rota.delete": N_("Duty rota slot deleted"),
    "followup.carry_over": N_("Follow-up carried over to a corrected agreement"),
    "followup.create": N_("Follow-up scheduled"),
    "followup.record": N_("Follow-up recorded"),
    "followup.void": N_("Follow-up no longer needed"),
    "invitation.issue": N_("Personal link issued"),
    "judicial.decision": N_("Court's decision on judicial confirmation recorded"),
    "judicial.filing": N_("Application for judicial confirmation filed"),
    "judicial.open": N_("Judicial confirmation window opened"),
    "judicial.packet": N_("Judicial confirmation packet prepared"),
    "minutes.download": N_("Signed-off minutes (PDF) downloaded"),
    "minutes.sign_off": N_("Minutes signed off by the presiding officer"),
    "invitation.open": N_("Personal link opened"),
    "invitation.reissue": N_("Personal link reissued"),
    "invitation.revoke": N_("Personal link revoked"),
    "office.create": N_("Beat office added"),
    "office.update": N_("Beat office changed"),
    "party.add": N_("Person added to a dispute"),
    "party.reveal_id_number": N_("Full ID number shown"),
    "room.admit": N_("Admitted to the room"),
    "room.caucus_close": N_("Private talk ended"),
    "room.caucus_open": N_("Private talk started"),
    "room.decline": N_("Refused entry to the room"),
    "room.end": N_("Session ended for everyone"),
    "room.lock": N_("Room locked or unlocked"),
    "room.mute": N_("Microphone turned off by the mediator"),
    "room.remove": N_("Removed from the room"),
    "room.stop_video": N_("Camera turned off by the mediator"),
    "session.book": N_("Session booked"),
    "session.cancel": N_("Session cancelled"),
    "session.reschedule": N_("Session moved"),
    "station.seal_set": N_("Station seal image set"),
    "user.create": N_("Account created"),
    "user.update": N_("Account changed"),
    "workday.add": N_("Station working day set"),
    "workday.delete": N_("Station working day deleted"),
    "workday.import": N_("Station working days imported"),
}

OBJECT_LABELS: dict[str, str] = {
    "agreement": N_("Agreement"),
    "agreement_draft": N_("Agreement draft"),
    "dispute": N_("Dispute"),
    "agreement_signer": N_("Signer"),
    "beat_office": N_("Beat office"),
    "expert": N_("Expert"),
    "followup_task": N_("Follow-up"),
    "invitation": N_("Invitation"),
    "judicial_confirmation": N_("Judicial confirmation"),
    "party": N_("Person"),
    "risk_alert": N_("Risk alert"),
    "session": N_("Session"),
    "staff_user": N_("Account"),
    "station": N_("Station"),
    "workday_override": N_("Station working day"),
}

#: The detail's keys; values that are codes of a known table are shown by their label.
DETAIL_LABELS: dict[str, str] = {
    "assignee": N_("Assignee"),
    "by": N_("By"),
    "case": N_("Criminal case"),
    "case_number": N_("Case number"),
    "count": N_("Count"),
    "court": N_("Court"),
    "decided_on": N_("Decided on"),
    "decision": N_("Decision"),
    "effective_on": N_("Took effect"),
    "ends": N_("Window ends"),
    "filed_on": N_("Filed on"),
    "day": N_("Day"),
    "first": N_("First day"),
    "day_kind": N_("Kind of day"),
    "day_name": N_("Name of the day"),
    "dispute": N_("Dispute"),
    "draft": N_("Agreement draft"),
    "due": N_("Due"),
    "filter": N_("Filter"),
    "format": N_("Format"),
    "from": N_("From"),
    "how": N_("How"),
    "invitations": N_("Invitations"),
    "last": N_("Last day"),
    "issue": N_("Issue"),
    "kind": N_("Kind"),
    "next": N_("Next step"),
    "outcome": N_("Outcome"),
    "on": N_("Date"),
    "previous": N_("Before"),
    "reason": N_("Reason"),
    "record": N_("Follow-up record"),
    "risk": N_("Risk"),
    "proposed": N_("Proposed by the rule"),
    "graded_by": N_("Graded by"),
    "reasons": N_("Reasons"),
    "stage": N_("Raised"),
    "role": N_("Role"),
    "ruling_number": N_("Ruling number"),
    "route": N_("Route"),
    "sample": N_("Sample"),
    "session": N_("Session"),
    "sha256": N_("SHA-256"),
    "entries": N_("Entries"),
    "entries_sha256": N_("SHA-256 of the minutes text"),
    "pdf_sha256": N_("SHA-256 of the PDF"),
    "target": N_("Target"),
    "terms": N_("Terms"),
    "to": N_("To"),
    "track": N_("Legal track"),
    "username": N_("Username"),
    "version": N_("Version"),
    "via": N_("Via"),
    "warnings_confirmed": N_("Warnings confirmed"),
}
#: Which label table names a detail's value, by key.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "from": STATUS_LABELS,
    "to": STATUS_LABELS,
    "day_kind": KIND_LABELS,
    "risk": RISK_LABELS,
    "proposed": RISK_LABELS,
    "stage": RAISED_ON_LABELS,
    "graded_by": GRADED_BY_LABELS,
    "route": ROUTE_LABELS,
    "track": TRACK_LABELS,
    "kind": FOLLOWUP_KIND_LABELS,
    "outcome": RESULT_LABELS,
}


def detail_items(detail: str) -> list[tuple[str, str, bool]]:
    """A stored detail as (label or key, value, whether the value is a message id).

    The detail is the JSON that ``server.audit.record`` wrote; anything else (an old
    row, a cut one) is shown as it is under an empty label.
    """
    try:
        data = json.loads(detail)
    except ValueError:
        return [("", detail, False)]
    if not isinstance(data, dict):
        return [("", detail, False)]
    items: list[tuple[str, str, bool]] = []
    for key, value in data.items():
        label = DETAIL_LABELS.get(str(key), str(key))
        table = VALUE_LABELS.get(key, {})
        if isinstance(value, str) and value in table:
            items.append((label, table[value], True))
        elif isinstance(value, bool):
            items.append((label, N_("yes") if value else N_("no"), True))
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            items.append((label, text, False))
    return items
