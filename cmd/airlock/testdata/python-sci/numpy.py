# NumPy: linear algebra, broadcasting, a seeded random generator.
import numpy as np

n = int(input())
a = np.arange(1, n * n + 1, dtype=float).reshape(n, n) + np.eye(n) * n * n
x = np.linalg.solve(a, np.ones(n))
assert np.allclose(a @ x, np.ones(n))
assert (np.arange(3)[:, None] + np.arange(3)).sum() == 18
rng = np.random.default_rng(42)
assert rng.integers(0, 10, size=5).shape == (5,)
print("OK numpy", np.__version__)
