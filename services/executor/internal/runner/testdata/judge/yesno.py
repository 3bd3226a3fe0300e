# A yes/no comparator: one YES or NO, in any case. Anything else is a
# presentation error.
import sys

out = open(sys.argv[2], "rb").read().split()
ans = open(sys.argv[3], "rb").read().split()
if len(ans) != 1 or ans[0].upper() not in (b"YES", b"NO"):
    sys.stderr.write("the answer is not YES or NO\n")
    sys.exit(3)
if len(out) != 1 or out[0].upper() not in (b"YES", b"NO"):
    sys.stderr.write(f"expected YES or NO, found {b' '.join(out)[:40]!r}\n")
    sys.exit(2)
if out[0].upper() != ans[0].upper():
    sys.stderr.write(f"expected {ans[0].decode()}, found {out[0].decode()}\n")
    sys.exit(1)
sys.stderr.write(f"{ans[0].decode().upper()}\n")
