CREATE TABLE input(line TEXT);
.import /dev/stdin input
WITH RECURSIVE
  nums(rest, x, k) AS (
    SELECT (SELECT line FROM input WHERE rowid = 2) || ' ', NULL, 0
    UNION ALL
    SELECT substr(rest, instr(rest, ' ') + 1),
           CAST(substr(rest, 1, instr(rest, ' ') - 1) AS INTEGER),
           k + 1
    FROM nums
    WHERE rest <> ''
  )
SELECT sum(x) FROM nums
WHERE k BETWEEN 1 AND (SELECT CAST(line AS INTEGER) FROM input WHERE rowid = 1);
