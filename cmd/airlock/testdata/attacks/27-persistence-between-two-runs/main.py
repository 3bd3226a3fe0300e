import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for d in ["/tmp", "/dev/shm", "/work", "."]:
    try:
        open(os.path.join(d, "airlock-persist"), "w").write("x")
    except OSError as e:
        print("cannot write", d, e)
print("shm", libc.shmget(1095912523, 4096, 0o1666))
print("msg", libc.msgget(1095912523, 0o1666))
print("sem", libc.semget(1095912523, 1, 0o1666))
