main :: IO ()
main = do
  _ <- getLine
  xs <- map read . words <$> getLine
  print (sum xs :: Integer)
