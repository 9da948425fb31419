# two_tiles.s: a two-layer network split over two tiles, with a send between them.
#
# Layer 1 runs on array 0 (tile 0) and leaves h = x @ W1 in tile 0's buffer. `send` moves h to
# tile 1's buffer, where layer 2 runs on the first array of tile 1 (array ARRAYS_PER_TILE) and
# writes y = h @ W2 back to global memory. The barrier marks the hand-over between tiles.
# Ideal DAC/ADC (the `ideal` chip: `imcc run samples/asm/two_tiles.s`), so the result is exact:
#
#   x = [1, 2, 3]   W1 = [[1, 1], [0, 2], [3, 0]]   h = [10, 5]
#                   W2 = [[1, 0, 2], [1, 1, 0]]     y = [15, 5, 20]
.equ ARRAYS_PER_TILE, 8     # the sample chips have 8 arrays per tile
.equ TILE0_BUF, 0x80000000
.equ TILE1_BUF, 0x81000000
.output "y", y, [1, 3]

.text
    cfgi wfmt, 0
    cfgi xbrow, 0
    cfgi xbcol, 0
    # program layer 1 on array 0 (tile 0)
    cfgi xbarr, 0
    cfgi xbh, 3
    cfgi xbw, 2
    li   x5, W1
    wprog x5
    # program layer 2 on the first array of tile 1
    cfgi xbarr, ARRAYS_PER_TILE
    cfgi xbh, 2
    cfgi xbw, 3
    li   x5, W2
    wprog x5
infer:
    cfgi vl, 1
    cfgi ibits, 0
    cfgi adcb, 0
    # layer 1 on tile 0: h (tile 0 buffer) = x @ W1
    cfgi xbarr, 0
    cfgi xbh, 3
    cfgi xbw, 2
    li   x6, x
    li   x7, TILE0_BUF
    mvm  x7, x6
    # move h to tile 1
    li   x8, TILE1_BUF
    li   x9, 2
    send x8, x7, x9
    barrier
    # layer 2 on tile 1: y (global) = h @ W2
    cfgi xbarr, ARRAYS_PER_TILE
    cfgi xbh, 2
    cfgi xbw, 3
    li   x10, y
    mvm  x10, x8
    halt

.rerun infer

.data
x:  .float 1, 2, 3
y:  .zero 12

.weights
W1: .u8 1, 1, 0, 2, 3, 0
W2: .u8 1, 0, 2, 1, 1, 0
