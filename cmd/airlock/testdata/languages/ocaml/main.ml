let () =
  let word = String.trim (input_line stdin) in
  print_endline ("OK " ^ word)
