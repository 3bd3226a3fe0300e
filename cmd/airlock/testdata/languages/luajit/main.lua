local word = io.read("*l")
print("OK " .. word)
