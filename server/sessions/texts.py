"""The words sent to invitees: an SMS/WeChat text, in Chinese.

Invitees are members of the public reading on a phone; the text is in
Chinese whatever language the staff member's screen is in, and says when,
where to click, and what to prepare.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.models import Dispute, Invitation, MediationSession, Station
from server.sessions.rules import InviteeRole

WEEKDAYS = "一二三四五六日"
ROLE_WORDS = {
    InviteeRole.PARTY: "当事人",
    InviteeRole.AGENT: "委托代理人",
    InviteeRole.GUARDIAN: "监护人",
    InviteeRole.EXPERT: "调解专家",
    InviteeRole.OBSERVER: "列席人员",
    InviteeRole.STAFF: "工作人员",
}


def when_zh(value: datetime, tz: ZoneInfo) -> str:
    """2026年11月26日（周四）14:30"""
    local = value.astimezone(tz)
    return (
        f"{local.year}年{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）{local:%H:%M}"
    )


def invitation_text(
    *,
    invitation: Invitation,
    session: MediationSession,
    dispute: Dispute,
    station: Station,
    link: str,
    tz: ZoneInfo,
) -> str:
    role = ROLE_WORDS.get(InviteeRole(invitation.role), "参加人员")
    lines = [
        f"【{station.name}】{invitation.display_name}您好：",
        f"“{dispute.title}”定于{when_zh(session.starts_at, tz)}进行远程视频调解，"
        f"预计{session.duration_minutes}分钟，您以{role}身份参加。",
        f"请在开始前10分钟用手机点击专属链接进入（无需下载软件）：{link}",
        "请准备：本人身份证件；安静、光线充足的地方；电量充足、网络良好的手机。",
        "此链接仅限本人使用，请勿转发。",
    ]
    if station.phone:
        lines.append(f"如有疑问请致电{station.phone}。")
    return "\n".join(lines)


def cancellation_text(
    *,
    invitation: Invitation,
    session: MediationSession,
    dispute: Dispute,
    station: Station,
    tz: ZoneInfo,
) -> str:
    contact = station.phone or station.name
    return (
        f"【{station.name}】{invitation.display_name}您好：原定于{when_zh(session.starts_at, tz)}"
        f"的“{dispute.title}”远程调解已取消，原链接作废。如有疑问请致电{contact}。"
    )
