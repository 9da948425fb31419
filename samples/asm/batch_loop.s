# batch_loop.s: a loop over a batch, 8-bit bit-serial inputs, and digital post-processing.
#
# For each of the 4 vectors x[i] (length 4): h = x[i] @ W on array 1 with inputs quantized to
# 8 unsigned bits applied one bit per cycle (bit-serial DAC) and an ideal ADC; then the digital
# unit computes y[i] = relu(h * 0.5 - 10). The loop counter lives in x10; x11/x12 walk the
# input and output rows. The quantization step (iscale) is 1.0, so integer inputs are exact.
# The ideal ADC (adcb = 0) needs the `ideal` chip: `imcc run samples/asm/batch_loop.s` prints y.
#
#   W = [[1, 0], [0, 1], [1, 1], [2, 3]]
#   x = [[1, 2, 3, 4], [0, 0, 0, 0], [10, 10, 10, 10], [5, 0, 5, 0]]
#   h = [[12, 17], [0, 0], [40, 50], [10, 5]]
#   y = [[0, 0], [0, 0], [10, 15], [0, 0]]
.equ N, 4                   # batch
.equ K, 4                   # input length
.equ M, 2                   # output length
.output "y", y, [4, 2]

.text
    cfgi xbarr, 1
    cfgi xbh, K
    cfgi xbw, M
    cfgi wfmt, 0
    li   x5, W
    wprog x5
    cfgi vl, 1              # one vector per mvm
    cfgi ibits, 8           # 8-bit unsigned inputs...
    cfgi isgn, 0
    cfgi dacb, 1            # ...applied one bit per cycle
    li   x5, %f32(1.0)
    csrw iscale, x5
    cfgi adcb, 0
    li   x10, N             # loop counter
    li   x11, x
    li   x12, y
    li   x13, h
    li   x14, half
    li   x15, ten
    vsetli M                # digital ops work on M contiguous elements
loop:
    mvm   x13, x11          # h = x[i] @ W
    cfgi  sb5, 0            # B operand (a scalar) is broadcast: stride 0
    vmul  x13, x13, x14     # h *= 0.5
    vsub  x13, x13, x15     # h -= 10
    vrelu x12, x13          # y[i] = relu(h)
    cfgi  sb5, 1
    addi  x11, x11, 4*K     # next input row (bytes)
    addi  x12, x12, 4*M     # next output row
    addi  x10, x10, -1
    bnez  x10, loop
    halt

.data
x:    .float 1, 2, 3, 4
      .float 0, 0, 0, 0
      .float 10, 10, 10, 10
      .float 5, 0, 5, 0
y:    .zero 4*N*M
h:    .zero 4*M
half: .float 0.5
ten:  .float 10

.weights
W:  .u8 1, 0
    .u8 0, 1
    .u8 1, 1
    .u8 2, 3
