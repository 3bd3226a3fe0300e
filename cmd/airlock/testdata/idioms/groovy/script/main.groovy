def reader = System.in.newReader()
int n = reader.readLine() as int
def xs = reader.readLine().tokenize().collect { it as long }
println xs.take(n).sum()
