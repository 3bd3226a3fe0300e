n = 0
try:
    with open("big", "wb") as f:
        while True:
            f.write(b"x" * (1 << 20))
            f.flush()
            n += 1
except OSError as e:
    print("stopped", n, e.errno)
