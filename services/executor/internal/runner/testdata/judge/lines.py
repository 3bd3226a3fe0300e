# A line comparator: the lines must be equal, ignoring trailing whitespace on
# each line and trailing blank lines.
import sys

def lines(path):
    ls = [l.rstrip() for l in open(path, "rb").read().split(b"\n")]
    while ls and not ls[-1]:
        ls.pop()
    return ls

out, ans = lines(sys.argv[2]), lines(sys.argv[3])
for i, want in enumerate(ans):
    got = out[i] if i < len(out) else None
    if got != want:
        sys.stderr.write(f"line {i + 1}: expected {want[:40]!r}, found {got if got is None else got[:40]!r}\n")
        sys.exit(1)
if len(out) > len(ans):
    sys.stderr.write(f"{len(out) - len(ans)} extra lines\n")
    sys.exit(1)
sys.stderr.write(f"{len(ans)} lines\n")
