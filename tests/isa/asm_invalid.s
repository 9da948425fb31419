# Negative assembler cases. Cases are separated by "# -----". Each case is assembled on its own
# as "case.s"; the "# CHECK:" lines give the exact diagnostics it must print, in order.
# -----
addi x1,, x2
# CHECK: case.s:1:9: error: unexpected ','; expected an operand
# CHECK:     addi x1,, x2
# CHECK:             ^
# -----
  addx x1, x2, x3
# CHECK: case.s:1:3: error: unknown instruction 'addx'
# CHECK:       addx x1, x2, x3
# CHECK:       ^~~~
# CHECK:     hint: did you mean 'add'?
# -----
addi x1, x2
# CHECK: case.s:1:1: error: addi takes 3 operand(s) (rd, rs1, imm), got 2
# CHECK:     addi x1, x2
# CHECK:     ^~~~~~~~~~~
# -----
add x1, x2, 7
# CHECK: case.s:1:13: error: expected a register (x0..x31)
# CHECK:     add x1, x2, 7
# CHECK:                 ^
# -----
addi x1, x0, 5000
# CHECK: case.s:1:14: error: field 'imm_i': value 5000 doesn't fit in 12 signed bits, range -2048..2047 (instruction addi)
# CHECK:     addi x1, x0, 5000
# CHECK:                  ^~~~
# -----
cfgi vl, 200000
# CHECK: case.s:1:10: error: field 'kimm': value 200000 doesn't fit in 17 bits, range 0..131071 (instruction cfgi)
# CHECK:     cfgi vl, 200000
# CHECK:              ^~~~~~
# -----
loop: nop
      beq x1, x2, lopp
# CHECK: case.s:2:19: error: undefined symbol 'lopp'
# CHECK:           beq x1, x2, lopp
# CHECK:                       ^~~~
# CHECK:     hint: did you mean 'loop'?
# -----
a: nop
a: nop
# CHECK: case.s:2:1: error: symbol 'a' is already defined (first at line 1)
# CHECK:     a: nop
# CHECK:     ^
# -----
cfgi vll, 1
# CHECK: case.s:1:6: error: unknown CSR 'vll'
# CHECK:     cfgi vll, 1
# CHECK:          ^~~
# CHECK:     hint: did you mean 'vl'?
# -----
csrw instret, x1
# CHECK: case.s:1:6: error: CSR 'instret' is read-only
# CHECK:     csrw instret, x1
# CHECK:          ^~~~~~~
# -----
lw x1, x2
# CHECK: case.s:1:8: error: expected a memory operand offset(reg) for lw
# CHECK:     lw x1, x2
# CHECK:            ^~
# -----
beq x1, x2, . + 3
# CHECK: case.s:1:13: error: field 'imm_b': value 3 is not a multiple of 2 (instruction beq)
# CHECK:     beq x1, x2, . + 3
# CHECK:                 ^~~~~
# -----
.data
addi x1, x1, 1
# CHECK: case.s:2:1: error: instruction 'addi' outside .text (in .data)
# CHECK:     addi x1, x1, 1
# CHECK:     ^~~~
# -----
.wrod 1
# CHECK: case.s:1:1: error: unknown directive '.wrod'
# CHECK:     .wrod 1
# CHECK:     ^~~~~
# CHECK:     hint: did you mean '.word'?
# -----
.weights
.npy "missing.npy"
# CHECK: case.s:2:6: error: no such file 'missing.npy'
# CHECK:     .npy "missing.npy"
# CHECK:          ^~~~~~~~~~~~~
# -----
.weights
.incbin "../../etc/passwd"
# CHECK: case.s:2:9: error: '../../etc/passwd' is outside the source's folder
# CHECK:     .incbin "../../etc/passwd"
# CHECK:             ^~~~~~~~~~~~~~~~~~
# CHECK:     hint: put the file next to the .s file and name it relatively
# -----
.equ A, B + 1
.equ B, A
# CHECK: case.s:2:9: error: symbol 'A' is defined in terms of itself
# CHECK:     .equ B, A
# CHECK:             ^
# -----
li x1, 1.5
# CHECK: case.s:1:8: error: expected an integer, got a floating-point number
# CHECK:     li x1, 1.5
# CHECK:            ^~~
# CHECK:     hint: use %f32(x) for the bits of a float
# -----
.weights
.u8 1, 300
# CHECK: case.s:2:8: error: value 300 doesn't fit in .u8 (0..255)
# CHECK:     .u8 1, 300
# CHECK:            ^~~
# -----
addi x1, x0, 99999
foo bar baz
mvm x1
# CHECK: case.s:1:14: error: field 'imm_i': value 99999 doesn't fit in 12 signed bits, range -2048..2047 (instruction addi)
# CHECK:     addi x1, x0, 99999
# CHECK:                  ^~~~~
# CHECK: case.s:2:9: error: unexpected 'baz'; expected ',' or end of line
# CHECK:     foo bar baz
# CHECK:             ^~~
# CHECK: case.s:3:1: error: mvm takes 2 operand(s) (rd, rs1), got 1
# CHECK:     mvm x1
# CHECK:     ^~~~~~
# -----
.data
s: .string "ok\x4"
# CHECK: case.s:2:12: error: invalid escape in string: truncated \xXX escape
# CHECK:     s: .string "ok\x4"
# CHECK:                ^~~~~~~
# -----
.input "\udc00", x, [1]
# CHECK: case.s:1:8: error: invalid escape in string: surrogates not allowed
# CHECK:     .input "\udc00", x, [1]
# CHECK:            ^~~~~~~~
# -----
li x1, 0x_1
# CHECK: case.s:1:9: error: unexpected 'x_1'; expected ',' or end of line
# CHECK:     li x1, 0x_1
# CHECK:             ^~~
# -----
.data
a: .float 1e40
b: .float 1e400
# CHECK: case.s:2:11: error: value 1e+40 is beyond float32's range (about +-3.4e38)
# CHECK:     a: .float 1e40
# CHECK:               ^~~~
# CHECK: case.s:3:11: error: float literal out of range; write inf for infinity
# CHECK:     b: .float 1e400
# CHECK:               ^~~~~
# -----
    li x5, 0x100000000
