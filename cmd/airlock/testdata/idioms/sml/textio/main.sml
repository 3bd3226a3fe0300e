fun readLine () =
  case TextIO.inputLine TextIO.stdIn of
      SOME line => line
    | NONE => ""

fun toInt s = valOf (Int.fromString s)

val n = toInt (readLine ())
val xs = map toInt (String.tokens Char.isSpace (readLine ()))
val total = foldl op+ 0 (List.take (xs, n))
val () = print (Int.toString total ^ "\n")
