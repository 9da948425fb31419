"""Scalar semantics: RV32IM arithmetic, loads and stores, branches, jumps, CSRs, ``halt``.

Registers hold unsigned 32-bit values; ``signed()`` reads one as two's complement. Memory holds
32-bit words; byte and halfword accesses read or rewrite the bytes of the word holding them,
little-endian (byte ``a`` is bits ``8 * (a % 4)`` up of the word at ``a - a % 4``).
"""

from __future__ import annotations

from runtime.ops.registry import semantics
from runtime.state import CSR_BASE, CSR_KIND, INSTRET, MASK, Halt, Trap, signed

# ---- register-register ----------------------------------------------------------------------


@semantics("add")
def add(s, rd, rs1, rs2):
    """rd = rs1 + rs2"""
    x = s.x
    x[rd] = (x[rs1] + x[rs2]) & MASK


@semantics("sub")
def sub(s, rd, rs1, rs2):
    """rd = rs1 - rs2"""
    x = s.x
    x[rd] = (x[rs1] - x[rs2]) & MASK


@semantics("sll")
def sll(s, rd, rs1, rs2):
    """rd = rs1 << (rs2 & 31)"""
    x = s.x
    x[rd] = (x[rs1] << (x[rs2] & 31)) & MASK


@semantics("slt")
def slt(s, rd, rs1, rs2):
    """rd = 1 if rs1 < rs2 (signed) else 0"""
    x = s.x
    x[rd] = int(signed(x[rs1]) < signed(x[rs2]))


@semantics("sltu")
def sltu(s, rd, rs1, rs2):
    """rd = 1 if rs1 < rs2 (unsigned) else 0"""
    x = s.x
    x[rd] = int(x[rs1] < x[rs2])


@semantics("xor")
def xor(s, rd, rs1, rs2):
    """rd = rs1 ^ rs2"""
    x = s.x
    x[rd] = x[rs1] ^ x[rs2]


@semantics("srl")
def srl(s, rd, rs1, rs2):
    """rd = rs1 >> (rs2 & 31), logical"""
    x = s.x
    x[rd] = x[rs1] >> (x[rs2] & 31)


@semantics("sra")
def sra(s, rd, rs1, rs2):
    """rd = rs1 >> (rs2 & 31), arithmetic"""
    x = s.x
    x[rd] = (signed(x[rs1]) >> (x[rs2] & 31)) & MASK


@semantics("or")
def or_(s, rd, rs1, rs2):
    """rd = rs1 | rs2"""
    x = s.x
    x[rd] = x[rs1] | x[rs2]


@semantics("and")
def and_(s, rd, rs1, rs2):
    """rd = rs1 & rs2"""
    x = s.x
    x[rd] = x[rs1] & x[rs2]


@semantics("mul")
def mul(s, rd, rs1, rs2):
    """rd = low 32 bits of rs1 * rs2"""
    x = s.x
    x[rd] = (x[rs1] * x[rs2]) & MASK


@semantics("mulh")
def mulh(s, rd, rs1, rs2):
    """rd = high 32 bits of rs1 * rs2, both signed"""
    x = s.x
    x[rd] = ((signed(x[rs1]) * signed(x[rs2])) >> 32) & MASK


@semantics("mulhsu")
def mulhsu(s, rd, rs1, rs2):
    """rd = high 32 bits of rs1 * rs2, rs1 signed, rs2 unsigned"""
    x = s.x
    x[rd] = ((signed(x[rs1]) * x[rs2]) >> 32) & MASK


@semantics("mulhu")
def mulhu(s, rd, rs1, rs2):
    """rd = high 32 bits of rs1 * rs2, both unsigned"""
    x = s.x
    x[rd] = (x[rs1] * x[rs2]) >> 32


def _div_signed(a: int, b: int) -> int:
    if b == 0:
        return -1
    if a == -(2**31) and b == -1:
        return a  # overflow: the dividend (RISC-V)
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


@semantics("div")
def div(s, rd, rs1, rs2):
    """rd = rs1 / rs2 signed, rounding toward zero; x / 0 = -1; -2**31 / -1 = -2**31"""
    x = s.x
    x[rd] = _div_signed(signed(x[rs1]), signed(x[rs2])) & MASK


