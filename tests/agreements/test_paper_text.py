"""The sealed PDF says exactly what was signed, for any draft.

A property over generated drafts: parties with and without ID numbers,
agents and guardians acting for them, several parties on each side, long
and multi-line terms, emoji and other symbols, both legal tracks, first
versions and corrections. Each is composed by the rules, rendered, sealed,
read back with poppler's ``pdftotext`` and compared with the frozen text
(see ``paper_text`` for what exactly is compared). A draft with a character
the paper cannot carry must be refused by the rules instead, naming it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from server.agreements import glyphs
from server.agreements.document import PEOPLE, POLICE, AgreementDocument, PersonBlock
from server.agreements.pki import StationPki, create_station_pki
from server.agreements.render import render_pdf
from server.agreements.rules import (
    PARTY_ROLES_ZH,
    PRESIDING_LABELS,
    TITLES,
    TextHeader,
    signed_text,
    unprintable_problems,
)
from server.agreements.schemas import DraftContent
from tests.agreements.paper_text import (
    agreement_pages_text,
    expected_pages_text,
    first_difference,
)
from tests.agreements.pdf_support import document, sealer_for

STATION = "白石派出所"
COMMITTEE = "白石街道人民调解委员会"

#: Characters drafts are typed in: common hanzi, Latin, digits, the
#: punctuation of Chinese and Western text, and HTML's special characters.
HANZI = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤大山国强丽华伟娜敏静军洋勇艳杰涛明超秀霞"
    "平刚桂英"
)
PROSE = HANZI + (
    "的一是在不了有和人这中大为上个以要他时来用们生到作地于出就分对成会可主发年动同工"
    "也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理"
    "起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社"
    "义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只"
    "没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品"
    "式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九"
    "区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志"
    "世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身"
    "车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传"
    "土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深"
    "难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号"
    "率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包"
    "火住调满县局照参红细引听该铁价严龙飞"
)
ASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;:!?()[]/-+%&<>\"'#@¥$"
CJK_PUNCTUATION = "，。、；：？！“”‘’（）《》【】—…·～①②③％＋－＝"
#: Symbols and emoji the installed fonts draw (DejaVu has the emoticons block).
DRAWN_SYMBOLS = "😀😂😊☃☺♥★☆✓✔→←↑↓※〇"
#: Characters the paper cannot carry: emoji no installed font has, invisibles.
UNPRINTABLE = ["👨", "✅", "🎉", "\u200b", "\u00ad", "\ufe0f", "\u202e"]

printable_chars = st.sampled_from(PROSE + CJK_PUNCTUATION + ASCII + DRAWN_SYMBOLS)


def words(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    """A line of typed text with at least one visible character."""
    return st.text(printable_chars, min_size=min_size, max_size=max_size).filter(
        lambda s: bool(s.strip())
    )


def paragraphs(max_lines: int = 4, max_size: int = 200) -> st.SearchStrategy[str]:
    """Free text as typed in a text area: lines, some of them blank."""
    line = st.one_of(words(1, max_size), st.just(""))
    return st.lists(line, min_size=1, max_size=max_lines).map("\n".join).filter(str.strip)


names = st.text(st.sampled_from(HANZI), min_size=2, max_size=4) | st.builds(
    lambda a, b: f"{a}·{b}",
    st.text(st.sampled_from(HANZI), min_size=2, max_size=3),
    st.text(st.sampled_from(HANZI), min_size=2, max_size=4),
)
id_numbers = st.one_of(
    st.just(""),
    st.from_regex(r"\A[1-6][0-9]{16}[0-9X]\Z"),
    st.from_regex(r"\A[EG][0-9]{8}\Z"),
)
ID_LABELS = {"resident_id": "居民身份证", "passport": "护照"}


@dataclass(frozen=True)
class Principal:
    role: str  # applicant / respondent
    name: str
    id_number: str
    address: str
    #: Who acts for them: "" / "agent" / "guardian" (a minor), and that person's name.
    acting: str
    acting_name: str


@dataclass(frozen=True)
class Case:
    track: str
    version: int
    principals: tuple[Principal, ...]
    others: tuple[str, ...]
    content: DraftContent


@st.composite
def principals(draw: st.DrawFn, role: str) -> Principal:
    return Principal(
        role=role,
        name=draw(names),
        id_number=draw(id_numbers),
        address=draw(st.one_of(st.just(""), words(4, 40))),
        acting=draw(st.sampled_from(["", "", "agent", "guardian"])),
        acting_name=draw(names),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    track = draw(st.sampled_from([PEOPLE, POLICE]))
    applicants = draw(st.lists(principals("applicant"), min_size=1, max_size=3))
    respondents = draw(st.lists(principals("respondent"), min_size=1, max_size=3))
    long_term = words(200, 900)
    terms = draw(st.lists(st.one_of(words(), paragraphs(2, 80), long_term), min_size=1, max_size=8))
    # Some terms due on a day of their own (printed after the term), most on the overall one.
    own_deadline = st.one_of(st.none(), st.none(), st.dates(date(2026, 1, 1), date(2030, 12, 31)))
    content = DraftContent.model_validate(
        {
            "facts": draw(paragraphs(5, 300)),
            "disputed_matters": draw(paragraphs(2)) if track == PEOPLE else "",
            "responsibility": draw(paragraphs(2)) if track == PEOPLE else "",
            "terms": terms,
            "term_deadlines": draw(
                st.lists(own_deadline, min_size=len(terms), max_size=len(terms))
            ),
            "performance_manner": draw(words(2, 80)),
            "performance_deadline": draw(st.dates(date(2026, 1, 1), date(2030, 12, 31))),
        }
    )
    return Case(
        track=track,
        version=draw(st.sampled_from([1, 1, 2])),
        principals=tuple(applicants + respondents),
        others=tuple(draw(st.lists(words(2, 12), max_size=3))),
        content=content,
    )


def person_blocks(case: Case) -> tuple[PersonBlock, ...]:
    """As ``service.person_blocks`` lists them: principals first, then those acting for them."""
    blocks = [
        PersonBlock(
            role_label=PARTY_ROLES_ZH[p.role],
            name=p.name,
            id_label=ID_LABELS["passport" if p.id_number[:1] in "EG" else "resident_id"],
            id_number=p.id_number,
            address=p.address,
        )
        for p in case.principals
    ]
    blocks.extend(
        PersonBlock(
            role_label=PARTY_ROLES_ZH[p.acting],
            name=p.acting_name,
            id_label="居民身份证",
            id_number="",
            address="",
            acting_for=p.name,
        )
        for p in case.principals
        if p.acting
    )
    return tuple(blocks)


def header_of(case: Case) -> TextHeader:
    return TextHeader(
        track=case.track,
        mediating_body=COMMITTEE if case.track == PEOPLE else STATION,
        presiding_name="周建华",
        others_present=case.others,
        session_time="2026年11月25日 09:30—10:40",
        session_place="远程视频调解（白石派出所滨河社区警务室主持）",
        parties=person_blocks(case),
        copies=len(case.principals) + 1 if case.track == PEOPLE else 3,
    )


@functools.cache
def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (60, 20), (20, 20, 60, 255)).save(out, format="PNG")
    return out.getvalue()


def paper_of(case: Case) -> AgreementDocument:
    """The document sealing makes of this case: the body the rules composed, one mark a signer."""
    body = signed_text(header_of(case), case.content)
    text = body.plain
    frame = document(case.track)
    mark = frame.signatures[0]
    signers = [
        (PARTY_ROLES_ZH[p.acting or p.role], p.acting_name if p.acting else p.name)
        for p in case.principals
    ]
    signers.append((PRESIDING_LABELS[case.track], "周建华"))
    return dataclasses.replace(
        frame,
        title=TITLES[case.track],
        version=case.version,
        correction_reason="" if case.version == 1 else "第二条金额笔误。",
        mediating_body=COMMITTEE if case.track == PEOPLE else STATION,
        presiding_name="周建华",
        body=body,
        canonical_text=text,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        signatures=tuple(
            dataclasses.replace(mark, role_label=role, name=name, image_png=tiny_png())
            for role, name in signers
        ),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("pki"), STATION)


def _content(**changes: object) -> DraftContent:
    base = {
        "facts": "2026年11月20日晚，双方因停车位发生争执。",
        "disputed_matters": "车辆刮擦的修理费用。",
        "responsibility": "被申请人负主要责任。",
        "terms": ["被申请人赔偿申请人修理费人民币800元。"],
        "performance_manner": "当面支付现金。",
        "performance_deadline": date(2026, 12, 31),
    }
    base.update(changes)
    return DraftContent.model_validate(base)


#: The first defect found: a party without an ID number ("被申请人：赵大山。"
#: signed, "被申请人：赵大山，居民身份证号码：。" printed).
NO_ID = Case(
    track=PEOPLE,
    version=1,
    principals=(
        Principal("applicant", "王丽华", "110101199003074514", "滨河小区3栋", "", ""),
        Principal("respondent", "赵大山", "", "", "", ""),
    ),
    others=(),
    content=_content(),
)
#: The second: an agent's wording ("委托代理人：赵律师（代张国强）" signed,
#: "委托代理人：赵律师（张国强的委托代理人）" printed), here with a guardian too.
ACTING = Case(
    track=POLICE,
    version=2,
    principals=(
        Principal("applicant", "王丽华", "110101199003074514", "滨河小区3栋", "guardian", "王大明"),
        Principal("respondent", "张国强", "", "", "agent", "赵律师"),
    ),
    others=("陈律师（律师）",),
    content=_content(disputed_matters="", responsibility=""),
)

#: Terms with deadlines of their own: the note after the term reaches the paper as signed.
OWN_DEADLINES = dataclasses.replace(
    NO_ID,
    content=_content(
        terms=["被申请人当面赔礼道歉。", "被申请人赔偿申请人修理费人民币800元。"],
        term_deadlines=[date(2026, 12, 5), None],
    ),
)


#: Rendering and sealing cost ~0.3-1 s an example; shrinking a failure would
#: take minutes, so a failing draft is reported as generated, not shrunk.
@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
@example(case=NO_ID)
@example(case=ACTING)
@example(case=OWN_DEADLINES)
def test_the_sealed_paper_says_exactly_the_signed_text(case: Case, pki: StationPki) -> None:
    doc = paper_of(case)
    assert unprintable_problems(doc.body, glyphs.printable, glyphs.shown) == []
    pdf = sealer_for(pki).seal(render_pdf(doc), reason="调解协议书电子印章", location=STATION)
    actual, expected = agreement_pages_text(pdf, doc), expected_pages_text(doc)
    assert actual == expected, first_difference(actual, expected)


def test_the_font_coverage_the_generated_drafts_rely_on() -> None:
    """DejaVu Sans draws the emoticons used above; nothing draws the refused ones."""
    assert all(glyphs.printable(c) for c in PROSE + CJK_PUNCTUATION + ASCII + DRAWN_SYMBOLS)
    assert not any(glyphs.printable(c) for c in UNPRINTABLE)


def test_the_reported_defects_read_as_signed() -> None:
    """The two examples above say what the issue says was signed."""
    assert "被申请人：赵大山。\n" in paper_of(NO_ID).canonical_text
    assert "委托代理人：赵律师（代张国强）。\n" in paper_of(ACTING).canonical_text
    assert "法定代理人：王大明（代王丽华）。\n" in paper_of(ACTING).canonical_text
    assert "1. 被申请人当面赔礼道歉。（本项于2026年12月5日前履行完毕）\n" in (
        paper_of(OWN_DEADLINES).canonical_text
    )


@settings(max_examples=60, deadline=None)
@given(case=cases(), bad=st.sampled_from(UNPRINTABLE), where=st.sampled_from(["facts", "terms"]))
def test_a_character_the_paper_cannot_carry_is_refused_naming_it(
    case: Case, bad: str, where: str
) -> None:
    value = case.content.facts if where == "facts" else case.content.terms[0]
    mixed = value[: len(value) // 2] + bad + value[len(value) // 2 :]
    changes = {"facts": mixed} if where == "facts" else {"terms": (mixed, *case.content.terms[1:])}
    content = case.content.model_copy(update=changes)
    problems = unprintable_problems(
        signed_text(header_of(case), content), glyphs.printable, glyphs.shown
    )
    assert [p.field for p in problems] == [where]
    assert glyphs.shown(bad) in problems[0].params["chars"]
