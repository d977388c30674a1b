"""IR -> Python source -> one compiled function per translation block.

The function a block becomes has the shape ``fn(q) -> next_fn``: ``q`` is the CPU
state buffer (uint64 words), the return value is the function to run next. So the
loop that runs guest code is only ``while not exit_request[0]: fn = fn(q)``.

* Globals the block touches are loaded into Python locals on entry and written back
  at each exit: inside the block guest registers cost what a local variable costs.
* ``goto_tb n`` returns ``J[n]``: the block's jump slot n, holding the successor's
  function once chained, or a stub that looks the successor up, patches the slot and
  runs it. A direct exit back to the block's own start becomes a ``while`` loop, so a
  hot loop runs without calls (it tests the exit request, the builtin XR of its
  namespace (runtime.ExitRequest), once per iteration).
* Single-use locals are inlined as sub-expressions; arithmetic is modulo 2**64 and
  masking is deferred to where a canonical value is needed.
* Value forms: a value is held either unsigned ("U", in [0, 2**64)), signed ("S", in
  [-2**63, 2**63)) or only congruent mod 2**64 ("L", inside expressions). The
  sign-extended results of RV64's W instructions and signed loads stay in S form, so
  a sign extension costs two operations instead of four and signed compares and
  arithmetic shifts take them as they are. A value known to lie in 32-bit signed
  range ("small") makes a further 32-bit sign extension free. Forms of registers are
  tracked through the block; where paths join with different forms the register is
  treated as L.
* Loops on themselves: an iteration loads and writes back only what it can have
  written (written before the last back-edge, or earlier in this iteration's text);
  expressions of registers the loop never writes, and such registers compared signed,
  are computed once before the loop. An iteration starts with the registers in the
  forms every back-edge leaves them in (the passes of generate() find them: U, or S
  where the loop keeps a register signed). Where the back-edges leave registers
  small (W results) but the state buffer cannot promise it, the first iteration is
  generated separately and the loop proper starts with them known small
  (peeled_loop): a W loop's sign extensions of its own results then cost nothing.
* Form Z (zform.py): in the loop proper of a peeled loop, registers holding W values
  that every use reads only in their low 32 bits (SHA-256's words) are held
  zero-extended, in [0, 2**32): a W result costs one mask, srliw one shift, and
  and/or/xor of such values need no mask and never see a negative int. Exits convert
  them (forms.u_of_z), and so does the fault handler (line_fo entries
  ``(index, name, 32)``).
* Indirect jumps (returns) look the target up in the block cache's dictionary FNS
  inline; only a miss calls LOOKUP. M-extension division is inline (intdiv.py).
* Demanded bits (demand.py): an extension whose result's uses read only bits it does
  not change is left out; locals read only in their low 32 bits stay unmasked.
* Guest accesses (memory.py): several accesses off one register value share one
  index computed from it ("base groups"), so each is a view subscript and a test.
* Constants are added in signed range (``x - 4``, not ``x + 0xff..fc``): CPython's
  arithmetic on one-digit integers is the fast path. (User mode keeps the guest's
  usual layout in its first GiB for the same reason: linux_user/mmap.py.)
* Conversions are compares where a compare does: a U value plus a small constant is
  canonical again with one compare and a rare correction (forms.canon), S and U
  forms convert with a compare (forms.u_of_s, s_of_u), and the sign extension of a
  sum of small values (a W instruction's) is the sum itself unless a compare says it
  wrapped (forms.ext32s_bounded). A wide mask allocates a new int; a compare of
  one-digit ints is specialized. A loop's invariant input to a 32-bit computation is
  narrowed once before the loop (arith.narrow), which makes such sums bounded. The
  temporary these expressions need is the walrus name ``_w``.
* Compares test one-digit bounds first (forms.SMALL, |v| < 2**30): CPython 3.11
  specializes only those, so the sign extension of an addw is "within +-SMALL" and
  then the mask only when that fails. Values that bit mixing made (xor, or, large
  shifts and products: forms.Expr.mixed, as hashing code computes) fill their range
  and go to the mask at once.
* D-extension arithmetic is inline on host floats (fpinline.py), with guest FP values
  held as floats between operations. In user mode bits and floats convert through
  the hart's pair of views of one 8-byte buffer (cpu_state.CONV), a store and a load.
* Cold blocks do not get here at first: user mode interprets a block's IR
  (interp.py) until it has run HOT_AFTER times (accel/tcg/tb_cache.py).
* Generated code is kept across runs (accel/tcg/tb_persist_python.py): the code
  object, marshalled, with its tables; everything else it uses it finds by name in
  the namespace the block cache gives it (runtime.py, memory views, J, FNS), so the
  next run of the same guest code binds it again without generating or compiling.
* A guest fault inside the block (a load outside the guest space raises IndexError, a
  helper raises) is caught once per block: the handler finds the guest instruction
  from the traceback's line number, writes the registers back as they were before that
  instruction, stores its pc, and re-raises for the loop to turn into a signal.
"""

