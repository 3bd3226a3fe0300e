object Solution {
    @JvmStatic
    fun main(args: Array<String>) {
        readLine()
        val total = readLine()!!.split(' ').map(String::toLong).sum()
        println(total)
    }
}
