# dot.s: a matrix-vector product on one crossbar array.
#
# Programs a 4x3 matrix of conductance levels into array 0, then streams two input vectors
# through it in one `mvm`. The DAC and ADC are ideal (ibits = 0, adcb = 0), so the result is the
# exact product y = x @ W. Ideal converters need the `ideal` chip (the default for a program
# without a .chip record): `imcc run samples/asm/dot.s` prints y below.
#
#   x = [[1, 0, 0, 1],        W = [[ 1,  2,  3],      y = [[11, 13, 15],
#        [1, 1, 1, 1]]             [ 4,  5,  6],           [22, 26, 30]]
#                                  [ 7,  8,  9],
#                                  [10, 11, 12]]
.equ ROWS, 4
.equ COLS, 3
.output "y", y, [2, 3]

.text
start:
    cfgi xbarr, 0           # array 0 (tile 0)
    cfgi xbrow, 0           # region: rows 0..3, columns 0..2
    cfgi xbcol, 0
    cfgi xbh, ROWS
    cfgi xbw, COLS
    cfgi wfmt, 0            # weight memory holds uint8 levels
    li   x5, W
    wprog x5                # program the region from weight memory
infer:
    cfgi vl, 2              # two input vectors
    cfgi xs, ROWS           # input row stride (elements)
    cfgi ys, COLS           # output row stride
    cfgi ibits, 0           # ideal DAC: inputs used as they are
    cfgi adcb, 0            # ideal ADC
    li   x6, x
    li   x7, y
    mvm  x7, x6             # y[m, :] = x[m, :] @ W
    halt

.rerun infer                # later runs on the same machine skip programming

.data
x:  .float 1, 0, 0, 1
    .float 1, 1, 1, 1
y:  .zero 24

.weights
W:  .u8 1, 2, 3
    .u8 4, 5, 6
    .u8 7, 8, 9
    .u8 10, 11, 12