@semantics("divu")
def divu(s, rd, rs1, rs2):
    """rd = rs1 / rs2 unsigned; x / 0 = 2**32 - 1"""
    x = s.x
    b = x[rs2]
    x[rd] = x[rs1] // b if b else MASK


@semantics("rem")
def rem(s, rd, rs1, rs2):
    """rd = rs1 % rs2 signed, with the sign of rs1; x % 0 = x; -2**31 % -1 = 0"""
    x = s.x
    a, b = signed(x[rs1]), signed(x[rs2])
    x[rd] = (a - b * _div_signed(a, b) if b else a) & MASK


@semantics("remu")
def remu(s, rd, rs1, rs2):
    """rd = rs1 % rs2 unsigned; x % 0 = x"""
    x = s.x
    b = x[rs2]
    x[rd] = x[rs1] % b if b else x[rs1]


# ---- register-immediate ---------------------------------------------------------------------


@semantics("addi")
def addi(s, rd, rs1, imm):
    """rd = rs1 + imm"""
    x = s.x
    x[rd] = (x[rs1] + imm) & MASK


@semantics("slti")
def slti(s, rd, rs1, imm):
    """rd = 1 if rs1 < imm (signed) else 0"""
    x = s.x
    x[rd] = int(signed(x[rs1]) < imm)


@semantics("sltiu")
def sltiu(s, rd, rs1, imm):
    """rd = 1 if rs1 < imm (both unsigned, imm sign-extended first) else 0"""
    x = s.x
    x[rd] = int(x[rs1] < (imm & MASK))


@semantics("xori")
def xori(s, rd, rs1, imm):
    """rd = rs1 ^ imm"""
    x = s.x
    x[rd] = (x[rs1] ^ imm) & MASK


@semantics("ori")
def ori(s, rd, rs1, imm):
    """rd = rs1 | imm"""
    x = s.x
    x[rd] = (x[rs1] | imm) & MASK


@semantics("andi")
def andi(s, rd, rs1, imm):
    """rd = rs1 & imm"""
    x = s.x
    x[rd] = x[rs1] & imm & MASK


@semantics("slli")
def slli(s, rd, rs1, shamt):
    """rd = rs1 << shamt"""
    x = s.x
    x[rd] = (x[rs1] << shamt) & MASK


@semantics("srli")
def srli(s, rd, rs1, shamt):
    """rd = rs1 >> shamt, logical"""
    x = s.x
    x[rd] = x[rs1] >> shamt


@semantics("srai")
def srai(s, rd, rs1, shamt):
    """rd = rs1 >> shamt, arithmetic"""
    x = s.x
    x[rd] = (signed(x[rs1]) >> shamt) & MASK


def upper(imm: int) -> int:
    """``lui``'s value: ``imm << 12`` in 32 bits."""
    return (imm << 12) & MASK


@semantics("lui")
def lui(s, rd, imm):
    """rd = imm << 12"""
    s.x[rd] = upper(imm)


@semantics("auipc")
def auipc(s, pc, rd, imm):
    """rd = pc + (imm << 12)"""
    s.x[rd] = (pc + (imm << 12)) & MASK


# ---- memory ---------------------------------------------------------------------------------


def _load_part(s, addr: int, nbytes: int) -> int:
    """The ``nbytes`` (1 or 2) bytes at ``addr``, zero-extended; a halfword is 2-aligned."""
    addr &= MASK
    if addr & (nbytes - 1):
        raise Trap(f"misaligned halfword address {addr:#010x}")
    shift = 8 * (addr & 3)
    return (s.mem.load_word(addr & ~3) >> shift) & ((1 << 8 * nbytes) - 1)


