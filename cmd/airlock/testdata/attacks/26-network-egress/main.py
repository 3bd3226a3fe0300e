import socket, sys
print("IFACES", " ".join(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
targets = [("169.254.169.254", 80), ("1.1.1.1", 443), ("8.8.8.8", 53)] + [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[1:]]
for host, port in targets:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        print("CONNECTED", host, port)
    except OSError as e:
        print("blocked", host, port, e)
    finally:
        s.close()
try:
    print("RESOLVED", socket.getaddrinfo("example.com", 80)[0][4])
except OSError as e:
    print("no dns", e)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"\0" * 12, ("8.8.8.8", 53))
    u.settimeout(1)
    u.recvfrom(512)
    print("CONNECTED udp 8.8.8.8 53")
except OSError as e:
    print("blocked udp", e)
