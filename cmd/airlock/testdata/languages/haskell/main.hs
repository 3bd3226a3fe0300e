main :: IO ()
main = do
  word <- getLine
  putStrLn ("OK " ++ word)
