.data
buf: .zero 0x7fffffff
.text
halt