from __future__ import annotations

from ...ir import COND_NAMES, Kind, Op, Temp
from . import fpinline
from .blockgen import BlockInfo, Generated, PythonCodegen
from .forms import _SIGNED, _SMALL, _meet
from .runtime import PC_INDEX, RUNTIME, fault  # noqa: F401 (re-exported)
from .zform import z_registers


def generate(ops: list[Op], info: BlockInfo, low: int, hmask: int,
             cls: type[PythonCodegen] = PythonCodegen) -> tuple[Generated, dict]:
    """The block's source; cls generates it (region.py's member generator)."""
    cg = cls(ops, info, low, hmask)
    gen = cg.generate()
    # Further passes start the loop with the registers each iteration leaves signed
    # already in S form (a register copied from one that became S becomes S in turn).
    signed: dict[Temp, str] = _invariant_signed(cg) if cg.self_loop else {}
    if signed:
        cg = cls(ops, info, low, hmask, signed)
        gen = cg.generate()
    for _ in range(3):
        if not (cg.self_loop and cg.backedge_forms):
            break
        more = {g: "S" for g in cg.globals if cg.backedge_forms.get(g, "U") in ("S", "Ss")}
        if more.keys() <= signed.keys():
            break
        signed.update(more)
        cg = cls(ops, info, low, hmask, signed)
        gen = cg.generate()
    # And with the FP registers each iteration leaves as host floats kept as floats
    # across the back-edge (fpinline.loop_floats).
    floats: frozenset[int] = frozenset()
    if cg.self_loop and cg.backedge_floats:
        floats = frozenset(cg.backedge_floats)
        cg = cls(ops, info, low, hmask, signed, floats)
        gen = cg.generate()
    if cg.self_loop and cls is PythonCodegen and not info.softmmu:
        peeled = peeled_loop(cg, signed, floats)
        if peeled is not None:
            gen = peeled[0]
            return _bound(gen, cls), peeled[1]
    return _bound(gen, cls), cg.helpers


def _bound(gen: Generated, cls: type[PythonCodegen]) -> Generated:
    """A block function with its conversion views bound (a region's member is part
    of the region's function, which binds them)."""
    if cls is not PythonCodegen:
        return gen
    gen.source, gen.line_pc, gen.line_fo = fpinline.bind_conversions(
        gen.source, gen.line_pc, gen.line_fo)
    return gen


# Forms a loop iteration may start with (an L value at the top could grow without
# bound over the iterations).
_TOP_FORMS = {"U", "Us", "S", "Ss", "Z"}


def _top_forms(forms: dict[Temp, str], floats: frozenset[int]) -> dict[Temp, str]:
    return {g: f for g, f in forms.items()
            if g.kind == Kind.GLOBAL and f in _TOP_FORMS and f != "U" and g.index not in floats}


def _gains(top: dict[Temp, str], entry: dict[Temp, str]) -> bool:
    """Whether the loop proper would start with some register known small that the
    first iteration does not know small."""
    return any((f in _SMALL or f == "Z") and entry.get(g) not in _SMALL
               for g, f in top.items())


def _cheaper(loop: list[str], plain: list[str]) -> bool:
    """Whether the loop proper has fewer masks than the plain loop: knowing a register
    small saves nothing unless some extension or conversion of it goes away (or
    becomes a compare: forms.ext32s_bounded). (A loop with Z registers is cheaper by
    construction: each of their W results costs one mask instead of a wrap.)"""
    return _masks(loop) < _masks(plain)


