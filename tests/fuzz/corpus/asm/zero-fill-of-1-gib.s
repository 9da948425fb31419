.data
.zero 0x40000000
.text
halt
