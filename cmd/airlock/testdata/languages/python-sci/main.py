# python-sci acceptance: every library of the image, imported and used.
import doctest
import unittest

import networkx as nx
import numpy as np
import pandas as pd
import scipy.optimize
import sympy

word = input().strip()

a = np.array([[2.0, 1.0], [1.0, 3.0]])
assert np.allclose(np.linalg.solve(a, [3.0, 5.0]), [0.8, 1.4])
root = scipy.optimize.brentq(lambda x: x * x - 2, 0, 2)
assert abs(root - 2 ** 0.5) < 1e-9
df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]})
assert df.groupby("k")["v"].sum().to_dict() == {"a": 4, "b": 2}
x = sympy.Symbol("x")
assert sympy.integrate(2 * x, (x, 0, 3)) == 9
g = nx.path_graph(4)
assert nx.shortest_path_length(g, 0, 3) == 3


def double(n):
    """
    >>> double(21)
    42
    """
    return 2 * n


assert doctest.testmod(verbose=False).failed == 0


class T(unittest.TestCase):
    def test_double(self):
        self.assertEqual(double(2), 4)


result = unittest.TextTestRunner(stream=open("/dev/null", "w"), verbosity=0).run(
    unittest.defaultTestLoader.loadTestsFromTestCase(T))
assert result.wasSuccessful()

print("OK", word)
