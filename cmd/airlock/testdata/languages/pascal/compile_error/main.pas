program Main;
begin
  writeln(undefinedVariable);
end.
