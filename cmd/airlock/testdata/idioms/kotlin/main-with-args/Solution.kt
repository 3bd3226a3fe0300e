import java.io.BufferedReader
import java.io.InputStreamReader

fun main(args: Array<String>) {
    val br = BufferedReader(InputStreamReader(System.`in`))
    val n = br.readLine().trim().toInt()
    val sum = br.readLine().split(" ").filter { it.isNotEmpty() }.take(n).map { it.toLong() }.sum()
    println(sum)
}
