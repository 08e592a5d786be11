"""Conversations: a follow-up question is answered as the standalone question it means.

"And for part-time staff?" after "How many days of paid annual leave do employees get?" cannot be retrieved on its
own words. Each turn is therefore read as a standalone question first, then answered and audited like any question:

- **With a chat model** (a local instruct model or an inference server, as `rag.written.writes` says), the model is
  shown the last few standalone questions and asked, greedily, to rewrite the new one as a standalone question. The
  rewrite is discarded when it is empty, longer than both questions together, drops a content word of the follow-up,
  takes nothing from the earlier questions, or names more than `INVENTED_STEMS` things neither they nor the follow-up
  said; the fallback then decides.
- **The fallback** (the packaged base model, or a discarded rewrite) reads the words of the question's language
  (`Language.follow_up_openers`, `question_words`, `referring`). A question is a follow-up when it opens with a
  follow-up opener ("and", "what about", "et", "qu'en est-il"), when it has no content word at all once its question
  words are set aside ("Why?", "How long?"), or when it points back with a pronoun ("Is it paid?") and says at most
  `FEW_CONTENT_WORDS` content words. Then:
  - an opener followed by a phrase that asks nothing of its own ("And for part-time staff?", "What about backups?")
    asks the previous question again about something else: the phrase replaces the previous question's phrase opened
    by the same function word ("for the Tromsø renovation" → "for the Saffron Kestrel project"), or is added to the
    previous question when it has none ("How many days of paid annual leave do employees get, for part-time staff?");
  - any other follow-up asks something new about the previous subject: it is kept, followed by the previous
    question's content words it lacks ("Is it paid? (days compassionate leave employees get)").
  Anything else stands alone. No rule names a question: only the words each language lists.

The turns live in this object's memory only (the last `MAX_TURNS`); nothing of a conversation is written to disk
except each turn's sealed audit entry (`Assistant._record`), which holds the standalone question too.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields
from typing import Iterator, Sequence

from rag import language as languages
from rag.answer import Answer, checked_question
from rag.language import Language, apostrophes
from rag.language.detect import MIN_CONFIDENCE, identify

MAX_TURNS = 20  # kept in memory; only the last REWRITE_TURNS are read
REWRITE_TURNS = 3  # earlier standalone questions a chat model is shown
REWRITE_TOKENS = 80  # a question, not an answer
FEW_CONTENT_WORDS = 2  # a question that points back with a pronoun and says no more than this is a follow-up
INVENTED_STEMS = 2  # a rewrite may name this many things neither turn said (a synonym, an inflection) and no more

_WORD = re.compile(r"\w+")
_END = re.compile(r"[\s?!.…]*$")


@dataclass
class Turn:
    question: str  # as the user asked it
    standalone: str  # as it was answered
    language: str
    by: str  # "asked" (it stood alone), "model" (a chat model's rewrite) or "words" (the fallback)


@dataclass
class ConversationAnswer(Answer):
    """An answer in a conversation: the question as asked, and the standalone question that was answered."""

    standalone: str = ""

    @classmethod
    def of(cls, answer: Answer, question: str, standalone: str) -> "ConversationAnswer":
        values = {f.name: getattr(answer, f.name) for f in fields(answer)}
        return cls(**{**values, "question": question, "standalone": standalone})

    def render_text(self) -> str:
        lines = super().render_text().split("\n")
        if self.standalone != self.question:
            lines.insert(1, languages.get(self.language).say("conversation.understood", question=self.standalone))
        return "\n".join(lines)

    __str__ = render_text


class Conversation:
    """Questions asked one after the other of an Assistant (`assistant.conversation()`); `ask` and `stream` take the
    arguments of `Assistant.ask` and `Assistant.stream`. Not thread-safe, like the models it asks."""

    def __init__(self, assistant, turns: list[Turn] | None = None):  # a rag.api.Assistant (it imports this module)
        self.assistant = assistant
        self.turns = turns if turns is not None else []  # a caller's list is kept and extended (the server's)

    def reset(self) -> None:
        """Start anew: the next question stands alone."""
        self.turns.clear()

    def standalone(self, question: str, lang: str | None = None) -> tuple[str, str, Language]:
        """The question as it is to be answered, how it was read ("asked", "model", "words"), and its language."""
        language = self._language(question, lang)
        if not self.turns:
            return question, "asked", language
        previous = self.turns[-1].standalone
        from rag.written import writes

        if writes(self.assistant.generator):
            earlier = [turn.standalone for turn in self.turns[-REWRITE_TURNS:]]
            rewritten = rewrite(self.assistant.generator, question, earlier, language)
            if rewritten:
                return rewritten, "model", language
        carried = follow_up(question, previous, language)
        return (carried, "words", language) if carried else (question, "asked", language)

    def ask(self, question: str, k: int | None = None, user: str | None = None, within: Sequence[str] = (),
            lang: str | None = None, mode: str | None = None) -> ConversationAnswer:
        question = checked_question(question)
        standalone, by, language = self.standalone(question, lang)
        answer = self.assistant._pipeline_for(k, within, language.code).ask(standalone, mode)
        return self._turn(question, standalone, by, language, answer, user)

    def stream(self, question: str, k: int | None = None, user: str | None = None, within: Sequence[str] = (),
               lang: str | None = None, mode: str | None = None) -> Iterator:
        """`ask` as it happens, as `Assistant.stream` gives it; the last event's answer is a ConversationAnswer."""
        from rag.written import Event

        question = checked_question(question)
        standalone, by, language = self.standalone(question, lang)
        for event in self.assistant._pipeline_for(k, within, language.code).stream(standalone, mode):
            if event.kind == "answer":
                event = Event("answer", self._turn(question, standalone, by, language, event.data, user))
            yield event

    def _turn(self, question: str, standalone: str, by: str, language: Language, answer: Answer,
              user: str | None) -> ConversationAnswer:
        answer = ConversationAnswer.of(answer, question, standalone)
        self.turns.append(Turn(question, standalone, language.code, by))
        del self.turns[:-MAX_TURNS]
        self.assistant._record(question, answer, user, standalone=standalone)
        return answer

    def _language(self, question: str, lang: str | None) -> Language:
        """The language chosen (`lang`, then the settings'), else the question's when it can be told, else the
        conversation's so far: "Et pour les cadres ?" is too short to tell, not English."""
        chosen = lang or self.assistant.settings.lang
        if chosen and chosen != "auto":
            return languages.get(chosen)
        found = identify(question)
        if found and found[1] >= MIN_CONFIDENCE:
            return languages.get(found[0])
        return languages.get(self.turns[-1].language) if self.turns else languages.of(question)


