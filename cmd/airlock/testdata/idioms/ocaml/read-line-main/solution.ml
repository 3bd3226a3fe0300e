let main () =
  let n = int_of_string (String.trim (read_line ())) in
  let xs =
    read_line ()
    |> String.split_on_char ' '
    |> List.filter (fun s -> s <> "")
    |> List.map int_of_string
  in
  let rec take k = function
    | [] -> []
    | x :: rest -> if k = 0 then [] else x :: take (k - 1) rest
  in
  print_int (List.fold_left ( + ) 0 (take n xs));
  print_newline ()

let () = main ()
