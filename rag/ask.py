"""`python -m rag.ask "question" [--store DIR] [--k N] [--json] [--llm DIR] [--embedder DIR] [--batch FILE]`"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import rag.offline  # noqa: F401
from rag.cli import run_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from rag.settings import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python -m rag.ask",
        description="Ask your documents. Answers quote the cited page verbatim, or say the documents do not "
                    "contain the answer. Without a question: an interactive session.")
    parser.add_argument("question", nargs="?", help="the question (omit for an interactive session)")
    add_common_flags(parser)
    parser.add_argument("--k", type=int, help="passages to retrieve (env RAG_K, default 4)")
    parser.add_argument("--llm", help="'default' (packaged Gemma 3 270M), a local Hugging Face model directory, "
                        "or an inference server openai+http(s)://HOST:PORT/v1 (env RAG_LLM; token in RAG_LLM_TOKEN)")
    parser.add_argument("--allow-remote-llm", action="store_true", default=None,
                        help="allow an --llm server outside loopback and private networks: questions and passages "
                        "then leave this machine (env RAG_ALLOW_REMOTE_LLM=1)")
    parser.add_argument("--mode", choices=["auto", "extractive", "written"],
                        help="extractive: a span or quote of one sentence; written: the model writes a short answer "
                        "whose every sentence is verified against a quote, dropped if it fails; auto (default): "
                        "written with a chat/instruct model or an inference server, else extractive (env RAG_MODE)")
    parser.add_argument("--stream", action="store_true",
                        help="show a written answer as it is written, marking each sentence verified or dropped")
    parser.add_argument("--in", dest="within", action="append", default=[], metavar="PATH",
                        help="answer only from documents under this folder, or this file, of the collection "
                        "(as ingested, e.g. policies/ or policies/leave.pdf; repeatable)")
    parser.add_argument("--no-warm", dest="warm", action="store_false", default=None,
                        help="answer in this process, not through the warm assistant that a one-shot question "
                        "otherwise starts or reuses (env RAG_WARM=off; it stops after RAG_WARM_IDLE seconds, "
                        "default 600, or with python -m rag.warm stop)")
    parser.add_argument("--json", action="store_true", help="one JSON object per answer (schema in README)")
    parser.add_argument("--batch", metavar="FILE", help="questions, one per line or JSONL with a 'question' "
                        "field; writes one JSON object per line")
    args = parser.parse_args(argv)
    if args.question is not None and not args.question.strip():
        parser.error("the question is empty")
    if args.k is not None and args.k < 1:
        parser.error("--k must be at least 1")
    return args


def read_batch(path: str) -> list[str]:
    from rag.errors import UsageError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read --batch file {path}: {exc.strerror}") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                line = str(json.loads(line)["question"])
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"{path}:{number}: a JSON line needs a 'question' field") from None
        questions.append(line)
    return questions


def show(answer, as_json: bool) -> None:
    if as_json:
        print(answer.to_json(), flush=True)
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        style = "italic yellow" if answer.abstained else "bold"
        console = Console(highlight=False)
        console.print(f"[{style}]{escape(answer.answer)}[/]")
        for line in answer.render_text().splitlines()[1:]:
            console.print(escape(line))
    else:
        print(answer.render_text(), flush=True)


def stream(assistant, question: str, within: list[str], as_json: bool, conversation=None) -> None:
    """A written answer as it comes: each sentence once the model has written it, marked verified or dropped (on
    stderr), then the answer as `show` prints it. JSON: one object per event, the last one the answer."""
    from rag import language as languages
    from rag.written import markers

    say = languages.of(question, assistant.settings.lang).say
    for event in (conversation or assistant).stream(question, within=within):
        if as_json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        elif event.kind == "kept":
            print(f"[{say('written.kept_mark')}] {event.data.shown()}", file=sys.stderr, flush=True)
        elif event.kind == "dropped":
            print(f"[{say('written.dropped_mark')}] {event.data.text} {markers(event.data.citations)} "
                  f"({event.data.code}: {event.data.reason})", file=sys.stderr, flush=True)
        elif event.kind == "answer":
            show(event.data, False)


def interactive(assistant, as_json: bool, within: list[str], streaming: bool = False) -> int:
    """One conversation: a follow-up ("And for part-time staff?") is answered as the question it means; /new starts
    anew. The history lives in this process's memory only."""
    print("Ask about your documents; follow-up questions build on the previous ones (/new starts a new "
          "conversation; empty line or Ctrl-D to quit).", file=sys.stderr)
    conversation = assistant.conversation()
    while True:
        try:
            question = input("? " if sys.stdin.isatty() else "").strip()  # piped: output stays one JSON per line
        except EOFError:
            return 0
        if not question:
            return 0
        if question == "/new":
            conversation.reset()
            print("New conversation.", file=sys.stderr)
        elif streaming:
            stream(assistant, question, within, as_json, conversation)
        else:
            show(conversation.ask(question, within=within), as_json)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rag.settings import settings_from_args

    warnings.formatwarning = lambda message, *rest: f"warning: {message}\n"
    settings = settings_from_args(args)
    questions = read_batch(args.batch) if args.batch else None
    if questions is None and args.question is not None and not args.stream:
        from rag import warm

        reply = warm.ask(settings, args.question, args.within)
        if reply is not None:
            show(reply, args.json)
            return 0
    from rag.api import Assistant

    with Assistant.open(settings=settings) as assistant:
        if questions is not None:
            for question in questions:
                show(assistant.ask(question, within=args.within), as_json=True)
            return 0
        if args.question is None:
            return interactive(assistant, args.json, args.within, args.stream)
        if args.stream:
            stream(assistant, args.question, args.within, args.json)
        else:
            show(assistant.ask(args.question, within=args.within), args.json)
    return 0


if __name__ == "__main__":
    run_main(main)
