word = IO.gets("") |> String.trim()
IO.puts("OK #{word}")
