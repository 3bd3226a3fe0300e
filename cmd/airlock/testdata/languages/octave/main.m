word = strtrim(fgetl(stdin));
printf("OK %s\n", word);
