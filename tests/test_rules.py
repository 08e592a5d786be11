"""The rules (rag/rules.py): evidence that answers another question than the one asked is refused, saying why."""
from rag.answer import Draft
from rag.language.english import ENGLISH
from rag.retrieve import Passage
from rag.rules import RULES, Rules, fits_kind, is_heading, names_what_is_counted

# The gates that compare the question with the evidence sentence and the passages found.
_OTHER_GATES = {"not-quoted", "off-topic", "wrong-kind", "low-confidence"}


def mismatch(question: str, sentence: str, passages: list[str], read_as: dict | None = None) -> str | None:
    found = [Passage(id=f"c{i}", text=t, source="doc.md", page=None, start=0, end=len(t)) for i, t in enumerate(passages)]
    draft = Draft(question, found, read_as=read_as or {}, span=sentence, passage=found[0], quote=sentence)
    reason = Rules(ENGLISH).refusal(draft, skip=_OTHER_GATES)
    return reason.text if reason else None


def asked_kind(question):
    return ENGLISH.asked_kind(question)


def fits(span, kind):
    question = {"amount": "How many are there?", "time": "When is it?", "year": "In what year was it?",
                "measure": "How long is it?", "reason": "Why is it?", None: "Who is it?"}[kind]
    assert asked_kind(question) == kind
    return fits_kind(question, span, ENGLISH)


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


def test_mismatch_refuses_a_sentence_about_a_neighbouring_code_or_month():
    p1 = "Step 3: For a P1, the Incident Commander opens a bridge call within one hour."
    p4 = "Step 4: A P4 is handled by the service desk in normal hours."
    assert mismatch("Who opens the bridge call for a P4 incident?", p1, [p1, p4]) == \
        "the question is about 'P4', the evidence sentence about 'P1'"
    assert mismatch("Who opens the bridge call for a P1 incident?", p1, [p1, p4]) is None
    march = "Two near misses with pallet trucks were reported in March, both by dock 4."
    february = "In February the dock was closed."
    assert mismatch("How many near misses were reported in February?", march, [march, february]) == \
        "the question is about 'February', the evidence sentence about 'March'"
    # "may" the verb names no month
    claims = "Claims may be submitted until the end of the month."
    assert mismatch("Until when can June claims be submitted?", claims, [claims, "Budgets close in June."]) is None


def test_a_count_of_something_else_answers_another_question():
    castles = 'It is known as "the Romantic Rhine", with more than 40 castles and fortresses from the Middle Ages.'
    assert mismatch("How many vineyards are located in the Romantic Rhine?", castles, [castles]) == \
        "the question counts 'vineyards', the evidence sentence does not name them"
    assert mismatch("How many castles are located in the Romantic Rhine?", castles, [castles]) is None
    # a stem or a spelling variant names it too
    route = "Is there a route of at most 2000 kilometres passing through all of Germany's 15 largest cities?"
    assert names_what_is_counted("By how many kilometers does the route go?", route, ENGLISH)
    assert names_what_is_counted("How many days of leave are there?", "Staff get 27 days' leave a year.", ENGLISH)
    assert names_what_is_counted("Who chaired the meeting?", castles, ENGLISH)  # counts nothing


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


def test_a_span_fits_its_kind_only_if_it_names_one():
    for span in ("27 days", "£5,000", "three", "a single output", "2.5%"):
        assert fits(span, "amount"), span
    for span in ("September 1944", "the 10th century", "14:00", "every three years", "the end of World War I"):
        assert fits(span, "time"), span
    assert fits("1932", "year") and not fits("the firm Dorman Long", "year")
    # a code is not an amount: "How long is the warranty on the HS-7?" is not answered by "the HS-BAT7"
    for span in ("the HS-BAT7", "form TA-3", "Ward 7C", "Dorman Long"):
        assert not fits(span, "amount") and not fits(span, "time"), span
    assert fits("anything at all", None)
    # "Why is the project late?" is not answered by how late it is
    assert fits("data migration issues", "reason") and fits("3 months behind schedule", "reason")
    assert not fits("3 months", "reason") and not fits("2026", "reason")


