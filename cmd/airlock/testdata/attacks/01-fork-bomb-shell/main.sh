f() { f | f & }
f
sleep 2
echo done
