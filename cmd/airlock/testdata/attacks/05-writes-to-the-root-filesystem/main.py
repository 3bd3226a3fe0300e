import os
for p in ["/etc/airlock-pwned", "/usr/airlock-pwned", "/airlock-pwned", "/.airlock/init", "/bin/sh", "/proc/sys/kernel/core_pattern",
          "/proc/sysrq-trigger", "/sys/kernel/uevent_helper", "/sys/fs/cgroup/airlock-pwned", "/etc/passwd"]:
    try:
        with open(p, "ab") as f:
            f.write(b"x")
        print("ALLOWED write", p)
    except OSError as e:
        print("blocked write", p, e.errno)
for d in ["/sys/fs/cgroup/memory/airlock-pwned", "/airlock-pwned-dir"]:
    try:
        os.mkdir(d)
        print("ALLOWED mkdir", d)
    except OSError as e:
        print("blocked mkdir", d, e.errno)
