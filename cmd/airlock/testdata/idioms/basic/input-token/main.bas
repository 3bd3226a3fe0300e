input "" n
line input "" l$
dim w$(1)
k = token(l$, w$(), " ")
s = 0
for i = 1 to n
  s = s + val(w$(i))
next i
print s
