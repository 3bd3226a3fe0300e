#!/bin/bash
read -r n
read -r -a nums
sum=0
for ((i = 0; i < n; i++)); do
  (( sum += nums[i] ))
done
echo "$sum"
