"""Counter-based random draws: each is a hash of a seed and a position.

No draw depends on the thread count or on the order of evaluation, and the CPU and GPU
kernels draw the same values from the same seed. SplitMix64's finaliser gives 64 bits
per position: enough for the regrowth draws of evolution on the GPU, and for the
per-unit keys of dropout. Dropout needs a draw for every activation of every batch, so
each of those is a 32-bit hash of its unit's key and its sample, compiled for the
CPU's vector units (see :func:`keeps_vectorised`).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["DROPOUT_BITS", "SEED_BOUND", "keep_threshold", "keeps", "keeps_vectorised",
           "mix64", "uniform", "unit_key"]

_GOLDEN64 = 0x9E3779B97F4A7C15
_GOLDEN32 = 0x9E3779B9
#: lowbias32's multipliers (C. Wellons, "Hash function prospector", 2018): a 32-bit
#: hash whose output bits each flip with probability close to one half for any input
#: bit flipped.
_LOWBIAS32 = (0x7FEB352D, 0x846CA68B)
#: The seeds of these draws (one per layer and batch for dropout, per layer and step
#: for the GPU's regrowth) are drawn from numpy below this bound.
SEED_BOUND = np.iinfo(np.int64).max
#: Bits of a dropout draw: a unit is kept where its draw is below ``keep * 2**24``.
DROPOUT_BITS = 24
_MASK32 = np.uint64(0xFFFFFFFF)


@njit(inline="always")
def mix64(seed, n):
    """SplitMix64's finaliser of ``seed + n * golden``: 64 random bits per ``n``."""
    h = seed + np.uint64(n) * np.uint64(_GOLDEN64)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(inline="always")
def uniform(seed, j, b, batch):
    """A uniform draw in [0, 1), 24 bits, for cell ``(j, b)`` of a grid ``batch`` wide."""
    h = mix64(seed, np.uint64(j) * np.uint64(batch) + np.uint64(b))
    return np.float64(h >> np.uint64(40)) * (1.0 / 16777216.0)


@njit(inline="always")
def unit_key(seed, j):
    """The key of unit ``j``'s dropout draws in the pass with ``seed``."""
    return np.uint32(mix64(seed, j) >> np.uint64(32))


@njit(inline="always")
def keep_threshold(keep):
    """The draw below which :func:`keeps` keeps a unit with probability ``keep``."""
    return np.int64(keep * (1 << DROPOUT_BITS))


@njit(inline="always")
def keeps(key, b, threshold):
    """Whether sample ``b`` of the unit with ``key`` is kept: the top 24 bits of
    lowbias32(``key + b * golden``), below ``threshold``.

    In 64-bit integers masked to 32 bits, which every target compiles (the GPU's
    kernels, numba's simulator); the CPU's kernels use :func:`keeps_vectorised`.
    """
    h = (np.uint64(key) + np.uint64(b) * np.uint64(_GOLDEN32)) & _MASK32
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(_LOWBIAS32[0])) & _MASK32
    h = ((h ^ (h >> np.uint64(15))) * np.uint64(_LOWBIAS32[1])) & _MASK32
    h = h ^ (h >> np.uint64(16))
    return np.int64(h >> np.uint64(32 - DROPOUT_BITS)) < threshold


@intrinsic
def keeps_vectorised(typingctx, key, b, threshold):
    """:func:`keeps` in 32-bit LLVM IR, for the CPU.

    Numba widens integer arithmetic to 64 bits, and LLVM then vectorises the hash in
    four 64-bit lanes with emulated multiplies instead of eight 32-bit lanes: the
    dropout pass over a 3000 x 32 layer took 140 us on one thread that way, and 31 us
    in 32 bits.
    """
    if not all(isinstance(t, types.Integer) for t in (key, b, threshold)):
        return None
    signature = types.boolean(key, b, threshold)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        key, b, threshold = (builder.trunc(value, i32) if value.type.width > 32
                             else builder.zext(value, i32) if value.type.width < 32
                             else value for value in args)

        def constant(value):
            return ir.Constant(i32, value)

        h = builder.add(key, builder.mul(b, constant(_GOLDEN32)))
        for multiplier, shift in zip(_LOWBIAS32, (16, 15), strict=True):
            h = builder.mul(builder.xor(h, builder.lshr(h, constant(shift))),
                            constant(multiplier))
        h = builder.xor(h, builder.lshr(h, constant(16)))
        return builder.icmp_signed("<", builder.lshr(h, constant(32 - DROPOUT_BITS)),
                                   threshold)

    return signature, codegen
