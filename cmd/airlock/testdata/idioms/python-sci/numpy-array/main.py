import sys

import numpy as np

n = int(sys.stdin.readline())
a = np.array(sys.stdin.readline().split(), dtype=np.int64)
print(int(a[:n].sum()))
