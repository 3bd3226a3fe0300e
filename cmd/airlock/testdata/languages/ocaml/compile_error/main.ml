let () = print_endline undefined_variable
