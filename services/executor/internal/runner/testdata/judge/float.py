# A float comparator: numbers match within 1e-6, absolute or relative. A
# token that is not a number is a presentation error (2); a broken answer is
# the problem's fault (3).
import math
import sys

def numbers(path, bad):
    try:
        toks = open(path, "rb").read().split()
        vals = [float(t) for t in toks]
    except ValueError as e:
        sys.stderr.write(f"{path}: {str(e)[:80]}\n")
        sys.exit(bad)
    if any(math.isnan(v) or math.isinf(v) for v in vals):
        sys.stderr.write(f"{path}: not a finite number\n")
        sys.exit(bad)
    return vals

out, ans = numbers(sys.argv[2], 2), numbers(sys.argv[3], 3)
if len(out) != len(ans):
    sys.stderr.write(f"expected {len(ans)} numbers, found {len(out)}\n")
    sys.exit(1 if len(out) > len(ans) else 8)
for i, (x, y) in enumerate(zip(out, ans)):
    if abs(x - y) > 1e-6 and abs(x - y) > 1e-6 * max(abs(x), abs(y)):
        sys.stderr.write(f"number {i + 1}: expected {y}, found {x}\n")
        sys.exit(1)
sys.stderr.write(f"{len(ans)} numbers within 1e-6\n")
