n = fscanf(stdin, "%d", 1);
x = fscanf(stdin, "%d", n);
printf("%d\n", sum(x));
