import scala.io.StdIn

object Main {
  def main(args: Array[String]): Unit = {
    val n = StdIn.readLine().trim.toInt
    val xs = StdIn.readLine().trim.split(" ").map(_.toLong)
    println(xs.take(n).sum)
  }
}
