"""One settings object for every entry point: defaults < `RAG_*` environment variables < CLI flags."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir

APP = "private-rag"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    store: str = "data/store"
    key_file: Path = field(default_factory=lambda: Path(user_config_dir(APP)) / "key")
    passphrase: str | None = field(default=None, repr=False)
    embedder: str = "default"
    query_prompt: str | None = None  # what the embedder puts before a question; None: the model's own
    passage_prompt: str | None = None  # ... before a passage
    lang: str = "auto"  # a document's language at ingest, a question's at ask; auto: detected
    llm: str = "default"
    collection: str = "default"  # one collection, or several joined by "," where a command reads several
    k: int = 4
    precision: str = "auto"
    cache_dir: Path = field(default_factory=lambda: Path(user_cache_dir(APP)))
    max_new_tokens: int = 32
    allow_remote_llm: bool = False  # questions may go to an inference server outside the private networks
    # Answers: "extractive" (a span or quote), "written" (verified sentences, rag/written.py), or "auto": written
    # with a chat/instruct model or an inference server, extractive with the packaged base model.
    mode: str = "auto"
    # A one-shot ask goes to the user's warm assistant (rag/warm.py), started on demand, stopped after idle seconds.
    warm: bool = True
    warm_idle: int = 600

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        base = cls(
            store=env.get("RAG_STORE", cls.store),
            key_file=Path(env["RAG_KEY_FILE"]).expanduser() if env.get("RAG_KEY_FILE")
            else Path(user_config_dir(APP)) / "key",
            passphrase=env.get("RAG_PASSPHRASE") or None,
            embedder=env.get("RAG_EMBEDDER", cls.embedder),
            query_prompt=env.get("RAG_QUERY_PROMPT"),
            passage_prompt=env.get("RAG_PASSAGE_PROMPT"),
            lang=env.get("RAG_LANG", cls.lang),
            llm=env.get("RAG_LLM", cls.llm),
            collection=env.get("RAG_COLLECTION", cls.collection),
            k=_env_int("RAG_K", cls.k),
            precision=env.get("RAG_PRECISION", cls.precision),
            cache_dir=Path(env["RAG_CACHE_DIR"]).expanduser() if env.get("RAG_CACHE_DIR")
            else Path(user_cache_dir(APP)),
            max_new_tokens=_env_int("RAG_MAX_NEW_TOKENS", cls.max_new_tokens),
            allow_remote_llm=env.get("RAG_ALLOW_REMOTE_LLM", "") in ("1", "true", "yes"),
            mode=env.get("RAG_MODE", cls.mode),
            warm=env.get("RAG_WARM", "on").lower() not in ("0", "off", "false", "no"),
            warm_idle=_env_int("RAG_WARM_IDLE", cls.warm_idle),
        )
        known = {f.name for f in fields(cls)}
        return replace(base, **{k: v for k, v in overrides.items() if k in known and v is not None})

    @property
    def store_is_url(self) -> bool:
        return "://" in self.store

    @property
    def llm_is_url(self) -> bool:
        return "://" in self.llm

    @property
    def collections(self) -> list[str]:
        return [name.strip() for name in self.collection.split(",") if name.strip()]


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command; each one overrides its `RAG_*` variable."""
    parser.add_argument("--store", help="store directory (env RAG_STORE, default data/store)")
    parser.add_argument("--key-file", type=Path, help="wrapping key file (env RAG_KEY_FILE); "
                        "or set RAG_PASSPHRASE to use a passphrase instead")
    parser.add_argument("--embedder", help="'default' (packaged MiniLM) or a local sentence-transformers "
                        "directory (env RAG_EMBEDDER)")
    parser.add_argument("--query-prompt", help="text the embedder puts before a question, for models such as E5 "
                        "('query: '); default: the model's own prompts (env RAG_QUERY_PROMPT)")
    parser.add_argument("--passage-prompt", help="text the embedder puts before a passage ('passage: '); "
                        "default: the model's own (env RAG_PASSAGE_PROMPT)")
    parser.add_argument("--lang", help="language code of the documents (ingest) or questions (ask), e.g. en, fr; "
                        "default auto: detected per document and per question (env RAG_LANG)")
    parser.add_argument("--collection", help="collection NAME, or NAME,NAME,... where a command reads several "
                        "(env RAG_COLLECTION, default 'default')")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"],
                        help="numeric precision (env RAG_PRECISION; auto: the embedder runs int8 where "
                        "the CPU has AVX2 and the int8 graph passes its quality check, the generator bf16 "
                        "only where the CPU has native bf16, else fp32)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(**vars(args))
