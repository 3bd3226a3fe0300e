# A token comparator: the output's whitespace-separated tokens must equal
# the answer's. Too few tokens: unexpected end of file (8).
import sys

out = open(sys.argv[2], "rb").read().split()
ans = open(sys.argv[3], "rb").read().split()
for i, want in enumerate(ans):
    if i >= len(out):
        sys.stderr.write(f"token {i + 1}: expected {want!r}, found the end of the output\n")
        sys.exit(8)
    if out[i] != want:
        sys.stderr.write(f"token {i + 1}: expected {want!r}, found {out[i][:40]!r}\n")
        sys.exit(1)
if len(out) > len(ans):
    sys.stderr.write(f"{len(out) - len(ans)} extra tokens\n")
    sys.exit(1)
sys.stderr.write(f"{len(ans)} tokens\n")