def test_how_long_or_how_often_wants_a_number_with_its_unit():
    for span in ("six months", "1,230 km", "30-minute", "2.5%", "every three years", "twice", "weekly",
                 "five working days"):
        assert fits(span, "measure"), span
    # "4" of "Harwell Logistics Employee Handbook, Section 4: Probation." answered "How long is probation?"
    for span in ("4", "three", "Section 4", "Section 4: Probation", "14:00", "1932 by the firm"):
        assert not fits(span, "measure"), span


def test_mismatch_forgives_misspelt_names():
    assert mismatch("When does the Hamburgh office close?", LEAVE, [LEAVE]) is None


def test_mismatch_refuses_evidence_for_the_opposite_question():
    assert mismatch("Which employees do not accrue paid leave?", LEAVE, [LEAVE]) == \
        "the question is negated and the evidence is not"
    assert mismatch("Whether or not employees accrue leave, how many days?", LEAVE, [LEAVE]) is None
    assert mismatch("What is the least used reduction?", "The most commonly used reduction is a "
                    "polynomial-time reduction.", [LEAVE]) == "the question asks 'least', the evidence says 'most'"


def test_mismatch_refuses_evidence_about_the_un_prefixed_opposite():
    files = "Recruitment files for unsuccessful candidates: retain for six months, then delete."
    assert mismatch("How long are files of successful candidates retained?", files, [files]) == \
        "the question asks 'successful', the evidence says 'unsuccessful'"
    leave = "A secondary adopter receives four weeks of paid leave."
    assert mismatch("How many weeks of unpaid leave can a secondary adopter take?", leave, [leave]) == \
        "the question asks 'unpaid', the evidence says 'paid'"
    hotline = "Concerns can be reported through the external hotline run by Veritel."
    assert mismatch("Which company runs the internal hotline?", hotline, [hotline]) == \
        "the question asks 'internal', the evidence says 'external'"
    # "not known" is what "unknown" asks about
    np = "NP contains many problems for which no efficient algorithm is known."
    assert mismatch("Which class is characterised by unknown algorithms?", np, [np]) is None


def test_headings_are_told_from_lines_that_state_something():
    for line in ("### 4. Saffron Kestrel Project", "6.1 Code of Conduct", "3.2.1 Sick Leave", "COMPLAINTS"):
        assert is_heading(line, ENGLISH), line
    # a contact table's row, an address, a title without a number, and sentences stay evidence
    for line in ("Compliance Officer Mats Engebretsen", "10 Downing Street", "Halvorsen Maritime Insurance",
                 "Employees accrue 27 days of paid annual leave per calendar year.", "Annual leave 27 days",
                 "1. All new staff serve a probation period of six months."):
        assert not is_heading(line, ENGLISH), line




def test_every_rule_has_a_code_a_stage_and_a_one_line_doc_and_can_be_switched_off():
    assert len(RULES) >= 10
    for code, rule in RULES.items():
        assert rule.code == code and rule.stage in ("evidence", "span", "gate", "shown", "sentence") and rule.doc, code
    assert {r.code for r in Rules(ENGLISH, disabled={"negated"}).active} == set(RULES) - {"negated"}
    assert {r.stage for r in RULES.values()} == {"evidence", "span", "gate", "shown", "sentence"}
    leave = "Employees accrue 27 days of paid annual leave per calendar year."
    found = [Passage(id="c1", text=leave, source="doc.md", page=None, start=0, end=len(leave))]
    draft = Draft("Which employees do not accrue paid leave?", found, span="27 days", passage=found[0], quote=leave)
    assert Rules(ENGLISH).refusal(draft, skip=_OTHER_GATES).code == "negated"
    assert Rules(ENGLISH, disabled={"negated"}).refusal(draft, skip=_OTHER_GATES) is None


def test_an_unknown_rule_is_a_clear_error_naming_the_rules():
    import pytest

    from rag.errors import UsageError

    with pytest.raises(UsageError, match="unknown rule no-such-rule; rules are: .*negated"):
        Rules(ENGLISH, disabled={"no-such-rule"})
