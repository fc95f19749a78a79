"""A station's years of records in one SQLite file, for the closed-loop benchmark.

``python -m bench.closed_loop_data PATH [--disputes 50000] [--events 200000] [--seed 11]``

Migrates a fresh file with the real migrations, then bulk-inserts (one
transaction, ``executemany``) a station with six beat offices, staff of every
role, twenty experts and ``--disputes`` disputes registered over the last four
years, with exactly ``--events`` timeline entries between them: registration,
triage, mediation, an outcome (agreement, no agreement, referral, withdrawal),
follow-up and closing, some reopened after a follow-up or a spot check. Two
parties per dispute (some people, phones and addresses recur), a session per
mediated dispute (some with experts), a sealed agreement per agreement, a
follow-up task per agreement (done with a record, or still open and due),
some 民转刑 flags. Every row satisfies the schema's NOT NULL columns; values
the figures do not read (PDF hashes, file names) are placeholders.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.auth.passwords import hash_password_sync
from server.migrate import upgrade

PASSWORD = "bench-password-42"
OFFICES = 6
EXPERTS = 20
YEARS = 4
CATEGORIES: tuple[str, ...] = (
    "neighbour",
    "family",
    "labour",
    "contract",
    "property",
    "tenancy",
    "debt",
)
CATEGORIES += ("traffic", "minor_injury", "other")
OUTCOMES = ("agreement", "agreement", "agreement", "no_agreement", "referred", "withdrawn")


@dataclass(frozen=True)
class Summary:
    path: Path
    disputes: int
    events: int
    parties: int
    agreements: int
    followup_tasks: int
    open_followups: int
    seconds: float


def stamp(value: datetime) -> str:
    """How SQLAlchemy keeps a UTC datetime in SQLite."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Writer:
    """Rows per table, inserted with one executemany each."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        marks = ", ".join("?" for _ in columns)
        cursor = self.conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )
        return cursor.rowcount


def _path(rng: random.Random) -> list[str]:
    """The statuses one dispute went through after registration."""
    roll = rng.random()
    if roll < 0.10:
        return []  # registered only
    if roll < 0.20:
        return ["triaged"]
    if roll < 0.30:
        return ["triaged", "in_mediation"]
    outcome = rng.choice(OUTCOMES)
    path = ["triaged", "in_mediation", outcome]
    if outcome == "no_agreement":
        path.append("referred")
    if rng.random() < 0.25:
        path += ["follow_up", "closed"]
    return path


def generate(
    path: Path, *, disputes: int = 50_000, events: int = 200_000, seed: int = 11
) -> Summary:
    started = time.perf_counter()
    if path.exists():
        path.unlink()
    upgrade(f"sqlite+aiosqlite:///{path}")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    w = Writer(conn)
    with conn:
        created = stamp(now)
        w.insert(
            "station",
            ["id", "name", "short_name", "address", "phone", "mediation_committee", "seal_file",
             "seal_sha256", "seal_is_sample", "created_at"],
            [(1, "白石派出所", "白石", "", "", "白石人民调解委员会", "", "", 0, created)],
        )  # fmt: skip
        w.insert(
            "beat_office",
            ["id", "station_id", "name", "address", "phone", "active", "court_name",
             "court_address", "created_at"],
            [(o, 1, f"第{o}社区警务室", "", "", 1, "", "", created) for o in range(1, OFFICES + 1)],
        )  # fmt: skip
        password_hash = hash_password_sync(PASSWORD)
        staff: list[tuple[str, str, int | None]] = [
            ("chief", "chief", None),
            ("clerk", "clerk", None),
            ("admin", "admin", None),
        ]
        staff += [(f"officer{o}", "officer", o) for o in range(1, OFFICES + 1)]
        w.insert(
            "staff_user",
            ["id", "station_id", "office_id", "username", "display_name", "role", "police_number",
             "phone", "password_hash", "must_change_password", "active", "created_at",
             "password_changed_at"],
            [
                (n, 1, office, name, f"测试{name}", role, "", "", password_hash, 0, 1, created,
                 created)
                for n, (name, role, office) in enumerate(staff, start=1)
            ],
        )  # fmt: skip
        officer_of = {o: 3 + o for o in range(1, OFFICES + 1)}
        w.insert(
            "expert",
            ["id", "station_id", "name", "kind", "organisation", "phone", "active", "notes",
             "created_at", "updated_at"],
            [(e, 1, f"专家{e:02d}", "lawyer", "", f"1380000{e:04d}", 1, "", created, created)
             for e in range(1, EXPERTS + 1)],
        )  # fmt: skip

        span = timedelta(days=365 * YEARS)
        plans: list[tuple[int, datetime, list[str]]] = []
        for d in range(1, disputes + 1):
            registered = now - span * rng.random()
            plans.append((d, registered, _path(rng)))
        reopen_share = 0.04

        Rows = list[tuple[Any, ...]]
        dispute_rows: Rows = []
        event_rows: Rows = []
        party_rows: Rows = []
        session_rows: Rows = []
        invitation_rows: Rows = []
        draft_rows: Rows = []
        agreement_rows: Rows = []
        task_rows: Rows = []
        record_rows: Rows = []
        session_id = draft_id = agreement_id = task_id = record_id = invitation_id = 0
        open_followups = 0
        for d, registered, steps in plans:
            office = rng.randint(1, OFFICES)
            officer = officer_of[office]
            status = steps[-1] if steps else "registered"
            risk = None if not steps else rng.choice(("high", "attention", "general", "general"))
            criminal_on = None
            if status == "referred" and rng.random() < 0.1:
                criminal_on = (registered + timedelta(days=rng.randint(1, 20))).date().isoformat()
            dispute_rows.append((
                d, f"（{registered.year}）白石纠字第{d:05d}号", 1, office, f"纠纷{d}",
                rng.choice(CATEGORIES), "诱因", stamp(registered - timedelta(days=1)), "某小区",
                rng.randint(2, 6), "", "stable", "", "", "walk_in", status, risk, None,
                officer if steps else None, "", officer, stamp(registered), stamp(registered), 1,
                criminal_on, "刑案" if criminal_on else "",
            ))  # fmt: skip
            at = registered
            event_rows.append(
                (d, stamp(at), officer, "registered", None, "registered", "", "", None)
            )
            previous = "registered"
            sealed_at = None
            for status_next in steps:
                at = at + timedelta(hours=rng.randint(2, 72))
                kind = "triaged" if status_next == "triaged" else "status_changed"
                event_rows.append(
                    (d, stamp(at), officer, kind, previous, status_next, "", "", None)
                )
                if status_next == "in_mediation":
                    session_id += 1
                    starts = at + timedelta(hours=1)
                    track = rng.choice(("people", "police"))
                    session_rows.append((
                        session_id, 1, office, d, stamp(starts), stamp(starts + timedelta(hours=1)),
                        60, track, 0, officer, "held", "", "", officer, stamp(at), stamp(at),
                    ))  # fmt: skip
                    if rng.random() < 0.2:
                        invitation_id += 1
                        invitation_rows.append((
                            invitation_id, session_id, "expert", None, rng.randint(1, EXPERTS),
                            None, "专家", "", f"bench-{invitation_id}", stamp(at), officer, 1,
                            stamp(starts + timedelta(days=1)), None, "", None, None, 0,
                        ))  # fmt: skip
                if status_next == "agreement":
                    sealed_at = at + timedelta(hours=rng.randint(1, 30))
                    draft_id += 1
                    draft_rows.append((
                        draft_id, session_id, d, 1, office, track, "sealed", 1, "{}", None,
                        "", "", None, None, "", None, None, None, "", stamp(at), stamp(at), "",
                    ))  # fmt: skip
                    agreement_id += 1
                    agreement_rows.append((
                        agreement_id, draft_id, session_id, d, 1, office, track,
                        f"（{sealed_at.year}）白石调字第{agreement_id:05d}号", sealed_at.year,
                        agreement_id, 1, None, "", "0" * 64, "1" * 64, 1000, f"{agreement_id}.pdf",
                        f"B{agreement_id:08d}", "", "{}", stamp(sealed_at), officer,
                    ))  # fmt: skip
                    task_id += 1
                    due = (sealed_at + timedelta(days=rng.randint(7, 40))).date()
                    done = due < now.date() and rng.random() < 0.9
                    task_rows.append((
                        task_id, d, 1, office, agreement_id, "performance", track, due.isoformat(),
                        due.isoformat(), "1", officer, "done" if done else "open", 1,
                        stamp(sealed_at), stamp(sealed_at) if done else None,
                    ))  # fmt: skip
                    if done:
                        record_id += 1
                        outcome = rng.choice(("performed", "performed", "performed", "partly",
                                              "not_performed", "not_relevant"))  # fmt: skip
                        contacted = datetime.combine(due, datetime.min.time(), tzinfo=UTC)
                        record_rows.append((
                            record_id, task_id, d, stamp(contacted), "phone", "申请人", outcome,
                            "", "", "", officer, stamp(contacted),
                        ))  # fmt: skip
                    else:
                        open_followups += 1
                previous = status_next
            if previous in ("follow_up", "closed") and rng.random() < reopen_share:
                at = at + timedelta(days=rng.randint(1, 30))
                link = "followup" if rng.random() < 0.7 else "spot_check"
                event_rows.append(
                    (d, stamp(at), officer, "reopened", previous, "in_mediation", "", link, None)
                )
            for n in range(2):
                person = rng.randint(1, disputes * 2)
                party_rows.append((
                    d, f"当事人{person % 5000}", "applicant" if n == 0 else "respondent",
                    "resident_id", "", "", f"{person % 40000:064x}", f"139{person % 60000:08d}",
                    f"某路{person % 30000}号", 0, None, stamp(registered),
                ))  # fmt: skip
        # Exactly ``events`` entries: the paths' own, then "person added" notes.
        extra = events - len(event_rows)
        while extra > 0:
            d, registered, _ = plans[rng.randrange(len(plans))]
            note_at = stamp(registered + timedelta(hours=1))
            event_rows.append((d, note_at, None, "party_added", None, None, "当事人", "", None))
            extra -= 1
        event_count = len(event_rows)
        if event_count > events:
            raise ValueError(
                f"{disputes} disputes make {event_count} timeline entries by themselves: "
                f"ask for at least that many (--events)"
            )

        w.insert(
            "dispute",
            ["id", "reference", "station_id", "office_id", "title", "category", "cause",
             "occurred_at", "place", "scale", "people_involved", "trend", "development",
             "description", "source", "status", "risk_level", "route", "assignee_id",
             "triage_reason", "created_by_id", "created_at", "updated_at", "version",
             "criminal_on", "criminal_case_ref"],
            dispute_rows,
        )  # fmt: skip
        w.insert(
            "dispute_event",
            ["dispute_id", "at", "actor_id", "kind", "from_status", "to_status", "note",
             "link_kind", "link_id"],
            event_rows,
        )  # fmt: skip
        w.insert(
            "party",
            ["dispute_id", "name", "role", "id_type", "id_number_encrypted", "id_number_masked",
             "id_number_digest", "phone", "address", "minor", "represents_id", "created_at"],
            party_rows,
        )  # fmt: skip
        w.insert(
            "mediation_session",
            ["id", "station_id", "office_id", "dispute_id", "starts_at", "ends_at",
             "duration_minutes", "legal_track", "police_checks_confirmed", "presiding_officer_id",
             "status", "note", "cancel_reason", "created_by_id", "created_at", "updated_at"],
            session_rows,
        )  # fmt: skip
        w.insert(
            "invitation",
            ["id", "session_id", "role", "party_id", "expert_id", "staff_id", "display_name",
             "phone", "token_hash", "issued_at", "issued_by_id", "issue_count", "expires_at",
             "revoked_at", "revoked_reason", "first_opened_at", "last_opened_at", "open_count"],
            invitation_rows,
        )  # fmt: skip
        w.insert(
            "agreement_draft",
            ["id", "session_id", "dispute_id", "station_id", "office_id", "legal_track", "status",
             "version", "content", "frozen_version", "frozen_text", "frozen_sha256",
             "frozen_at", "frozen_by_id", "case_number", "case_year", "case_seq",
             "correction_of_id", "correction_reason", "created_at", "updated_at", "updated_by"],
            draft_rows,
        )  # fmt: skip
        w.insert(
            "agreement",
            ["id", "draft_id", "session_id", "dispute_id", "station_id", "office_id",
             "legal_track", "case_number", "case_year", "case_seq", "version", "supersedes_id",
             "correction_reason", "text_sha256", "pdf_sha256", "pdf_size", "file_name",
             "verify_code", "party_names", "evidence", "sealed_at", "sealed_by_id"],
            agreement_rows,
        )  # fmt: skip
        w.insert(
            "followup_task",
            ["id", "dispute_id", "station_id", "office_id", "agreement_id", "kind", "legal_track",
             "deadline", "due_on", "terms", "assignee_id", "status", "version", "created_at",
             "done_at"],
            task_rows,
        )  # fmt: skip
        w.insert(
            "followup_record",
            ["id", "task_id", "dispute_id", "contacted_at", "method", "reached", "outcome",
             "next_step", "next_detail", "note", "recorded_by_id", "recorded_at"],
            record_rows,
        )  # fmt: skip
    conn.execute("ANALYZE")
    conn.close()
    return Summary(
        path=path,
        disputes=len(dispute_rows),
        events=event_count,
        parties=len(party_rows),
        agreements=len(agreement_rows),
        followup_tasks=len(task_rows),
        open_followups=open_followups,
        seconds=time.perf_counter() - started,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--disputes", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    summary = generate(args.path, disputes=args.disputes, events=args.events, seed=args.seed)
    print(
        f"{summary.path}: {summary.disputes} disputes, {summary.events} timeline entries, "
        f"{summary.parties} parties, {summary.agreements} agreements, "
        f"{summary.followup_tasks} follow-up tasks ({summary.open_followups} open) "
        f"in {summary.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
