#!/bin/ksh
read -r n
read -r -A nums
typeset -i sum=0 i=0
while (( i < n )); do
  (( sum += nums[i] ))
  (( i++ ))
done
print "$sum"