def _store_part(s, addr: int, nbytes: int, value: int) -> None:
    """Write the low ``nbytes`` (1 or 2) bytes of ``value`` at ``addr`` (a halfword 2-aligned),
    keeping the other bytes of the word."""
    addr &= MASK
    if addr & (nbytes - 1):
        raise Trap(f"misaligned halfword address {addr:#010x}")
    shift, mask = 8 * (addr & 3), (1 << 8 * nbytes) - 1
    word = s.mem.load_word(addr & ~3)
    s.mem.store_word(addr & ~3, (word & ~(mask << shift) & MASK) | ((value & mask) << shift))


@semantics("lb")
def lb(s, rd, offset, rs1):
    """rd = mem8[rs1 + offset], sign-extended"""
    v = _load_part(s, s.x[rs1] + offset, 1)
    s.x[rd] = (v - ((v & 0x80) << 1)) & MASK


@semantics("lh")
def lh(s, rd, offset, rs1):
    """rd = mem16[rs1 + offset], sign-extended (2-aligned)"""
    v = _load_part(s, s.x[rs1] + offset, 2)
    s.x[rd] = (v - ((v & 0x8000) << 1)) & MASK


@semantics("lbu")
def lbu(s, rd, offset, rs1):
    """rd = mem8[rs1 + offset], zero-extended"""
    s.x[rd] = _load_part(s, s.x[rs1] + offset, 1)


@semantics("lhu")
def lhu(s, rd, offset, rs1):
    """rd = mem16[rs1 + offset], zero-extended (2-aligned)"""
    s.x[rd] = _load_part(s, s.x[rs1] + offset, 2)


@semantics("sb")
def sb(s, rs2, offset, rs1):
    """mem8[rs1 + offset] = low 8 bits of rs2"""
    _store_part(s, s.x[rs1] + offset, 1, s.x[rs2])


@semantics("sh")
def sh(s, rs2, offset, rs1):
    """mem16[rs1 + offset] = low 16 bits of rs2 (2-aligned)"""
    _store_part(s, s.x[rs1] + offset, 2, s.x[rs2])



@semantics("lw")
def lw(s, rd, offset, rs1):
    """rd = mem32[rs1 + offset] (4-aligned)"""
    x = s.x
    x[rd] = s.mem.load_word((x[rs1] + offset) & MASK)


@semantics("sw")
def sw(s, rs2, offset, rs1):
    """mem32[rs1 + offset] = rs2 (4-aligned)"""
    x = s.x
    s.mem.store_word((x[rs1] + offset) & MASK, x[rs2])


# ---- control --------------------------------------------------------------------------------


@semantics("beq")
def beq(s, pc, rs1, rs2, offset):
    """if rs1 == rs2: pc = pc + offset"""
    if s.x[rs1] == s.x[rs2]:
        return s.jump(pc + offset)


@semantics("bne")
def bne(s, pc, rs1, rs2, offset):
    """if rs1 != rs2: pc = pc + offset"""
    if s.x[rs1] != s.x[rs2]:
        return s.jump(pc + offset)


@semantics("blt")
def blt(s, pc, rs1, rs2, offset):
    """if rs1 < rs2 (signed): pc = pc + offset"""
    if signed(s.x[rs1]) < signed(s.x[rs2]):
        return s.jump(pc + offset)


@semantics("bge")
def bge(s, pc, rs1, rs2, offset):
    """if rs1 >= rs2 (signed): pc = pc + offset"""
    if signed(s.x[rs1]) >= signed(s.x[rs2]):
        return s.jump(pc + offset)


@semantics("bltu")
def bltu(s, pc, rs1, rs2, offset):
    """if rs1 < rs2 (unsigned): pc = pc + offset"""
    if s.x[rs1] < s.x[rs2]:
        return s.jump(pc + offset)


@semantics("bgeu")
def bgeu(s, pc, rs1, rs2, offset):
    """if rs1 >= rs2 (unsigned): pc = pc + offset"""
    if s.x[rs1] >= s.x[rs2]:
        return s.jump(pc + offset)


@semantics("jal")
def jal(s, pc, rd, offset):
    """rd = pc + 4; pc = pc + offset"""
    target = s.jump(pc + offset)
    s.x[rd] = pc + 4
    return target


