import os, glob
print("KEYS", " ".join(sorted(os.environ)))
for p in ["/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline"] + glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
    try:
        print(p, open(p, "rb").read().replace(b"\0", b" "))
    except OSError as e:
        print(p, "unreadable", e.errno)
for p in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]:
    try:
        print(p, open(p).read())
    except OSError as e:
        print(p, "unreadable", e.errno)
