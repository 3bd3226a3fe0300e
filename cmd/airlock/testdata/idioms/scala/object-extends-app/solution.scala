object Solution extends App {
  val lines = scala.io.Source.stdin.getLines().toList
  val n = lines.head.trim.toInt
  println(lines(1).trim.split("\\s+").take(n).map(_.toLong).sum)
}
