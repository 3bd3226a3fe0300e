# SciPy: optimisation, integration, sparse linear algebra, statistics.
import numpy as np
import scipy
from scipy import integrate, optimize, sparse, stats
from scipy.sparse.linalg import spsolve

n = int(input())
res = optimize.minimize(lambda v: (v[0] - 1) ** 2 + (v[1] + 2) ** 2, [0.0, 0.0])
assert np.allclose(res.x, [1, -2], atol=1e-4)
val, _ = integrate.quad(lambda t: t ** 2, 0, 3)
assert abs(val - 9) < 1e-9
m = sparse.diags([2.0] * n).tocsr()
assert np.allclose(spsolve(m, np.full(n, 4.0)), 2.0)
assert abs(stats.norm.cdf(0) - 0.5) < 1e-12
print("OK scipy", scipy.__version__)