# CHECK: case.s:1:12: error: value 4294967296 doesn't fit in 32 bits
# CHECK:         li x5, 0x100000000
# CHECK:                ^~~~~~~~~~~
# -----
.input "x", 0, 5
# CHECK: case.s:1:16: error: .input expects a shape like [1, 3, 32, 32] ([] for a scalar)
# CHECK:     .input "x", 0, 5
# CHECK:                    ^
# -----
.output "y", 0, [2], float128
# CHECK: case.s:1:22: error: .output element type must be one of float32, float16, float64, int64, int32, int16, int8, uint64, uint32, uint16, uint8, bool, i32bits, u32bits, bfloat16, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz, float8_e8m0fnu, float4_e2m1fn, int4, uint4, int2, uint2
# CHECK:     .output "y", 0, [2], float128
# CHECK:                          ^~~~~~~~
# -----
ADDI x1, x0, 1
# CHECK: case.s:1:1: error: unknown instruction 'ADDI'
# CHECK:     ADDI x1, x0, 1
# CHECK:     ^~~~
# CHECK:     hint: mnemonics are lower case: 'addi'
# -----
addi sp, sp, -16
# CHECK: case.s:1:6: error: expected a register (x0..x31)
# CHECK:     addi sp, sp, -16
# CHECK:          ^~
# CHECK:     hint: registers are x0..x31: 'sp' is x2 (ABI names are not taken)
# CHECK: case.s:1:10: error: expected a register (x0..x31)
# CHECK:     addi sp, sp, -16
# CHECK:              ^~
# CHECK:     hint: registers are x0..x31: 'sp' is x2 (ABI names are not taken)
# -----
lw X5, 0(a0)
# CHECK: case.s:1:4: error: expected a register (x0..x31)
# CHECK:     lw X5, 0(a0)
# CHECK:        ^~
# CHECK:     hint: registers are lower case: 'x5'
# CHECK: case.s:1:10: error: expected a base register (x0..x31), got 'a0'
# CHECK:     lw X5, 0(a0)
# CHECK:              ^~
# CHECK:     hint: registers are x0..x31: 'a0' is x10 (ABI names are not taken)
# -----
    j table
.data
table: .word 1
# CHECK: case.s:1:7: error: branch or jump target 'table' is a .data label, not code
# CHECK:         j table
# CHECK:           ^~~~~
# CHECK:     hint: branches and jumps go to labels in .text
# -----
cfgi iscale, 5
# CHECK: case.s:1:14: error: cfgi iscale, 5: CSR 'iscale' holds float32 bits, and a 17-bit immediate is the denormal 7.00649e-45
# CHECK:     cfgi iscale, 5
# CHECK:                  ^
# CHECK:     hint: write a float with li + csrw: li x5, %f32(0.5); csrw iscale, x5
