.weights
.u8 1
.align 0x40000000
.text
halt
