"""The rules (rag/rules.py): evidence that answers another question than the one asked is refused, saying why."""
from rag.answer import Draft
from rag.language.english import ENGLISH
from rag.retrieve import Passage
from rag.rules import RULES, Rules, is_heading

# The gates that do not compare the question with the passages found.
_OTHER_GATES = {"not-quoted", "low-confidence"}


def mismatch(question: str, sentence: str, passages: list[str], read_as: dict | None = None) -> str | None:
    found = [Passage(id=f"c{i}", text=t, source="doc.md", page=None, start=0, end=len(t)) for i, t in enumerate(passages)]
    draft = Draft(question, found, read_as=read_as or {}, span=sentence, passage=found[0], quote=sentence)
    reason = Rules(ENGLISH).refusal(draft, skip=_OTHER_GATES)
    return reason.text if reason else None


def asked_kind(question):
    return ENGLISH.asked_kind(question)


LEAVE = ("Employees accrue 27 days of paid annual leave per calendar year. The offices in Bergen, Oslo, Tromsø "
         "and Hamburg close at 15:00 on the day before Christmas Eve.")


def test_mismatch_lets_a_plain_question_through():
    assert mismatch("How many days of paid annual leave do employees get?", LEAVE, [LEAVE]) is None
    assert mismatch("When do the Bergen and Tromso offices close?", LEAVE, [LEAVE]) is None  # ø typed as o


def test_mismatch_names_what_no_passage_mentions():
    reason = mismatch("How many days of paid annual leave do employees get in 2031?", LEAVE, [LEAVE])
    assert reason == "the passages found do not mention '2031'"
    assert "'Stavanger'" in mismatch("When does the Stavanger office close?", LEAVE, ["Other text.", LEAVE])


def test_mismatch_names_a_code_no_passage_mentions():
    ward = "On Ward 7B, nursing handover takes place at 07:30, 14:00 and 20:30."
    assert mismatch("At what time is the evening handover on Ward 7C?", ward, [ward]) == \
        "the passages found do not mention '7C'"
    assert mismatch("At what time is the evening handover on Ward 7B?", ward, [ward]) is None


def test_a_code_with_another_number_is_not_a_misspelling():
    checklist = "Forklift FL-12 daily pre-use checklist and defect record."
    assert mismatch("When was forklift FL-14 last examined?", checklist, [checklist]) == \
        "the passages found do not mention 'FL-14'"


def test_the_asked_kind_comes_from_the_wording_only():
    assert asked_kind("How many days of paid annual leave do employees get?") == "amount"
    assert asked_kind("In what year was the bridge completed?") == "year"
    assert asked_kind("How long does each handover last?") == "measure"
    assert asked_kind("How often are passwords rotated?") == "measure"
    assert asked_kind("When was Operation Market Garden?") == "time"
    # "When" opening a clause of a question that asks something else
    assert asked_kind("When extensive time is required to sort integers, what case is this?") is None
    assert asked_kind("Who approves an extension of probation?") is None
    assert asked_kind("Why is the Saffron Kestrel project late?") == "reason"


def test_mismatch_forgives_misspelt_names():
    assert mismatch("When does the Hamburgh office close?", LEAVE, [LEAVE]) is None


def test_headings_are_told_from_lines_that_state_something():
    for line in ("### 4. Saffron Kestrel Project", "6.1 Code of Conduct", "3.2.1 Sick Leave", "COMPLAINTS"):
        assert is_heading(line, ENGLISH), line
    # a contact table's row, an address, a title without a number, and sentences stay evidence
    for line in ("Compliance Officer Mats Engebretsen", "10 Downing Street", "Halvorsen Maritime Insurance",
                 "Employees accrue 27 days of paid annual leave per calendar year.", "Annual leave 27 days",
                 "1. All new staff serve a probation period of six months."):
        assert not is_heading(line, ENGLISH), line




def test_every_rule_has_a_code_a_stage_and_a_one_line_doc_and_can_be_switched_off():
    assert len(RULES) >= 5
    for code, rule in RULES.items():
        assert rule.code == code and rule.stage in ("evidence", "gate", "shown", "sentence") and rule.doc, code
    assert {r.code for r in Rules(ENGLISH, disabled={"unmentioned"}).active} == set(RULES) - {"unmentioned"}
    assert {r.stage for r in RULES.values()} == {"evidence", "gate", "shown", "sentence"}
    leave = "Employees accrue 27 days of paid annual leave per calendar year."
    found = [Passage(id="c1", text=leave, source="doc.md", page=None, start=0, end=len(leave))]
    draft = Draft("How many days of leave do employees get in 2031?", found, span="27 days", passage=found[0],
                  quote=leave)
    assert Rules(ENGLISH).refusal(draft, skip=_OTHER_GATES).code == "unmentioned"
    assert Rules(ENGLISH, disabled={"unmentioned"}).refusal(draft, skip=_OTHER_GATES) is None


def test_an_unknown_rule_is_a_clear_error_naming_the_rules():
    import pytest

    from rag.errors import UsageError

    with pytest.raises(UsageError, match="unknown rule no-such-rule; rules are: .*unmentioned"):
        Rules(ENGLISH, disabled={"no-such-rule"})