def _masks(lines: list[str]) -> int:
    return sum(line.count("& 0xf") for line in lines)


def peeled_loop(cg: PythonCodegen, entry: dict[Temp, str],
                floats: frozenset[int]) -> tuple[Generated, dict] | None:
    """The loop with its first iteration peeled off, when that lets the iterations
    start with registers known to be small (sign-extended 32-bit values).

    The first iteration starts with registers in the forms the state buffer gives
    (cg's entry forms); what its back-edges leave, typically the results of W
    instructions, is what the loop proper can assume at its top, as long as its own
    back-edges leave them so too: the forms are met over both until they hold. Then
    a 32-bit sign extension of such a register costs nothing in the loop. None when
    no register gains smallness (the loop stays as cg generated it)."""
    ops, info, low, hmask = cg.ops, cg.info, cg.low, cg.hmask
    if cg.backedge_forms is None:
        return None
    top = _top_forms(cg.backedge_forms, floats)
    zregs: frozenset[int] = frozenset()
    if cg.can_hoist:
        # Registers the loop may hold zero-extended (zform.py): W values whose uses
        # read their low 32 bits.
        zregs = z_registers(ops, {g.index for g in cg.globals if g.index in cg.loop_written},
                            cg.loop_end)
        for g in cg.globals:
            if g.index in zregs:
                top[g] = "Z"
    if not _gains(top, entry):
        return None  # (the forms only weaken from here: no pass can find a gain)
    main = None
    for _ in range(4):
        main = PythonCodegen(ops, info, low, hmask, top, floats, zregs=zregs)
        main_body = main.emit_body()
        met = _top_forms(_meet(top, main.backedge_forms or {}), floats)
        if met == top:
            break
        top = met
    else:
        return None
    if not _gains(top, entry) or not (zregs or _cheaper(main_body[0], cg.lines)):
        return None
    peel = PythonCodegen(ops, info, low, hmask, entry, floats, peel_to=top)
    gen = peel._assemble(*peel.emit_body())
    if peel.bad_backedge or main.bad_backedge:
        return None
    # The loop proper goes between the peeled iteration's loop (which it leaves by
    # "break") and the fault handler (the last three lines).
    lines = gen.source.split("\n")[:-1]
    cut = len(lines) - 3
    pc = info.pc
    head = [f"{name} = {text}" for text, name in main.hoisted.items()] + main.head_bases
    head.append("while True:")
    body, body_pcs = main_body
    in_floats = tuple(sorted((g.index, f"F_{g.name}") for g in main.entry_floats))
    new = ["        " + line for line in head] + ["    " + line for line in body]
    new_pcs = [pc] * len(head) + body_pcs
    new_fo = [in_floats] * len(head) + main.line_fo[len(main.line_fo) - len(body_pcs):]
    if zregs:
        # A fault in the loop proper publishes its Z registers sign-extended.
        zs = tuple((g.index, g.name, 32) for g in main.globals if g.index in zregs)
        new_fo = [fo + zs for fo in new_fo]
    source = "\n".join(lines[:cut] + new + lines[cut:]) + "\n"
    line_pc = gen.line_pc[:cut] + new_pcs + gen.line_pc[cut:]
    line_fo = gen.line_fo[:cut] + new_fo + gen.line_fo[cut:]
    helpers = {**peel.helpers, **main.helpers}
    return Generated(source, line_pc, writeback=gen.writeback, line_fo=line_fo), helpers


def _invariant_signed(cg: PythonCodegen) -> dict[Temp, str]:
    """Registers a loop never writes and mostly compares signed: converted to S form
    once on entry instead of at every comparison."""
    written = {g.index for g in cg.written}
    score: dict[Temp, int] = {}
    for op in cg.ops:
        signed = op.name in ("brcond", "setcond", "movcond") and op.aux[0] in _SIGNED
        for i, t in enumerate(op.ins):
            if t.kind == Kind.GLOBAL and t.index not in written and t.index in cg.loaded:
                score[t] = score.get(t, 0) + (1 if signed and i < 2 else -1)
    return {t: "S" for t, v in score.items() if v > 0}


__all__ = ["BlockInfo", "Generated", "PythonCodegen", "PC_INDEX", "generate", "fault",
           "COND_NAMES"]
