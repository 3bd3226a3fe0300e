#!/bin/sh
read -r n
read -r line
sum=0
i=0
for x in $line; do
  [ "$i" -lt "$n" ] || break
  sum=$((sum + x))
  i=$((i + 1))
done
echo "$sum"
