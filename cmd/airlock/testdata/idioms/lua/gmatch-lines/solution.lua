local n = tonumber(io.read("l"))
local sum, i = 0, 0
for x in io.read("l"):gmatch("%S+") do
  if i == n then break end
  sum = sum + tonumber(x)
  i = i + 1
end
print(sum)
