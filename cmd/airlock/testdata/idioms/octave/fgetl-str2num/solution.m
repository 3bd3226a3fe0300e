n = str2double(fgetl(stdin));
values = str2num(fgetl(stdin));
disp(sum(values(1:n)))
