"""The choice of answer starts among label candidates, and the content repairs.

See :mod:`grader.segment` for the rules; this module holds the arithmetic: the
candidates (:class:`Node`), the dynamic programme over them (:meth:`Scorer.best_chain`),
the repairs by content (:meth:`Scorer.repair`) and the split of a file with no labels
at all (:meth:`Scorer.unlabelled`). Texts are compared through count vectors over the
questions' vocabulary, summed once per line and snapshotted at the positions where
answers may start or end, so the cost of a segment is one vector difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from grader.models import LabelSource

if TYPE_CHECKING:
    from grader.segment import Context, Line

# Weights of the programme (see the module docstring of grader.segment).
ECHO_BONUS = 2.5  # x how much the candidate's text copies its question's prompt
SAME_STYLE = 1.0  # consecutive picks labelled the same way
NEXT_NUMBER = 0.5  # consecutive picks naming consecutive questions
WEAKER_STYLE = 1.0  # x how much weaker a pick is than the previous one, in another style
EMPTY = -2.5  # nothing of the student's between this pick and the next
FIT = 3.0  # x (similarity to own question - best other), clipped to FIT_RANGE
FIT_RANGE = (-2.0, 1.5)
OTHER_PROMPT = -1.5  # per copy of another question's prompt inside the answer (max 3)
DUPLICATE = -1.0  # a number already used by an earlier label of the same style
ALT_LABEL = 2.5  # labels this strong may stand for another question when the content says so
STRONG = 3.0  # labels at least this strong are kept even when the chain skips them
MIN_SIM = 0.10  # content assignment: least similarity to the question
MARGIN = 0.05  # content assignment: least lead over the alternative
SWAP_MARGIN = 0.10  # two answers each this much closer to the other's question: swap
MAX_NODES, MAX_PRED, ALT_WINDOW = 600, 200, 400  # bounds on the work for huge files
STRICT_SIM, STRICT_TOKENS = 0.25, 8  # unlabelled text of a .py file: comments are no answers


@dataclass(frozen=True)
class Node:
    pos: int  # line index
    qi: int  # question index
    weight: float
    sig: tuple[object, ...]
    number: int
    via: LabelSource
    level: int  # heading level of the label (1-6), 7 bold, 0 plain
    strong: bool
    note: str = ""


@dataclass(frozen=True)
class Span:
    qi: int
    start: int
    end: int
    label: LabelSource
    note: str = ""


class Scorer:
    def __init__(self, lines: Sequence[Line], ctx: Context) -> None:
        self.lines = lines
        self.ctx = ctx
        self.nq = len(ctx.assignment.questions)
        n = len(lines)
        self._tok = np.zeros(n + 1, dtype=np.int64)  # prefix sums of content words
        np.cumsum([len(ln.toks) for ln in lines], out=self._tok[1:])
        # next boundary at or after each line: hard ones, and soft headings of level <= L
        self._next = np.full((8, n + 1), n, dtype=np.int64)
        for k in range(n - 1, -1, -1):
            self._next[:, k] = self._next[:, k + 1]
            ln = lines[k]
            if ln.hard:
                self._next[:, k] = k
            elif ln.soft:
                self._next[ln.soft:, k] = k
        self.nodes = self._nodes()
        if len(self.nodes) > MAX_NODES:  # a pathological file: keep the likeliest starts
            keep = sorted(self.nodes, key=lambda x: -x.weight)[:MAX_NODES]
            self.nodes = sorted(keep, key=lambda x: (x.pos, x.qi))
        self.bnd = [self._boundary(n.pos, n.level) for n in self.nodes]
        events = {0, len(lines)} | {n.pos for n in self.nodes} | set(self.bnd)
        events |= {k for k, ln in enumerate(lines) if ln.hard}
        self._snapshot(sorted(events))

    # ------------------------------------------------------------------ candidates
    def _nodes(self) -> list[Node]:
        nodes: list[Node] = []
        numbers = [q.number for q in self.ctx.assignment.questions]
        nested = self._nested()
        for k, ln in enumerate(self.lines):
            lab = ln.label
            if lab is not None and lab.number is not None and ln.qi >= 0:
                weight = lab.weight + ECHO_BONUS * ln.echo + (DUPLICATE if k in nested else 0.0)
                if ln.echo_of >= 0 and ln.echo_of != ln.qi:
                    other = self.ctx.assignment.questions[ln.echo_of]
                    note = (f"labelled {lab.number} but the question copied there is "
                            f"question {other.number}")
                    nodes.append(Node(k, ln.echo_of, 0.5 * lab.weight + ECHO_BONUS * ln.echo_top,
                                      lab.signature, other.number, "content", lab.level, False,
                                      note))
                    weight -= ECHO_BONUS
                elif lab.weight >= ALT_LABEL:
                    alt = self._content_alternative(k, lab.signature, lab.weight)
                    if alt is not None:
                        other = self.ctx.assignment.questions[alt]
                        nodes.append(Node(k, alt, 0.5 * lab.weight, lab.signature, other.number,
                                          "content", lab.level, False,
                                          f"labelled {lab.number} but its content answers "
                                          f"question {other.number}"))
                nodes.append(Node(k, ln.qi, weight, lab.signature, lab.number, "heading",
                                  lab.level, lab.weight >= STRONG))
            elif ln.label is None and ln.echo_of >= 0 and ln.out == "" and self._starts(k):
                nodes.append(Node(k, ln.echo_of, 1.0 + ECHO_BONUS * ln.echo, ("echo",),
                                  numbers[ln.echo_of], "content", 7, False,
                                  "no number; the question's text is copied before it"))
        return nodes

    def _content_alternative(self, k: int, sig: tuple[object, ...], weight: float) -> int | None:
        """The question the text under label line ``k`` (up to the next label like it, or as
        strong) clearly answers, when that is not the question its label names."""
        end = min(len(self.lines), k + ALT_WINDOW)
        for j in range(k + 1, end):
            ln = self.lines[j]
            if ln.hard or (ln.label is not None and (ln.label.signature == sig
                                                     or ln.label.weight >= weight)):
                end = j
                break
        if self._tokens(k, end) < 5:
            return None
        sims = self._span_sims(k, end)
        own = self.lines[k].qi
        best = int(np.argmax(sims))
        if best != own and sims[best] >= 2 * MIN_SIM and sims[best] - sims[own] >= 2 * MARGIN:
            return best
        return None

    def _nested(self) -> set[int]:
        """Label lines that look like items of a numbered list inside an answer.

        Per label style, a number not above the highest one seen so far repeats it: a list
        restarting at 1 inside an answer, and the items continuing that list, are marked.
        Copies of the questions (a list of the prompts) are not counted.
        """
        marked: set[int] = set()
        state: dict[tuple[object, ...], list[int]] = {}  # signature -> [max, run_last]
        stronger: dict[float, int] = {}  # label weight -> highest number seen with it
        for k, ln in enumerate(self.lines):
            lab = ln.label
            if lab is None or lab.number is None or (not ln.out and ln.echo_of >= 0):
                continue
            top, run = state.setdefault(lab.signature, [0, -1])
            # a stronger style's labels count too: "1." after "Q2" starts a list in answer 2
            top = max([top, *(m for w, m in stronger.items() if w > lab.weight)])
            n = lab.number
            if run >= 0 and n == run + 1:
                marked.add(k)
                state[lab.signature][1] = n
            elif n <= top:
                marked.add(k)
                state[lab.signature][1] = n if n == 1 else -1
            else:
                state[lab.signature] = [n, -1]
            stronger[lab.weight] = max(stronger.get(lab.weight, 0), n)
        return marked

    def _starts(self, k: int) -> bool:
        """An echo line opens an answer only if the line before is not one (a wrapped prompt)."""
        return k == 0 or self.lines[k - 1].echo_of != self.lines[k].echo_of

    def _boundary(self, pos: int, level: int) -> int:
        """Where an answer opened at ``pos`` by a label of heading ``level`` must end."""
        limit = level if 1 <= level <= 6 else 2
        return int(self._next[limit, pos + 1]) if pos + 1 <= len(self.lines) else pos + 1

    def _snapshot(self, events: list[int]) -> None:
        idx = self.ctx.index
        v = len(idx.vocab)
        self.ev = {p: i for i, p in enumerate(events)}
        self.C = np.zeros((len(events), v))
        self.O = np.zeros(len(events))
        self.T = np.zeros(len(events))
        self.E = np.zeros((len(events), self.nq))
        self.D = np.zeros((len(events), self.nq))  # projections on the profiles (linear)
        proj = idx.profiles * idx.idf  # column i: what one occurrence of word i adds
        run = np.zeros(v)
        dot = np.zeros(self.nq)
        oov = tok = 0
        echo = np.zeros(self.nq)
        e = 0
        for k in range(len(self.lines) + 1):
            while e < len(events) and events[e] == k:
                self.C[e], self.O[e], self.T[e], self.E[e] = run, oov, tok, echo
                self.D[e] = dot
                e += 1
            if k == len(self.lines):
                break
            ln = self.lines[k]
            for t in ln.toks:
                i = idx.vocab.get(t)
                if i is None:
                    oov += 1
                else:
                    run[i] += 1
                    dot += proj[:, i]
            tok += len(ln.toks)
            if ln.echo_of >= 0 and not ln.out:  # a copy of that question's prompt
                echo[ln.echo_of] += 1

    # ------------------------------------------------------------------ scoring
    def _seg_values(self, starts: np.ndarray, ends: np.ndarray, qis: np.ndarray) -> np.ndarray:
        """Value of the answers [start, end) to questions ``qis`` (one per row)."""
        a = np.array([self.ev[int(s)] for s in starts])
        b = np.array([self.ev[int(x)] for x in ends])
        counts = self.C[b] - self.C[a]
        sims = self.ctx.index.sims_from_counts(counts, self.O[b] - self.O[a],
                                               self.D[b] - self.D[a])
        rows = np.arange(len(qis))
        own = sims[rows, qis]
        masked = sims.copy()
        masked[rows, qis] = -1.0
        other = masked.max(axis=1) if self.nq > 1 else np.zeros(len(qis))
        fit = np.clip(FIT * (own - other), *FIT_RANGE)
        ntok = self.T[b] - self.T[a]
        value = np.where(ntok < 3, EMPTY, fit)
        echoes = self.E[b] - self.E[a]
        others = echoes.sum(axis=1) - echoes[rows, qis]
        return np.asarray(value + OTHER_PROMPT * np.minimum(others, 3))

    def best_chain(self) -> list[Span]:
        nodes = self.nodes
        if not nodes:
            return []
        n = len(nodes)
        pos = np.array([x.pos for x in nodes])
        qis = np.array([x.qi for x in nodes])
        nums = np.array([x.number for x in nodes])
        weights = np.array([x.weight for x in nodes])
        bnd = np.array(self.bnd)
        best = np.zeros(n)
        back = np.full(n, -1)
        for j in range(n):
            base = nodes[j].weight
            pred = np.nonzero((pos < pos[j]) & (qis < qis[j]))[0][-MAX_PRED:]
            best[j] = base
            if len(pred):
                ends = np.minimum(pos[j], bnd[pred])
                seg = self._seg_values(pos[pred], ends, qis[pred])
                same = np.array([nodes[i].sig == nodes[j].sig for i in pred], dtype=float)
                weaker = np.maximum(weights[pred] - nodes[j].weight, 0.0) * (1.0 - same)
                trans = (SAME_STYLE * same + NEXT_NUMBER * (nums[pred] + 1 == nums[j])
                         - WEAKER_STYLE * weaker)
                cand = best[pred] + seg + trans
                i = int(np.argmax(cand))
                if cand[i] > 0:
                    best[j] = base + cand[i]
                    back[j] = pred[i]
        final = best + self._seg_values(pos, bnd, qis)
        j = int(np.argmax(final))
        chain: list[int] = []
        while j >= 0:
            chain.append(j)
            j = int(back[j])
        chain.reverse()
        return self._spans([nodes[i] for i in chain])

    def _spans(self, chain: Sequence[Node]) -> list[Span]:
        spans = []
        for k, node in enumerate(chain):
            end = self._boundary(node.pos, node.level)
            if k + 1 < len(chain):
                end = min(end, chain[k + 1].pos)
            spans.append(Span(node.qi, node.pos, end, node.via, node.note))
        return spans

    # ------------------------------------------------------------------ repairs
    def repair(self, spans: list[Span]) -> list[Span]:
        spans = self._restore_strong(spans)
        spans = self._fill_gaps(spans)
        return self._swap(spans)

    def _restore_strong(self, spans: list[Span]) -> list[Span]:
        """Put back strong evidence the increasing-order chain had to skip.

        A strong label (``### Q3`` after ``### Q4``) or a copied prompt that names another
        question than its number takes its question from a much weaker pick, or from no
        pick, provided the answer it opens is not empty.
        """
        by_pos = {}
        for sp in spans:
            for x in self.nodes:
                if x.pos == sp.start and x.qi == sp.qi:
                    by_pos[x.pos] = x
        extra = sorted((x for x in self.nodes
                        if (x.strong and x.via == "heading") or x.note.startswith("labelled")),
                       key=lambda x: -x.weight)
        changed = False
        for x in extra:
            if x.pos in by_pos:
                continue
            cur = next((y for y in by_pos.values() if y.qi == x.qi), None)
            if cur is not None and (x.weight < cur.weight + 1.5 or
                                    (cur.strong and cur.via == "heading")):
                continue
            later = [p for p in by_pos if p > x.pos and (cur is None or p != cur.pos)]
            end = min([self._boundary(x.pos, x.level), *later])
            if self._tokens(x.pos, end) < 3:
                continue
            if cur is not None:
                del by_pos[cur.pos]
            by_pos[x.pos] = x
            changed = True
        if not changed:
            return spans
        return self._spans(sorted(by_pos.values(), key=lambda x: x.pos))

    def _tokens(self, start: int, end: int) -> int:
        return int(self._tok[end] - self._tok[start])

    def _fill_gaps(self, spans: list[Span]) -> list[Span]:
        taken = {s.qi for s in spans}
        out: list[Span] = []
        first = spans[0]
        before = [q for q in range(first.qi) if q not in taken]
        if before and first.start > 0:
            out += self._assign(0, first.start, None, before, taken)
        for k, sp in enumerate(spans):
            nxt = spans[k + 1].qi if k + 1 < len(spans) else self.nq
            gaps = [q for q in range(sp.qi + 1, nxt) if q not in taken] if nxt > sp.qi else []
            if gaps:
                out += self._assign(sp.start, sp.end, sp, gaps, taken)
            else:
                out.append(sp)
        return sorted(out, key=lambda s: s.start)

    def blocks(self, start: int, end: int) -> list[tuple[int, int]]:
        """Paragraph-like blocks of lines [start, end): split at blank lines, new text cells
        and boundaries (which belong to no block)."""
        out: list[tuple[int, int]] = []
        a = start
        for k in range(start, end + 1):
            if k == end or self.lines[k].hard:
                cut = True
            elif k == a:
                continue
            else:
                ln, prev = self.lines[k], self.lines[k - 1]
                cut = (not prev.text.strip() and bool(ln.text.strip())) or (
                    ln.chunk != prev.chunk and ln.kind == "text")
            if cut:
                if k > a and any(x.toks for x in self.lines[a:k]):
                    out.append((a, k))
                a = k + 1 if k < end and self.lines[k].hard else k
        return out

    def _block_sims(self, blocks: list[tuple[int, int]]) -> np.ndarray:
        idx = self.ctx.index
        rows = []
        for a, b in blocks:
            toks = [t for ln in self.lines[a:b] for t in ln.toks]
            vec, oov = idx.counts(toks)
            rows.append(idx.sims_from_counts(vec, float(oov)) if len(toks) >= 3
                        else np.zeros(self.nq))
        return np.array(rows).reshape(len(blocks), self.nq)

    def _assign(self, start: int, end: int, owner: Span | None, gaps: list[int],
                taken: set[int]) -> list[Span]:
        """Give blocks of [start, end) to unanswered questions they clearly match."""
        blocks = self.blocks(start, end)
        keep = [owner] if owner is not None else []
        if not blocks:
            return keep
        sims = self._block_sims(blocks)
        targets = ([owner.qi] if owner else []) + gaps
        states = _monotone(sims[:, targets], forced_first=owner is not None)
        result: list[Span] = []
        cur_q = owner.qi if owner else -1
        cur_start = start
        cur_label: LabelSource = owner.label if owner else "content"
        cur_note = owner.note if owner else ""
        for (a, _b), st in zip(blocks, states, strict=True):
            q = targets[st] if st >= 0 else -1
            if q == cur_q or q < 0:
                continue
            s = sims[blocks.index((a, _b))]
            prev = s[cur_q] if cur_q >= 0 else 0.0
            if s[q] < MIN_SIM or s[q] - prev < MARGIN or q in taken:
                continue
            if cur_q >= 0:
                result.append(Span(cur_q, cur_start, a, cur_label, cur_note))
            cur_q, cur_start, cur_label = q, a, "content"
            cur_note = "no label in front of it; placed by its content"
            taken.add(q)
        if cur_q >= 0:
            result.append(Span(cur_q, cur_start, end if owner else blocks[-1][1], cur_label,
                               cur_note))
        return result or keep

    def _span_sims(self, start: int, end: int) -> np.ndarray:
        idx = self.ctx.index
        vec, oov = idx.counts(t for ln in self.lines[start:end] for t in ln.toks)
        return np.asarray(idx.sims_from_counts(vec, float(oov)))

    def _swap(self, spans: list[Span]) -> list[Span]:
        if len(spans) < 2:
            return spans
        sims = [self._span_sims(s.start, s.end) for s in spans]
        out = list(spans)
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if self.lines[a.start].echo >= 0.5 or self.lines[b.start].echo >= 0.5:
                    continue  # the student copied the question: they answered that one
                gain_a = sims[i][b.qi] - sims[i][a.qi]
                gain_b = sims[j][a.qi] - sims[j][b.qi]
                if gain_a >= SWAP_MARGIN and gain_b >= SWAP_MARGIN:
                    qa = self.ctx.assignment.questions[a.qi].number
                    qb = self.ctx.assignment.questions[b.qi].number
                    out[i] = replace(a, qi=b.qi, label="content",
                                     note=f"labelled {qa} but its content answers {qb}")
                    out[j] = replace(b, qi=a.qi, label="content",
                                     note=f"labelled {qb} but its content answers {qa}")
                    sims[i], sims[j] = sims[j], sims[i]
        return out

    # ------------------------------------------------------------------ no labels
    def unlabelled(self, *, strict: bool = False) -> list[Span]:
        blocks = self.blocks(0, len(self.lines))
        if not blocks:
            return []
        sims = self._block_sims(blocks)
        if not strict and len(blocks) == self.nq:
            return [Span(q, a, b, "order", "no labels; answers taken in the order of the "
                                            "questions") for q, (a, b) in enumerate(blocks)]
        threshold = STRICT_SIM if strict else MIN_SIM
        states = _monotone(sims, forced_first=False, threshold=threshold)
        spans: list[Span] = []
        for (a, b), st in zip(blocks, states, strict=True):
            if st < 0:
                continue
            k = blocks.index((a, b))
            if strict and (sims[k, st] < STRICT_SIM or self._tokens(a, b) < STRICT_TOKENS):
                continue
            if spans and spans[-1].qi == st:
                spans[-1] = replace(spans[-1], end=b)
            else:
                spans.append(Span(st, a, b, "content", "no labels; placed by its content"))
        return spans


def _monotone(sims: np.ndarray, *, forced_first: bool, threshold: float = MIN_SIM,
              switch: float = 0.02) -> list[int]:
    """Non-decreasing assignment of blocks (rows) to targets (columns), -1 = none yet."""
    nb, nt = sims.shape
    if nb == 0 or nt == 0:
        return [-1] * nb
    neg = -1e9
    # state 0 = none (only before any target), 1..nt = target index + 1
    val = np.full((nb, nt + 1), neg)
    back = np.zeros((nb, nt + 1), dtype=int)
    for b in range(nb):
        empty = not sims[b].any()
        score = np.concatenate([[threshold], sims[b]])
        if empty:
            score = np.zeros(nt + 1)
        for s in range(nt + 1):
            if b == 0:
                if forced_first and s != 1:
                    continue
                val[b, s] = score[s]
                continue
            options = [val[b - 1, s]]
            idx = [s]
            if s >= 1:
                for p in range(s):
                    options.append(val[b - 1, p] - switch)
                    idx.append(p)
            k = int(np.argmax(options))
            val[b, s] = options[k] + score[s]
            back[b, s] = idx[k]
    s = int(np.argmax(val[-1]))
    states = [0] * nb
    for b in range(nb - 1, -1, -1):
        states[b] = s
        s = int(back[b, s])
    return [x - 1 for x in states]


def build_scorer(lines: Sequence[Line], ctx: Context) -> Scorer:
    return Scorer(lines, ctx)
