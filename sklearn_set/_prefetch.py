"""A software prefetch for the CPU kernels: a hint, which changes no result.

The forward pass reads one row of its input per connection, and the backward pass
one row of ``delta``, at rows that follow no pattern the hardware's prefetchers can
learn. While the array fits in the core's L2 cache that costs little; a wider one (a
first layer over thousands of features, a layer of thousands of outputs) waits on
the shared L3 cache for almost every row. Asking for the rows a few connections
ahead lets those waits overlap.
"""

from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["PREFETCH_MIN_BYTES", "PREFETCH_AHEAD", "lookahead_for", "prefetch_row"]

#: Arrays of fewer bytes than this are read without prefetching: they stay in L2,
#: where a prefetch only costs its instruction (half the L2 of the Zen 3 cores
#: measured; docs/speed.md, "Prefetching a wide input's rows").
PREFETCH_MIN_BYTES = 1 << 18
#: How many connections ahead the kernels ask for the rows they will read.
PREFETCH_AHEAD = 8

#: Cache lines asked for per row: 128 bytes, a row of 32 float32 samples, the
#: default batch. Longer rows bring their next lines through the hardware's own
#: adjacent-line prefetch.
_LINES = 2
_LINE_BYTES = 64
#: Whether LLVM reads every pointer as opaque (LLVM 17 on), so that the intrinsic is
#: ``llvm.prefetch.p0`` whatever llvmlite prints. Before, its name follows the pointer
#: type; untested there, so those versions go without the hint.
_OPAQUE_POINTERS = llvm_version_info[0] >= 17


def lookahead_for(rows):
    """How many connections ahead a kernel that reads ``rows`` at random should ask for
    them: :data:`PREFETCH_AHEAD` once the array outgrows L2, 0 (no hint) below."""
    return PREFETCH_AHEAD if rows.nbytes >= PREFETCH_MIN_BYTES else 0


@intrinsic
def prefetch_row(typingctx, rows, row):
    """Ask for the first cache lines of ``rows[row]`` (a 2-D array, of any layout) to be
    loaded into every cache level, for reading; no effect on any value. A prefetch
    never faults, so lines beyond a strided row's first element are harmless."""
    if not (isinstance(rows, types.Array) and rows.ndim == 2
            and isinstance(row, types.Integer)):
        return None
    signature = types.void(rows, row)

    def codegen(context, builder, signature, args):
        if not _OPAQUE_POINTERS:
            return context.get_dummy_value()
        array_type, row_type = signature.args
        array = context.make_array(array_type)(context, builder, args[0])
        index = context.cast(builder, args[1], row_type, types.intp)
        start = cgutils.get_item_pointer(context, builder, array_type, array,
                                         [index, context.get_constant(types.intp, 0)],
                                         wraparound=False)
        byte_pointer = ir.PointerType(ir.IntType(8))
        address = builder.bitcast(start, byte_pointer)
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0")
        read, keep_in_all_levels, data = (ir.Constant(i32, v) for v in (0, 3, 1))
        for line in range(_LINES):
            line_address = builder.gep(address, [ir.Constant(ir.IntType(64), line * _LINE_BYTES)])
            builder.call(prefetch, [line_address, read, keep_in_all_levels, data])
        return context.get_dummy_value()

    return signature, codegen
