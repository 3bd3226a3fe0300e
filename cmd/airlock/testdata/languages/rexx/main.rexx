parse pull word
say 'OK' strip(word)
