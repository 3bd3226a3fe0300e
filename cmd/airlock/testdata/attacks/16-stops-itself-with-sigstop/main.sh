kill -STOP $$
echo resumed
