<?php

fscanf(STDIN, "%d", $n);
$sum = 0;
$line = stream_get_line(STDIN, 1 << 20, "\n");
foreach (preg_split('/\s+/', trim($line)) as $i => $x) {
    if ($i >= $n) {
        break;
    }
    $sum += (int) $x;
}
printf("%d\n", $sum);
