defmodule Solution do
  def main do
    [n | xs] =
      IO.read(:stdio, :all)
      |> String.split()
      |> Enum.map(&String.to_integer/1)

    xs |> Enum.take(n) |> Enum.sum() |> IO.puts()
  end
end

Solution.main()
