"""What may be recorded about a window, pure: the checks on a filing and on a court's decision.

Each refusal names its field and says why in words a beat office reads; the
messages are English msgids translated at the edge (the Chinese is in the
catalogue). Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.errors import N_, Conflict, ValidationFailed
from server.judicial.clock import DECISIONS, Status


@dataclass(frozen=True)
class Window:
    """The dates a check needs from the row."""

    effective_on: date
    window_ends_on: date
    status: str
    filed_on: date | None


def check_filing(window: Window, filed_on: date, today: date) -> None:
    """A filing is dated inside the window, not before the agreement took effect, not ahead."""
    if window.status != Status.OPEN:
        raise Conflict(N_("The filing has already been recorded."))
    if filed_on > today:
        raise ValidationFailed(
            N_("The filing date is in the future."), fields={"filed_on": "future"}
        )
    if filed_on < window.effective_on:
        raise ValidationFailed(
            N_("The filing date is before the agreement took effect (%(effective)s)."),
            params={"effective": window.effective_on.isoformat()},
            fields={"filed_on": "before_effective"},
        )
    if filed_on > window.window_ends_on:
        raise ValidationFailed(
            N_(
                "The 30-day window closed on %(ends)s; a filing dated after it cannot be "
                "recorded as an application for judicial confirmation."
            ),
            params={"ends": window.window_ends_on.isoformat()},
            fields={"filed_on": "lapsed"},
        )


def check_decision(
    window: Window, decision: str, decided_on: date, ruling: str, today: date
) -> None:
    """A decision follows a recorded filing, is not dated ahead or before it, and has its number."""
    if window.status in DECISIONS:
        raise Conflict(N_("The court's decision has already been recorded."))
    if window.status != Status.FILED or window.filed_on is None:
        raise Conflict(N_("Record the filing with the court before its decision."))
    if decision not in DECISIONS:
        raise ValidationFailed(
            N_("Choose one of the offered options."), fields={"decision": "enum"}
        )
    if not ruling.strip():
        raise ValidationFailed(
            N_("Enter the number of the court's ruling."), fields={"ruling_number": "missing"}
        )
    if decided_on > today:
        raise ValidationFailed(
            N_("The decision date is in the future."), fields={"decided_on": "future"}
        )
    if decided_on < window.filed_on:
        raise ValidationFailed(
            N_("The decision date is before the filing (%(filed)s)."),
            params={"filed": window.filed_on.isoformat()},
            fields={"decided_on": "before_filing"},
        )


#: What the parties bring to the court (最高人民法院《关于人民调解协议司法确认程序的若干规定》
#: art. 5, Civil Procedure Law art. 205). Printed after the application and put in the packet.
MATERIALS: tuple[str, ...] = (
    "司法确认申请书（由双方当事人共同签名或者盖章）",
    "人民调解协议书（本案加盖调解组织印章的协议书）",
    "双方当事人的身份证明：居民身份证原件及复印件；法人或者其他组织提交营业执照（登记证书）副本复印件及法定代表人（负责人）身份证明",
    "调解组织主持调解的证明（由人民调解委员会出具）",
    "与调解协议相关的财产权利证明等证明材料（如有）",
    "委托他人代为申请的，提交由委托人签名或者盖章的授权委托书及代理人的身份证明；无民事行为能力人或者限制民事行为能力人由其法定代理人代为申请，并提交监护关系证明",
    "双方当事人的送达地址、电话号码等联系方式（送达地址确认书）",
)
#: The notes printed under the list.
MATERIAL_NOTES: tuple[str, ...] = (
    "双方当事人应当自调解协议生效之日起三十日内共同向有管辖权的基层人民法院提出申请，并应共同到场。",
    "申请人应当保证出于解决纠纷的目的，不存在恶意串通、规避法律的行为；因虚假调解协议损害他人合法权益的，依法承担法律责任。",
)
