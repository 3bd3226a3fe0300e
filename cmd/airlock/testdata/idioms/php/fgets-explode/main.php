<?php
$n = (int) trim(fgets(STDIN));
$nums = array_map('intval', explode(' ', trim(fgets(STDIN))));
echo array_sum(array_slice($nums, 0, $n)), PHP_EOL;