def follow_up(question: str, previous: str, language: Language) -> str | None:
    """The standalone question a follow-up means, read by the words of its language (the module's docstring says
    how); None when the question stands alone."""
    rest, opened = _without_openers(question, language)
    words = language.words(rest)
    content = [w for w in language.content_words(rest) if w not in language.question_words]
    refers = any(w in language.referring for w in words)
    asks = refers or any(w in language.question_words for w in words)
    if content and not ((opened and not asks) or ((opened or refers) and len(content) <= FEW_CONTENT_WORDS)):
        return None
    ending = _END.search(question.strip()).group() or "?"  # as typed: French "?" follows a space
    if opened and not asks and content:
        return _instead(previous, _END.sub("", rest), ending, language)
    have = language.stems(rest)  # "payées" has what "payés" would carry
    carried = [w for w in _content_tokens(previous, language) if not language.stems(w) <= have]
    return f"{_END.sub('', question)}{ending} ({' '.join(carried)})" if carried else None


def _without_openers(question: str, language: Language) -> tuple[str, bool]:
    """The question without the follow-up openers it starts with ("But what about ..." loses both), and whether it had
    any."""
    text, opened = question.strip(), False
    if not language.follow_up_openers:
        return text, False
    pattern = _openers(language.follow_up_openers)
    while (found := pattern.match(apostrophes(text))) and found.end() < len(text):  # ’ → ': offsets hold
        text, opened = text[found.end():], True
    return text, opened


@functools.lru_cache(maxsize=None)
def _openers(openers: tuple[str, ...]) -> re.Pattern:
    """Any of the openers, longest first, as whole words, with the spaces and commas after it."""
    alternatives = "|".join(r"\s+".join(map(re.escape, o.split())) for o in sorted(openers, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})(?!\w)[\s,]*", re.IGNORECASE)


def _instead(previous: str, phrase: str, ending: str, language: Language) -> str:
    """The previous question about `phrase` instead: its last phrase opened by the function word `phrase` opens with
    is replaced, when something it asks about comes before that word; else `phrase` is added to it."""
    first = (language.words(phrase) or [""])[0]
    if first in language.stopwords:
        starts = [m.start() for m in re.finditer(rf"(?<!\w){re.escape(first)}(?!\w)", apostrophes(previous),
                                                 re.IGNORECASE)]
        if starts and language.content_words(previous[:starts[-1]]):
            return f"{previous[:starts[-1]]}{phrase}{ending}"
    return f"{_END.sub('', previous)}, {phrase}{ending}"


def _content_tokens(text: str, language: Language) -> list[str]:
    """The content words of `text` as written (capitals kept: an acronym or a name stays one), each once."""
    content = set(language.content_words(text)) - language.question_words
    tokens: dict[str, str] = {}
    for token in _WORD.findall(apostrophes(text)):
        if token.lower() in content:
            tokens.setdefault(token.lower(), token)
    return list(tokens.values())


def rewrite(generator, question: str, earlier: list[str], language: Language) -> str | None:
    """A chat model's standalone rewrite of `question` after the `earlier` standalone questions, or None when
    `accepted` refuses it."""
    say = language.say
    listed = "\n".join(f"{n}. {q}" for n, q in enumerate(earlier, start=1))
    user = f"{say('conversation.earlier')}:\n{listed}\n\n{say('conversation.follow_up')}: {question}"
    return accepted("".join(generator.write(say("conversation.rewrite"), user, REWRITE_TOKENS)), question, earlier,
                    language)


def accepted(reply: str, question: str, earlier: list[str], language: Language) -> str | None:
    """The rewrite in a model's reply (its first line, unquoted), or None when it is empty, longer than the follow-up
    and the previous question together, drops a content word of the follow-up, takes no word from the earlier
    questions, or names more than `INVENTED_STEMS` words neither they nor the follow-up hold."""
    lines = [line.strip().strip("\"'`«»“” ") for line in reply.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if not text or len(text) > len(question) + len(earlier[-1]):
        return None
    history, kept = set().union(*(language.stems(q) for q in earlier)), language.stems(text)
    added = kept - language.stems(question)
    if not added & history or len(added - history) > INVENTED_STEMS or not _asked(question, language) <= kept:
        return None
    return text


def _asked(question: str, language: Language) -> set[str]:
    """The stems of what a follow-up names, openers and question words aside: a rewrite must keep them all."""
    rest, _ = _without_openers(question, language)
    return language.stems(rest) - language.stems(" ".join(language.question_words))
