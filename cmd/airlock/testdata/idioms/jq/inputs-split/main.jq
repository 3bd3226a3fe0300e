[inputs] as [$n, $line]
| $line | split(" ") | map(select(. != "") | tonumber) | .[:($n | tonumber)] | add
