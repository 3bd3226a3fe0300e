word = input().strip()
print("OK " + word)
