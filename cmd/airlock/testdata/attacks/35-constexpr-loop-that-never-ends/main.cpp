constexpr long f() {
	long s = 0;
	for (long i = 0; i < 200000; i++)
		for (long j = 0; j < 200000; j++) s += i ^ j;
	return s;
}
constexpr long v = f();
int main() { return v & 1; }
