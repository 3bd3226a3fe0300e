fun main() {
    val word = readLine()!!.trim()
    println("OK $word")
}
