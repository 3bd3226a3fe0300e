# SymPy: solving, calculus, simplification.
import sympy
from sympy import Rational, diff, integrate, simplify, sin, solve, symbols

n = int(input())
x = symbols("x")
assert sorted(solve(x ** 2 - n * n, x)) == [-n, n]
assert diff(sin(x) * x, x) == sin(x) + x * sympy.cos(x)
assert integrate(x ** 2, (x, 0, 3)) == 9
assert simplify((x ** 2 - 1) / (x - 1)) == x + 1
assert Rational(1, 3) + Rational(1, 6) == Rational(1, 2)
print("OK sympy", sympy.__version__)
