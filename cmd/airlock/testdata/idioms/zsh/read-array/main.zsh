#!/usr/bin/env zsh
read -r n
read -r -A nums
integer sum=0
for x in ${nums[1,n]}; do
  (( sum += x ))
done
print $sum
