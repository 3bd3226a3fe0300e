CREATE TABLE input(line TEXT);
.import /dev/stdin input
SELECT 'OK ' || line FROM input LIMIT 1;
