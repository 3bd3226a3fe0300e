object Main {
  def main(args: Array[String]): Unit = {
    val word = scala.io.StdIn.readLine().trim
    println("OK " + word)
  }
}
