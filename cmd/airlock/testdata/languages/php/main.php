<?php
$word = trim(fgets(STDIN));
echo "OK $word\n";
