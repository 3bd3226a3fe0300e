kill -KILL 1; kill -STOP 1; sleep 0.3; echo still here; exit 7
