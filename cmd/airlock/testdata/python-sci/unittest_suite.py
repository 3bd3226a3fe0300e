# unittest (standard library): a suite run by the program itself.
import sys
import unittest

n = int(input())


class Arithmetic(unittest.TestCase):
    def test_square(self):
        self.assertEqual(n * n, 49)

    def test_raises(self):
        with self.assertRaises(ZeroDivisionError):
            1 / 0


result = unittest.main(argv=["main"], exit=False, verbosity=0).result
if not result.wasSuccessful():
    sys.exit(1)
print("OK unittest", result.testsRun)
