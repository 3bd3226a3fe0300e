module Main where

solve :: String -> String
solve input = show (sum (take n xs)) ++ "\n"
  where
    (n : xs) = map read (words input) :: [Int]

main :: IO ()
main = interact solve
