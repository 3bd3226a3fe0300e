import os
n = 0
try:
    while True:
        os.close(os.open("f%d" % n, os.O_CREAT | os.O_WRONLY, 0o600))
        n += 1
except OSError as e:
    print("files", n, e.errno)
