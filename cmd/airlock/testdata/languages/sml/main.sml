val word =
  case TextIO.inputLine TextIO.stdIn of
      SOME line => String.translate (fn #"\n" => "" | c => String.str c) line
    | NONE => "";
val () = print ("OK " ^ word ^ "\n");
