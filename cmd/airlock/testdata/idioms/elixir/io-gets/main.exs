n = IO.gets("") |> String.trim() |> String.to_integer()

IO.gets("")
|> String.split()
|> Enum.take(n)
|> Enum.map(&String.to_integer/1)
|> Enum.sum()
|> IO.puts()
