import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for d in ["/tmp", "/dev/shm", "/work", "."]:
    if os.path.exists(os.path.join(d, "airlock-persist")):
        print("FOUND file in", d)
if libc.shmget(1095912523, 0, 0) >= 0: print("FOUND shm")
if libc.msgget(1095912523, 0) >= 0: print("FOUND msg")
if libc.semget(1095912523, 0, 0) >= 0: print("FOUND sem")
if os.path.exists("/tmp/daemon-alive"): print("FOUND daemon")
print("checked")
