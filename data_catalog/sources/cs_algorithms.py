"""BIG-bench's ``cs_algorithms`` target, generated: ``lcs`` and ``valid_parentheses``.

Both subtasks are generated tasks with a known format, so they need no package: the prompts
follow BIG-bench's task files exactly (task prefix, example input prefix, output prefix), the
answers come from a longest-common-subsequence dynamic program and a stack checker, and the
proportions are BIG-bench's (320 LCS, 1,000 parentheses; 1,320 distinct examples). Seeded.
"""

from __future__ import annotations

import random
import string

LICENSE = "Apache-2.0 (format of BIG-bench cs_algorithms; examples generated here)"
N_LCS, N_PARENS = 320, 1000
LCS_PREFIX = "Given two strings, determine the length of the longest common subsequence.\n"
LCS_IN, LCS_OUT = "\nStrings: ", "\nLength of longest common subsequence:"
PARENS_PREFIX = "Determine whether the given sequence of parentheses is properly matched.\n"
PARENS_IN, PARENS_OUT = "\nSequence: ", "\nValid/Invalid?"
PARENS_LENGTHS = (4, 10, 20)
_PAIRS = {")": "(", "]": "[", "}": "{"}


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (the textbook O(len(a)·len(b)) program)."""
    prev = [0] * (len(b) + 1)
    for ch in a:
        cur = [0]
        for j, other in enumerate(b):
            cur.append(prev[j] + 1 if ch == other else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def is_balanced(symbols: list[str]) -> bool:
    """Whether a sequence of ``()[]{}`` symbols is properly matched (a stack checker)."""
    stack: list[str] = []
    for s in symbols:
        if s in "([{":
            stack.append(s)
        elif not stack or stack.pop() != _PAIRS[s]:
            return False
    return not stack


def _balanced(n: int, rng: random.Random) -> list[str]:
    """A random properly matched sequence of ``n`` (even) symbols."""
    out: list[str] = []
    stack: list[str] = []
    while len(out) < n:
        room = n - len(out)
        if stack and (room == len(stack) or rng.random() < 0.5):
            out.append({"(": ")", "[": "]", "{": "}"}[stack.pop()])
        else:
            opener = rng.choice("([{")
            stack.append(opener)
            out.append(opener)
    return out


def _parens_example(rng: random.Random) -> tuple[list[str], bool]:
    n = rng.choice(PARENS_LENGTHS)
    seq = _balanced(n, rng)
    if rng.random() < 0.5:
        return seq, True
    if rng.random() < 0.5:  # one symbol changed: near misses, the hard cases
        i = rng.randrange(n)
        seq[i] = rng.choice([s for s in "()[]{}" if s != seq[i]])
    else:
        seq = [rng.choice("()[]{}") for _ in range(n)]
    return seq, is_balanced(seq)


def cs_algorithms_examples(seed: int = 0) -> list[dict[str, str]]:
    """1,320 distinct examples: 320 LCS, then 1,000 parentheses, each ``{prompt, completion}``."""
    rng = random.Random(f"cs_algorithms:{seed}")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(out) < N_LCS:
        a, b = ("".join(rng.choices(string.ascii_uppercase, k=rng.randint(4, 20))) for _ in "ab")
        prompt = f"{LCS_PREFIX}{LCS_IN}{a} {b}{LCS_OUT}"
        if prompt not in seen:
            seen.add(prompt)
            out.append({"prompt": prompt, "completion": f" {lcs_length(a, b)}"})
    while len(out) < N_LCS + N_PARENS:
        seq, valid = _parens_example(rng)
        prompt = f"{PARENS_PREFIX}{PARENS_IN}{' '.join(seq)}{PARENS_OUT}"
        if prompt not in seen:
            seen.add(prompt)
            out.append({"prompt": prompt, "completion": " Valid" if valid else " Invalid"})
    return out
