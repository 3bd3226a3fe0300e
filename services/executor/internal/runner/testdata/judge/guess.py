# Guess the number: the hidden number is in input.txt; the program asks
# "? x" and gets "<" (the number is smaller), ">" or "=", at most 20 times,
# then answers "! x". Exit codes as a checker's: 0 right, 1 wrong, 2 a
# malformed line, 3 a broken input.
import sys

try:
    n = int(open(sys.argv[1]).read().split()[0])
except (ValueError, IndexError):
    sys.stderr.write("input.txt holds no number\n")
    sys.exit(3)
for asked in range(21):
    line = sys.stdin.buffer.readline()
    if not line:
        sys.stderr.write(f"the program stopped after {asked} questions\n")
        sys.exit(1)
    parts = line.split()
    if len(parts) != 2 or parts[0] not in (b"?", b"!") or not parts[1].lstrip(b"-").isdigit():
        sys.stderr.write(f"malformed line {line[:40]!r}\n")
        sys.exit(2)
    x = int(parts[1])
    if parts[0] == b"!":
        open(sys.argv[2], "w").write(f"{x} after {asked} questions\n")
        if x != n:
            sys.stderr.write(f"answered {x}, the number was {n}\n")
            sys.exit(1)
        sys.stderr.write(f"found {n} in {asked} questions\n")
        sys.exit(0)
    if asked == 20:
        break
    print("<" if n < x else ">" if n > x else "=", flush=True)
sys.stderr.write("more than 20 questions\n")
sys.exit(1)
