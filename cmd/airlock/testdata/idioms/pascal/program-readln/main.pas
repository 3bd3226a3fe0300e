program Sum;

var
  n, i: Integer;
  x, total: Int64;

begin
  ReadLn(n);
  total := 0;
  for i := 1 to n do
  begin
    Read(x);
    total := total + x;
  end;
  WriteLn(total);
end.
