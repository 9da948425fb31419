.text
halt
.weights
w: .incbin "/etc/passwd"
v: .incbin "../../../etc/passwd"
u: .npy "\x00"
