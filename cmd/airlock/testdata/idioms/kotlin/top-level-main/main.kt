fun main() {
    val n = readLine()!!.trim().toInt()
    val xs = readLine()!!.trim().split(" ").map { it.toLong() }
    println(xs.take(n).sum())
}