@semantics("jalr")
def jalr(s, pc, rd, offset, rs1):
    """rd = pc + 4; pc = (rs1 + offset) & ~1"""
    target = s.jump((s.x[rs1] + offset) & MASK & ~1)
    s.x[rd] = pc + 4
    return target


@semantics("halt")
def halt(s):
    """stop the machine (``ecall`` is this word too)"""
    raise Halt


@semantics("ebreak")
def ebreak(s):
    """breakpoint: no debugger, so the run stops with a trap"""
    raise Trap("ebreak: a breakpoint, and the machine has no debugger to enter")


@semantics("fence")
def fence(s):
    """no effect: one instruction at a time, in order"""


# ---- configuration registers ----------------------------------------------------------------


def _read_csr(s, csr: int) -> int:
    if csr == INSTRET:
        return sum(s.hits) & MASK
    if csr - CSR_BASE not in CSR_KIND:
        raise Trap(f"unknown CSR {csr:#x}")
    return s.csr[csr - CSR_BASE]


def _write_csr(s, csr: int, value: int) -> None:
    if csr == INSTRET:
        raise Trap("CSR instret is read-only")
    if csr - CSR_BASE not in CSR_KIND:
        raise Trap(f"unknown CSR {csr:#x}")
    s.write_csr(csr - CSR_BASE, value)


@semantics("csrrw")
def csrrw(s, rd, csr, rs1):
    """rd = csr; csr = rs1"""
    value = s.x[rs1]
    old = _read_csr(s, csr)
    _write_csr(s, csr, value)
    s.x[rd] = old


@semantics("csrrs")
def csrrs(s, rd, csr, rs1):
    """rd = csr; csr = csr | rs1 (no write when rs1 is x0)"""
    value = s.x[rs1]
    old = _read_csr(s, csr)
    if rs1:
        _write_csr(s, csr, old | value)
    s.x[rd] = old


@semantics("csrrwi")
def csrrwi(s, rd, csr, imm):
    """rd = csr; csr = imm (0..31)"""
    old = _read_csr(s, csr)
    _write_csr(s, csr, imm)
    s.x[rd] = old


@semantics("csrrc")
def csrrc(s, rd, csr, rs1):
    """rd = csr; csr = csr & ~rs1 (no write when rs1 is x0)"""
    value = s.x[rs1]
    old = _read_csr(s, csr)
    if rs1:
        _write_csr(s, csr, old & ~value)
    s.x[rd] = old


@semantics("csrrsi")
def csrrsi(s, rd, csr, imm):
    """rd = csr; csr = csr | imm (no write when imm is 0)"""
    old = _read_csr(s, csr)
    if imm:
        _write_csr(s, csr, old | imm)
    s.x[rd] = old


@semantics("csrrci")
def csrrci(s, rd, csr, imm):
    """rd = csr; csr = csr & ~imm (no write when imm is 0)"""
    old = _read_csr(s, csr)
    if imm:
        _write_csr(s, csr, old & ~imm)
    s.x[rd] = old


@semantics("cfgi")
def cfgi(s, csr, imm):
    """csr = imm (0..131071)"""
    _write_csr(s, csr, imm)


# ---- straight-line instructions (runtime/dispatch.py) -----------------------------------------

#: Instructions that never trap, jump or read ``instret``, whatever their operands: the
#: dispatcher may run a run of them as one step of its loop.
STRAIGHT = frozenset({
    "add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and", "mul", "mulh",
    "mulhsu", "mulhu", "div", "divu", "rem", "remu", "addi", "slti", "sltiu", "xori", "ori",
    "andi", "slli", "srli", "srai", "lui", "auipc", "fence"})


def straight(mnemonic: str, args: tuple[int, ...]) -> bool:
    """True when the instruction ``mnemonic`` with operands ``args`` never traps, jumps or
    reads ``instret``: one of :data:`STRAIGHT`, or ``cfgi`` of a writable CSR."""
    if mnemonic == "cfgi":
        return writable(args[0])
    return mnemonic in STRAIGHT


def writable(csr: int) -> bool:
    """Whether ``csr`` is a CSR an instruction may write."""
    return csr != INSTRET and csr - CSR_BASE in CSR_KIND
