loop: j loop
