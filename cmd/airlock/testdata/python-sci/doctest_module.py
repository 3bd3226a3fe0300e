# doctest (standard library): examples in docstrings, checked at run time.
import doctest


def fib(k):
    """
    >>> [fib(i) for i in range(8)]
    [0, 1, 1, 2, 3, 5, 8, 13]
    """
    a, b = 0, 1
    for _ in range(k):
        a, b = b, a + b
    return a


n = int(input())
failed, attempted = doctest.testmod()
assert failed == 0 and attempted == 1 and fib(n) == 13
print("OK doctest", attempted)
