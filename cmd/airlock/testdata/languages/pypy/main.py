import sys
word = sys.stdin.readline().strip()
print("OK " + word)
